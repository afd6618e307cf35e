"""The upstream client `upstreams.client` asks for."""

from __future__ import annotations

from typing import Protocol

from opentelemetry.trace import Tracer

from gateway.adapters.upstream.aiohttp_upstream import AiohttpUpstream
from gateway.adapters.upstream.http1.upstream import Http1Upstream
from gateway.adapters.upstream.pool_settings import UpstreamPoolSettings
from gateway.domain.ports.upstream import UpstreamRequest, UpstreamResponse


class ManagedUpstream(Protocol):
    """An UpstreamProvider (domain/ports/upstream.py) that the container starts and closes."""

    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def upstream_for(
    client: str, settings: UpstreamPoolSettings, tracer: Tracer | None = None
) -> ManagedUpstream:
    if client == "aiohttp":
        return AiohttpUpstream(settings, tracer=tracer)
    return Http1Upstream(settings, tracer=tracer)
