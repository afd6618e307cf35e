"""UpstreamProvider over one aiohttp ClientSession per worker, with a keep-alive pool.

The alternative to the default client (http1/): `upstreams.client: aiohttp`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

import aiohttp
from opentelemetry.trace import Span

from gateway.adapters.upstream.client_span import ClientTracing, end_with_body, send_traced
from gateway.adapters.upstream.outgoing_headers import check_names, check_values
from gateway.adapters.upstream.pool_settings import UpstreamPoolSettings
from gateway.domain.errors import UpstreamCutOff, UpstreamTimeout, UpstreamUnreachable
from gateway.domain.ports.upstream import UpstreamRequest, UpstreamResponse, push_chunks


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

    async def push(self, sink: Callable[[bytes], bool]) -> None:
        await push_chunks(self.chunks(), sink)

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
            end_with_body(self._span, complete)


class AiohttpUpstream:
    """Sends relayed requests. Create with `start()` inside the worker's running loop."""

    def __init__(
        self,
        settings: UpstreamPoolSettings,
        tracing: ClientTracing | None = None,
    ) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._tracing = tracing  # None: tracing off, nothing is spent on it

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
            # One session serves every caller: an upstream's cookies must not follow the next.
            cookie_jar=aiohttp.DummyCookieJar(),
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
        tracing = self._tracing
        if tracing is None:
            return AiohttpUpstreamResponse(await self._request(session, request, request.headers))

        async def traced(headers: Sequence[tuple[str, str]], span: Span) -> UpstreamResponse:
            return AiohttpUpstreamResponse(await self._request(session, request, headers), span)

        return await send_traced(tracing, request, traced)

    async def _request(
        self,
        session: aiohttp.ClientSession,
        request: UpstreamRequest,
        headers: Sequence[tuple[str, str]],
    ) -> aiohttp.ClientResponse:
        # Refused here, as the HTTP/1.1 client refuses them: aiohttp sends a name that is not a
        # token as it is, and raises a ValueError (a 500) on a NUL or a line break.
        check_names(headers)
        check_values(headers)
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
