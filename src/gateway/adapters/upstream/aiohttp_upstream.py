"""UpstreamProvider over one aiohttp ClientSession per worker, with a keep-alive pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer

from gateway.domain.errors import UpstreamCutOff, UpstreamTimeout, UpstreamUnreachable
from gateway.domain.ports.upstream import UpstreamRequest, UpstreamResponse


@dataclass(frozen=True, slots=True)
class UpstreamPoolSettings:
    connect_timeout: float
    read_timeout: float  # the longest silence: before the headers and between body chunks
    pool_size: int = 512
    pool_per_host: int = 0
    keepalive_timeout: float = 30.0


# Tracing: the CLIENT span of an upstream call and the W3C trace context it sends upstream.
# Manual propagation (not the aiohttp instrumentation, which ends its span at the headers and
# cannot be installed next to this SDK version). Recorded: method, host, port and path, never
# the query string or a header (either may hold a key).
_TRACE_HEADERS = frozenset({"traceparent", "tracestate"})


def start_client_span(
    tracer: Tracer, request: UpstreamRequest
) -> tuple[Span, list[tuple[str, str]]]:
    """The span (a child of the current one) and the headers carrying it upstream."""
    url = urlsplit(request.url)
    span = tracer.start_span(
        request.method,
        kind=SpanKind.CLIENT,
        attributes={
            "http.request.method": request.method,
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "url.full": f"{url.scheme}://{url.netloc.rpartition('@')[2]}{url.path}",
        },
    )
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    # The caller's own trace headers, if forwarded, are replaced by ours (we are their child).
    headers = [(n, v) for n, v in request.headers if n.lower() not in _TRACE_HEADERS]
    headers.extend(carrier.items())
    return span, headers


def end_span(span: Span, error_type: str | None) -> None:
    if error_type is not None:
        span.set_attribute("error.type", error_type)
        span.set_status(StatusCode.ERROR)
    span.end()


class _Chunks:
    """The body as it arrives, with aiohttp's errors turned into the port's."""

    __slots__ = ("_iterator",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._iterator = response.content.iter_any().__aiter__()

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._iterator.__anext__()
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout("the upstream went silent mid-response") from None
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
            raise UpstreamCutOff() from None


class AiohttpUpstreamResponse:
    __slots__ = ("_headers", "_released", "_response", "_span")

    def __init__(self, response: aiohttp.ClientResponse, span: Span | None = None) -> None:
        self._response = response
        self._headers: Sequence[tuple[str, str]] = tuple(response.headers.items())
        self._released = False
        self._span = span  # the CLIENT span lasts until the body is released, not the headers

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Sequence[tuple[str, str]]:
        return self._headers

    @property
    def content_length(self) -> int | None:
        return self._response.content_length

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout("the upstream went silent mid-response") from None
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError):
            raise UpstreamCutOff() from None

    def chunks(self) -> AsyncIterator[bytes]:
        return _Chunks(self._response)

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        response = self._response
        complete = response.content.is_eof()
        if complete:
            response.release()  # back to the pool
        else:
            response.close()  # unread body: drop the connection, which also stops the upstream
        if self._span is not None:
            end_span(self._span, None if complete else "body_not_read_to_end")


class AiohttpUpstream:
    """Sends relayed requests. Create with `start()` inside the worker's running loop."""

    def __init__(self, settings: UpstreamPoolSettings, tracer: Tracer | None = None) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._tracer = tracer  # None: tracing off, nothing is spent on it

    async def start(self) -> None:
        s = self._settings
        connector = aiohttp.TCPConnector(
            limit=s.pool_size,
            limit_per_host=s.pool_per_host,
            keepalive_timeout=s.keepalive_timeout,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # No total: a stream may last as long as it keeps talking. sock_read bounds silence.
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=s.connect_timeout, sock_read=s.read_timeout
            ),
            auto_decompress=False,  # bytes pass through as the upstream encoded them
            # The relay sets every header it means to send; aiohttp's own (Accept, a
            # User-Agent naming aiohttp) would be news to the upstream, and cost time to add.
            skip_auto_headers=("User-Agent", "Content-Type", "Accept", "Accept-Encoding"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        session = self._session
        if session is None:
            raise UpstreamUnreachable("the upstream client is not started")
        if self._tracer is None:
            return AiohttpUpstreamResponse(await self._request(session, request, request.headers))
        span, headers = start_client_span(self._tracer, request)
        try:
            response = await self._request(session, request, headers)
        except BaseException as exc:
            end_span(span, getattr(exc, "kind", type(exc).__name__))
            raise
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 400:
            span.set_attribute("error.type", str(response.status))
            span.set_status(StatusCode.ERROR)
        return AiohttpUpstreamResponse(response, span)

    async def _request(
        self,
        session: aiohttp.ClientSession,
        request: UpstreamRequest,
        headers: Sequence[tuple[str, str]],
    ) -> aiohttp.ClientResponse:
        try:
            return await session.request(
                request.method,
                request.url,
                headers=headers,
                data=request.body or None,
                allow_redirects=False,
            )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout() from None
        except aiohttp.ClientError:
            # The message names no URL and no header, so nothing secret can leak through it.
            raise UpstreamUnreachable() from None
