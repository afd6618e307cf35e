"""One keep-alive HTTP/1.1 connection to an upstream: an asyncio protocol around httptools.

httptools (llhttp, the parser Sanic serves our own clients with) does the parsing: status line,
headers, chunked and content-length framing. This class adds what a client needs on top: one
request at a time, waiting for the headers and for body data, a read timeout that measures the
upstream's silence, and backpressure (reading pauses while the consumer is behind).

Everything runs on the event loop thread; callbacks wake at most one waiter (the task relaying
the response). A small JSON answer usually arrives in one read, headers and body together, and
is then handed over without a single extra wake-up. While the relaying task pushes (`push`), the
body goes from the parser's callback straight to its sink, and no task wakes per piece: a stream's
chunk costs a Future, a wake-up and a resumed chain of coroutines less.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import cast

import httptools

from gateway.adapters.upstream.http1.silence import SilenceWatch
from gateway.domain.errors import (
    UpstreamCutOff,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnreachable,
)

# Reading pauses when this much body is waiting for a slow consumer, and resumes once the
# consumer takes what is there.
_HIGH_WATER = 256 * 1024


class Http1Connection(asyncio.Protocol):
    """A connection with at most one exchange (request, then its response) in flight."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, read_timeout: float, silence: SilenceWatch
    ) -> None:
        self._loop = loop
        self._read_timeout = read_timeout
        self._silence = silence
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reused = False  # served an exchange before: its peer may have closed it meanwhile
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._reset_exchange()

    def _reset_exchange(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []
        self._header_bytes = 0
        self._headers_done = False
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self.complete = False
        self._active = False
        self._any_byte = False
        self._error: UpstreamError | None = None
        self._last_read = 0.0
        self._keep_alive = False
        # While a task pushes: its sink, bound to a copy of the task's context.
        self._sink: Callable[[bytes], bool] | None = None
        self._sink_error: BaseException | None = None

    # -- the exchange, driven by the client -------------------------------------------------

    async def send(self, head: bytes, body: bytes) -> None:
        """Write the request and wait for the response headers (informational 1xx skipped)."""
        transport = self._transport
        if transport is None or self.closed or transport.is_closing():
            raise ConnectionResetError("connection closed before the request was written")
        self._active = True
        self._last_read = self._loop.time()
        self._silence.watch(self)
        if body:
            transport.writelines((head, body))
        else:
            transport.write(head)
        while not self._headers_done:
            await self.wait()

    @property
    def any_byte(self) -> bool:
        """Whether the upstream sent anything for this exchange (a retry is unsafe after that)."""
        return self._any_byte

    def drain(self) -> bytes:
        """Every body byte already here, in one piece."""
        if not self._body:
            return b""
        data = self._body.popleft() if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self._buffered = 0
        if self._paused:
            self._resume()
        return data

    async def wait(self) -> None:
        """Until more body (or the headers), the end of the body, or an error."""
        if self._error is not None:
            raise self._error
        if self.complete:
            return
        await self._woken()
        if self._error is not None:
            raise self._error

    async def push(self, sink: Callable[[bytes], bool]) -> None:
        """Hand the body to `sink` as it arrives, from the connection's own callback (one call
        per read from the socket, however many chunk frames it held), until the body ends or
        `sink` returns False for a piece it took: then read on with `drain`/`wait`, or push
        again. What had arrived before goes first, in one piece. `sink` runs in a copy of the
        caller's context, so it sees the request's context variables as the caller does.

        A refusal returns normally even when an error came in the same read, so that the
        refused piece is not lost: the error is raised by the next read."""
        data = self.drain()
        if data and not sink(data):
            return
        # partial, not a lambda: no Python frame per chunk (mypy misreads Context.run's ParamSpec)
        self._sink = partial(contextvars.copy_context().run, sink)  # type: ignore[call-arg]
        try:
            while self._sink is not None and not self.complete and self._error is None:
                await self._woken()
        finally:
            refused = self._sink is None
            self._sink = None
        error = self._sink_error
        if error is not None:
            self._sink_error = None
            raise error
        if not refused and self._error is not None:
            raise self._error

    def _push_pending(self) -> None:
        """After a read: what it parsed, to the sink in one piece."""
        sink = self._sink
        if sink is None or not self._body:
            return
        data = self.drain()
        try:
            if sink(data):
                return
        except BaseException as exc:  # raised in the task that pushes, not in the protocol
            self._sink_error = exc
        self._sink = None  # refused (or raised): the pushing task takes over
        self._wake()

    def reusable(self) -> bool:
        """The exchange ended cleanly and both sides keep the connection alive."""
        return self.complete and not self.closed and self._error is None and self._keep_alive

    def finish_exchange(self) -> None:
        """Before the connection goes back to the pool."""
        self._silence.forget(self)
        self._reset_exchange()
        self.reused = True

    def close(self) -> None:
        self._silence.forget(self)
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Drop the connection at once (an unread body: the upstream stops generating)."""
        self._silence.forget(self)
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    # -- waiting ------------------------------------------------------------------------------

    async def _woken(self) -> None:
        """Until a callback wakes the one waiter (more body, the end, an error, a refusal)."""
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self._error is None and not self.complete:
            self._error = error
        self._wake()

    # -- read timeout: the upstream's silence, not the exchange's length -----------------------

    def check_silence(self, now: float) -> None:
        """Called by the pool's SilenceWatch while an exchange is active."""
        if not self._active or self.complete or self._error is not None:
            self._silence.forget(self)
            return
        if self._paused:  # our consumer is behind: the upstream is not the one silent
            self._last_read = now
        if now - self._last_read < self._read_timeout:
            return
        self._fail(
            UpstreamTimeout("the upstream went silent mid-response")
            if self._headers_done
            else UpstreamTimeout()
        )
        self.abort()

    # -- backpressure ------------------------------------------------------------------------

    def _resume(self) -> None:
        self._paused = False
        self._last_read = self._loop.time()
        if self._transport is not None and not self.closed:
            self._transport.resume_reading()

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._active:
            # Bytes nobody asked for (a server talking on an idle connection): not reusable.
            self.abort()
            return
        self._any_byte = True
        self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, _InvalidAnswer):
            self._push_pending()  # the pieces parsed before the fault are good
            self._fail(
                UpstreamCutOff("the upstream sent invalid HTTP")
                if self._headers_done
                else _invalid_answer()
            )
            self.abort()
            return
        self._push_pending()
        if self._buffered > _HIGH_WATER and not self._paused and not self.complete:
            self._paused = True
            if self._transport is not None:
                self._transport.pause_reading()

    def eof_received(self) -> bool | None:
        return None  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._silence.forget(self)
        if not self._active or self.complete or self._error is not None:
            self._wake()
            return
        if not self._headers_done:
            self._fail(_closed_before_answer())
        elif exc is None and self._ends_at_close():
            self._on_complete()  # a body delimited by the end of the connection (RFC 9112 6.3)
        else:
            self._fail(UpstreamCutOff())

    def _ends_at_close(self) -> bool:
        names = {n.lower() for n, _ in self.headers}
        return "content-length" not in names and "transfer-encoding" not in names

    # -- httptools callbacks -----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        self._header_bytes += len(name) + len(value) + 4  # as on the wire: ": " and CRLF
        if self._header_bytes > MAX_HEADER_BYTES:  # llhttp has no bound: this is it
            raise _InvalidAnswer()
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def _announces_body(self) -> bool:
        for name, value in self.headers:
            low = name.lower()
            if low == "transfer-encoding" or (low == "content-length" and value.strip() != "0"):
                return True
        return False

    def on_headers_complete(self) -> None:
        if self.complete:  # a second answer to one request: the connection cannot be trusted
            self._keep_alive = False
            return
        status = self._parser.get_status_code()
        if status in _INFORMATIONAL:  # 100 Continue, 103 Early Hints: the answer is to come
            self.headers = []
            self._header_bytes = 0
            return
        if not 200 <= status <= 599:  # another 1xx (it may come with a body), or no status
            raise _InvalidAnswer()
        self.status = status
        # Asked now: llhttp knows the answer's framing and Connection header only while parsing it.
        self._keep_alive = self._parser.should_keep_alive()
        if status in _NO_BODY and self._announces_body():
            # A 204 or 304 has no body (RFC 9110 15.3.5, 15.4.5; RFC 9112 6.3): bytes it
            # announces would come after the answer, and be read as the next request's.
            self._keep_alive = False
        self._headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.complete:  # bytes past the end of the answer: dropped, and so is the connection
            self._keep_alive = False
            return
        self._body.append(body)
        self._buffered += len(body)
        if self._sink is None:  # a pushing task is woken by the body's end, not by its pieces
            self._wake()

    def on_message_complete(self) -> None:
        if self._headers_done and not self.complete:
            self._on_complete()

    def _on_complete(self) -> None:
        self.complete = True
        self._active = False
        self._silence.forget(self)
        self._wake()


# Informational answers llhttp reads without a body, before the final one (RFC 9110 15.2).
# 101 switches protocols, which a relayed request never asks for: not among them.
_INFORMATIONAL = frozenset({100, 102, 103})
_NO_BODY = frozenset({204, 304})
# What an answer's header block may hold in all (names and values): far above any provider's,
# far below what would strain a worker's memory.
MAX_HEADER_BYTES = 64 << 10


class _InvalidAnswer(Exception):
    """Raised from a parser callback: the answer is not one to relay (an odd status, an
    unbounded header block); data_received fails the exchange and drops the connection."""


def _closed_before_answer() -> UpstreamError:
    return UpstreamUnreachable("the upstream closed the connection before answering")


def _invalid_answer() -> UpstreamError:
    return UpstreamUnreachable("the upstream's answer was not valid HTTP")
