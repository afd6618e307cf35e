"""UpstreamProvider over keep-alive HTTP/1.1 connections (asyncio + httptools): the default.

Why not aiohttp's client here: it spends about 110 µs of CPU per small request on this
project's machine against about 40 µs for the same exchange on a bare protocol (measured in
bench/client_bench.py), and the relay's whole budget is in the tens of µs. The relay needs little
of a general client: no redirects, cookies, proxies or decompression (bytes pass through as the
upstream encoded them), one request per connection at a time. `upstreams.client: aiohttp`
selects the aiohttp adapter instead.

Requests are written as given: the caller's headers (already filtered and with credentials
set), plus Host and Content-Length, which this client owns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial

from opentelemetry.trace import Span

from gateway.adapters.upstream.client_span import ClientTracing, end_with_body, send_traced
from gateway.adapters.upstream.http1.connection import Http1Connection
from gateway.adapters.upstream.http1.pool import ConnectionPool, Origin, parse_origin
from gateway.adapters.upstream.outgoing_headers import LINE_BREAK_OR_NUL, check_names
from gateway.adapters.upstream.pool_settings import UpstreamPoolSettings
from gateway.domain.errors import InvalidRequest, UpstreamUnreachable
from gateway.domain.ports.upstream import UpstreamRequest, UpstreamResponse

# Methods whose request may be sent again when a kept-alive connection turns out to have been
# closed by the upstream before it answered (RFC 9110 9.2.2; POST is never repeated).
_REPLAYABLE = frozenset({"GET", "HEAD", "OPTIONS"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_ATTEMPTS = 3  # a request goes out at most once; only connections found dead are skipped


class _Chunks:
    __slots__ = ("_connection",)

    def __init__(self, connection: Http1Connection) -> None:
        self._connection = connection

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        connection = self._connection
        while True:
            # Everything that has arrived, in one piece (as aiohttp's iter_any gives it).
            data = connection.drain()
            if data:
                return data
            if connection.complete:
                raise StopAsyncIteration
            await connection.wait()


class Http1Response:
    __slots__ = ("_connection", "_origin", "_pool", "_released", "_span", "headers", "status")

    def __init__(
        self,
        pool: ConnectionPool,
        origin: Origin,
        connection: Http1Connection,
        span: Span | None = None,
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._connection = connection
        self._released = False
        self._span = span  # the CLIENT span lasts until the body is released, not the headers
        self.status = connection.status
        self.headers: Sequence[tuple[str, str]] = connection.headers

    @property
    def content_length(self) -> int | None:
        for name, value in self.headers:
            if len(name) == 14 and name.lower() == "content-length":
                return int(value) if value.isdigit() else None
        return None

    async def read(self) -> bytes:
        connection = self._connection
        if connection.complete:  # the usual small answer: it came with the headers
            return connection.drain()
        parts = []
        while True:
            data = connection.drain()  # as it comes, so reading never pauses for backpressure
            if data:
                parts.append(data)
            if connection.complete:
                return b"".join(parts)
            await connection.wait()

    def chunks(self) -> AsyncIterator[bytes]:
        return _Chunks(self._connection)

    async def push(self, sink: Callable[[bytes], bool]) -> None:
        await self._connection.push(sink)

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        connection = self._connection
        complete = connection.complete
        if complete:
            self._pool.release(self._origin, connection)
        else:  # an unread body: dropping the connection also stops the upstream generating
            self._pool.discard(self._origin, connection)
        if self._span is not None:
            end_with_body(self._span, complete)


class Http1Upstream:
    """Sends relayed requests. Create with `start()` inside the worker's running loop."""

    def __init__(
        self,
        settings: UpstreamPoolSettings,
        tracing: ClientTracing | None = None,
    ) -> None:
        self._settings = settings
        self._pool: ConnectionPool | None = None
        self._tracing = tracing  # None: tracing off, nothing is spent on it
        self._origins: dict[str, Origin] = {}

    async def start(self) -> None:
        self._pool = ConnectionPool(self._settings)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        tracing = self._tracing
        if tracing is None:
            return await self._send(request, request.headers, None)
        return await send_traced(tracing, request, partial(self._send, request))

    async def _send(
        self, request: UpstreamRequest, headers: Sequence[tuple[str, str]], span: Span | None
    ) -> Http1Response:
        pool = self._pool
        if pool is None:
            raise UpstreamUnreachable("the upstream client is not started")
        origin, target = self._split(request.url)
        head = _request_head(request.method, target, origin.host_header, headers, request.body)
        for attempt in range(_ATTEMPTS):
            last = attempt == _ATTEMPTS - 1
            connection = await pool.acquire(origin)
            try:
                await connection.send(head, request.body)
            except ConnectionResetError:
                # Found closed before anything was written: safe to send on another connection.
                pool.discard(origin, connection)
                if last:
                    raise UpstreamUnreachable() from None
                continue
            except UpstreamUnreachable:
                pool.discard(origin, connection)
                if (
                    not last
                    and connection.reused
                    and not connection.any_byte
                    and request.method in _REPLAYABLE
                ):
                    continue  # a kept-alive connection the upstream had just closed
                raise
            except BaseException:
                pool.discard(origin, connection)  # cancelled or timed out: the upstream sees it
                raise
            return Http1Response(pool, origin, connection, span)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _split(self, url: str) -> tuple[Origin, str]:
        """Origin and request target of an absolute URL; origins are parsed once each."""
        authority = url.find("//") + 2
        slash = url.find("/", authority)
        prefix, target = (url, "/") if slash < 0 else (url[:slash], url[slash:])
        origin = self._origins.get(prefix)
        if origin is None:
            origin = parse_origin(prefix)
            if len(self._origins) < 256:  # a handful in practice: one per configured upstream
                self._origins[prefix] = origin
        return origin, target


def _request_head(
    method: str, target: str, host: str, headers: Sequence[tuple[str, str]], body: bytes
) -> bytes:
    block = "".join([f"{name}: {value}\r\n" for name, value in headers])
    # One line per header: a value holding CR or LF would smuggle in headers of its own.
    count = len(headers)
    if block.count("\n") != count or block.count("\r") != count or "\x00" in block:
        raise InvalidRequest(LINE_BREAK_OR_NUL)
    check_names(headers)
    length = f"content-length: {len(body)}\r\n" if body or method in _BODY_METHODS else ""
    head = f"{method} {target} HTTP/1.1\r\nhost: {host}\r\n{block}{length}\r\n"
    # Sanic decodes the client's head as UTF-8 with surrogateescape: encoded back the same way,
    # a header value reaches the upstream as the bytes the client sent (RFC 9110 5.5).
    return head.encode("utf-8", "surrogateescape")
