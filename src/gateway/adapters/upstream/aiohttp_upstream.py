"""UpstreamProvider over one aiohttp ClientSession per worker, with a keep-alive pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiohttp

from gateway.domain.errors import UpstreamCutOff, UpstreamTimeout, UpstreamUnreachable
from gateway.domain.ports.upstream import UpstreamRequest, UpstreamResponse


@dataclass(frozen=True, slots=True)
class UpstreamPoolSettings:
    connect_timeout: float
    read_timeout: float  # the longest silence: before the headers and between body chunks
    pool_size: int = 512
    pool_per_host: int = 0
    keepalive_timeout: float = 30.0


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
    __slots__ = ("_headers", "_released", "_response")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._headers: Sequence[tuple[str, str]] = tuple(response.headers.items())
        self._released = False

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
        if response.content.is_eof():
            response.release()  # back to the pool
        else:
            response.close()  # unread body: drop the connection, which also stops the upstream


class AiohttpUpstream:
    """Sends relayed requests. Create with `start()` inside the worker's running loop."""

    def __init__(self, settings: UpstreamPoolSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

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
            skip_auto_headers=("User-Agent", "Content-Type"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        session = self._session
        if session is None:
            raise UpstreamUnreachable("the upstream client is not started")
        try:
            response = await session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body or None,
                allow_redirects=False,
            )
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout() from None
        except aiohttp.ClientError:
            # The message names no URL and no header, so nothing secret can leak through it.
            raise UpstreamUnreachable() from None
        return AiohttpUpstreamResponse(response)
