"""The event's client_ip: the peer's address, unless Sanic is told to trust a proxy's header."""

from __future__ import annotations

import aiohttp
import pytest

from gateway.devtools.fake_provider import FakeProvider
from tests.conftest import gateway_settings, running_gateway

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
PROXY_HEADERS = {"x-real-ip": "203.0.113.7", "x-forwarded-for": "198.51.100.9"}


async def _client_ip(fake_provider: FakeProvider) -> str | None:
    async with running_gateway(gateway_settings(fake_provider.url)) as gw:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                gw.url + "/v1/chat/completions",
                json=BODY,
                headers={"authorization": "Bearer k", **PROXY_HEADERS},
            ) as response,
        ):
            assert response.status == 200
            await response.read()
        event = (await gw.events.wait_for(1))[-1]
        return event.client_ip


async def test_proxy_headers_are_not_trusted_by_default(fake_provider: FakeProvider) -> None:
    # A client cannot claim another address by sending the headers itself.
    assert await _client_ip(fake_provider) == "127.0.0.1"


async def test_a_trusted_real_ip_header_gives_the_address(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANIC_REAL_IP_HEADER", "x-real-ip")
    assert await _client_ip(fake_provider) == "203.0.113.7"


async def test_a_proxy_count_reads_x_forwarded_for(
    fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANIC_PROXIES_COUNT", "1")
    assert await _client_ip(fake_provider) == "198.51.100.9"
