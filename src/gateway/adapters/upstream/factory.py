"""The upstream client `upstreams.client` asks for."""

from __future__ import annotations

from typing import Protocol

from opentelemetry.trace import Tracer

from gateway.adapters.upstream.aiohttp_upstream import AiohttpUpstream
from gateway.adapters.upstream.client_span import ClientTracing, Scrub
from gateway.adapters.upstream.http1.upstream import Http1Upstream
from gateway.adapters.upstream.pool_settings import UpstreamPoolSettings
from gateway.domain.ports.upstream import UpstreamRequest, UpstreamResponse
from gateway.domain.secrets import mask_key_shaped


class ManagedUpstream(Protocol):
    """An UpstreamProvider (domain/ports/upstream.py) that the container starts and closes."""

    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def upstream_for(
    client: str,
    settings: UpstreamPoolSettings,
    tracer: Tracer | None = None,
    scrub: Scrub = mask_key_shaped,
) -> ManagedUpstream:
    tracing = ClientTracing(tracer, scrub) if tracer is not None else None
    if client == "aiohttp":
        return AiohttpUpstream(settings, tracing)
    return Http1Upstream(settings, tracing)
