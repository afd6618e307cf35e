"""Shared fixtures: the fake provider on loopback and a real gateway server in front of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from sanic import Sanic

from gateway.container import Container, ContainerRuntime, build_container
from gateway.devtools.fake_provider import FakeProvider, start_fake_provider
from gateway.devtools.loopback import serving
from gateway.entrypoints.http.app import create_app
from gateway.settings import Settings, parse_settings
from tests.fakes import MemoryEventPublisher

Sanic.test_mode = True

UPSTREAM_KEYS = {
    "claude": "sk-ant-upstream-SECRET",
    "openai": "sk-openai-upstream-SECRET",
    "gemini": "gemini-upstream-SECRET",
}
NEW_API_KEY = "sk-newapi-SECRET"


def gateway_settings(
    upstream_url: str, *, new_api: bool = False, new_api_key: str = "", **sections: Any
) -> Settings:
    data: dict[str, Any] = {
        "server": {"mode": "development", "http": {"addr": "127.0.0.1:0"}},
        "features": {
            "new_api_enabled": new_api,
            "new_api_url": upstream_url,
            "new_api_key": new_api_key,
            "async_logging": False,
        },
        "upstreams": {
            "connect_timeout": "2s",
            "read_timeout": "5s",
            **{p: {"base_url": upstream_url, "api_key": k} for p, k in UPSTREAM_KEYS.items()},
        },
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return parse_settings(data, env={})


async def raw_request(
    base_url: str, method: str, path: str, body: bytes = b""
) -> tuple[int, bytes]:
    """One HTTP/1.1 request with the path sent byte for byte as given."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"{method} {path} HTTP/1.1\r\nhost: {host}\r\nx-api-key: k\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = response.partition(b"\r\n")
    return int(status_line.split()[1]), rest


@dataclass
class LiveGateway:
    url: str
    app: Sanic  # type: ignore[type-arg]
    container: Container
    events: MemoryEventPublisher


@asynccontextmanager
async def running_gateway(settings: Settings, **overrides: Any) -> AsyncIterator[LiveGateway]:
    events = overrides.pop("events", None) or MemoryEventPublisher()
    container = build_container(settings, events=events, **overrides)
    app = create_app(settings, ContainerRuntime(container, shutdown_timeout=5))
    async with serving(app) as url:
        yield LiveGateway(url, app, container, events)


@pytest_asyncio.fixture
async def fake_provider() -> AsyncIterator[FakeProvider]:
    provider = await start_fake_provider()
    try:
        yield provider
    finally:
        await provider.close()


@pytest_asyncio.fixture
async def gateway(fake_provider: FakeProvider) -> AsyncIterator[LiveGateway]:
    async with running_gateway(gateway_settings(fake_provider.url)) as live:
        yield live
