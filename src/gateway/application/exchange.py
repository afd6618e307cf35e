"""One relayed request once the upstream has answered: its status, headers and body."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Callable
from typing import Final, Protocol

from gateway.application.batch_urls import rewrite_results_urls
from gateway.application.request_trace import RequestTrace
from gateway.domain.ports.upstream import UpstreamResponse
from gateway.domain.usage_readers import UsageReader


class StreamFilter(Protocol):
    """Rewrites a stream on event boundaries (e.g. hides OpenAI's injected usage chunk)."""

    def feed(self, chunk: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class _Decoder(Protocol):
    def decompress(self, data: bytes) -> bytes: ...


def _copy_decoder(content_encoding: str | None) -> _Decoder | None:
    """A decoder for the usage reader's copy; the client gets the bytes as they came."""
    if content_encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=47)
    if content_encoding == "deflate":
        return zlib.decompressobj()
    return None


# The usage reader reads a stream in batches of about this many bytes, not chunk by chunk. Its
# cost in the server is its call chain run cold once per chunk (feed, the SSE splitter, the
# event function, the JSON parse); once per batch, the same events cost about half. Nothing
# reads usage before `finish()`, which reads the rest. It also bounds what a stream holds.
READ_BATCH_BYTES: Final = 8192


def _refuse(chunk: bytes) -> bool:
    return False


class RelayExchange:
    """Read the body with `read_body()` (streaming is False), or iterate it or `push` it to a
    writer (streaming is True; both may be used on one body, one after the other, after a
    `first_chunk()`), then call `finish(error)` exactly as the request ended: it records usage
    and the event."""

    def __init__(
        self,
        *,
        trace: RequestTrace,
        response: UpstreamResponse,
        headers: list[tuple[str, str]],
        streaming: bool,
        reader: UsageReader | None,
        content_encoding: str | None,
        stream_filter: StreamFilter | None,
        rewrite_origin: str | None,
        on_finish: Callable[[RelayExchange, BaseException | None], None],
        monotonic: Callable[[], float],
    ) -> None:
        self.status = response.status
        self.headers = headers
        self.streaming = streaming
        self.trace = trace
        self._response = response
        self._reader = reader
        self._encoding = content_encoding
        self._decoder = _copy_decoder(content_encoding) if reader is not None else None
        # Whether the body is read for usage: not in an encoding the gateway cannot decode.
        self._reading = reader is not None and (
            content_encoding is None or self._decoder is not None
        )
        self._unread: list[bytes] = []  # arrived, not yet read for usage (see READ_BATCH_BYTES)
        self._unread_bytes = 0
        self._filter = stream_filter
        self._rewrite_origin = rewrite_origin
        self._on_finish = on_finish
        self._monotonic = monotonic
        self._chunks: AsyncIterator[bytes] | None = None
        self._finished = False
        self._on_gap: Callable[[float], None] | None = None
        # Since when the upstream's next chunk has been awaited (monotonic); 0 while a chunk is
        # in hand (being sent): a slow client is not the upstream's silence.
        self._waiting_since = 0.0
        # While pushing: where chunks go, and the one `_write` refused.
        self._write: Callable[[bytes], bool] = _refuse
        self._refused: bytes | None = None

    def watch_gaps(self, on_gap: Callable[[float], None]) -> None:
        """Have `on_gap` told the upstream's silence before each chunk, in seconds."""
        self._on_gap = on_gap

    def silent_for(self) -> float:
        """Seconds the upstream's next chunk has been awaited; 0 when none is."""
        since = self._waiting_since
        return self._monotonic() - since if since else 0.0

    def _stop_waiting(self) -> None:
        """The body ended, or the request did, while the upstream's next chunk was awaited: that
        wait was the upstream's too."""
        since = self._waiting_since
        if since:
            self.trace.upstream_wait += self._monotonic() - since
            self._waiting_since = 0.0

    def _observe(self, chunk: bytes) -> None:
        """Keep a piece of the body for the usage reader, decoded as the upstream encoded it."""
        if not self._reading:
            return
        if self._decoder is not None:
            try:
                chunk = self._decoder.decompress(chunk)
            except zlib.error:
                # The upstream's encoding is broken: the client still gets the bytes as they
                # came, and the usage is what was read before (estimated if it was not final).
                self._reading = False
                return
        self._unread.append(chunk)
        self._unread_bytes += len(chunk)
        if self._unread_bytes >= READ_BATCH_BYTES:
            self._read_unread()

    def _read_unread(self) -> None:
        unread = self._unread
        if not unread or self._reader is None:
            return
        self._reader.feed(unread[0] if len(unread) == 1 else b"".join(unread))
        self._unread = []
        self._unread_bytes = 0

    @property
    def answer_withheld(self) -> bool:
        """The body failed before any of it could be answered: the client gets the gateway's
        error (the error handler's), not the upstream's status."""
        return self.trace.answer_withheld

    def client_status(self) -> int:
        """The status the client got: the upstream's, or the gateway's error once `finish` has
        concluded a withheld answer."""
        return self.trace.client_status or self.status

    async def read_body(self) -> bytes:
        started = self._monotonic()
        try:
            body = await self._response.read()
        except BaseException:
            self.trace.answer_withheld = True
            raise
        finally:  # a read that fails or is cancelled waited on the upstream all the same
            self.trace.upstream_wait += self._monotonic() - started
        self._response.release()
        self._observe(body)
        if self._rewrite_origin is not None and self._encoding is None:
            body = rewrite_results_urls(body, self._rewrite_origin)
        self.trace.bytes_out = len(body)
        return body

    def __aiter__(self) -> RelayExchange:
        return self

    async def first_chunk(self) -> bytes | None:
        """The body's first chunk (None when it is empty), for a caller that answers only once
        it has one: if the body fails before it, the answer is withheld, and the request is
        concluded with the status of the error the caller answers instead."""
        try:
            return await anext(self, None)
        except BaseException:
            self.trace.answer_withheld = True
            raise

    async def __anext__(self) -> bytes:
        if self._chunks is None:
            self._chunks = self._response.chunks()
        while True:
            self._waiting_since = self._monotonic()
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._stop_waiting()
                tail = self._flush_filter()
                if tail:
                    return tail
                raise
            except BaseException:  # failed, timed out or cancelled while the upstream was awaited
                self._stop_waiting()
                raise
            chunk = self._arrived(chunk)
            if chunk:
                return chunk

    async def push(self, write: Callable[[bytes], bool]) -> bytes | None:
        """Relay the rest of the body to `write` as it arrives, from the upstream client's own
        callbacks: no wake-up of the relaying task per chunk. Returns None once the body has
        ended, or a chunk `write` did not take (send it another way, then push again)."""
        self._write = write
        self._waiting_since = self._monotonic()
        try:
            await self._response.push(self._take)
        finally:  # the body's end, or a failure, timeout or cancel while the upstream was awaited
            self._stop_waiting()  # (a refused chunk has stopped the wait already)
        refused, self._refused = self._refused, None
        if refused is not None:
            return refused
        tail = self._flush_filter()
        return tail if tail and not write(tail) else None

    def _take(self, chunk: bytes) -> bool:
        """`push`'s sink: one piece of the body, as the upstream client read it."""
        chunk = self._arrived(chunk)
        if chunk and not self._write(chunk):
            self._refused = chunk  # in hand until the caller has sent it
            return False
        self._waiting_since = self._monotonic()
        return True

    def _arrived(self, chunk: bytes) -> bytes:
        """A piece of the body, just arrived, however it was read: the wait before it is the
        upstream's (and its gap), then it is read for usage and filtered. Returns what goes to
        the client, b"" when the filter holds it all back; until it is sent, nothing is awaited."""
        trace = self.trace
        now = self._monotonic()
        waited = now - self._waiting_since
        self._waiting_since = 0.0
        trace.upstream_wait += waited
        if trace.first_byte is None:
            trace.first_byte = now
        if self._on_gap is not None:
            self._on_gap(waited)
        self._observe(chunk)
        if self._filter is not None:
            chunk = self._filter.feed(chunk)
        trace.bytes_out += len(chunk)
        return chunk

    def _flush_filter(self) -> bytes:
        """At the body's end: what the filter still holds (counted as sent)."""
        tail = self._filter.flush() if self._filter is not None else b""
        self._filter = None
        self.trace.bytes_out += len(tail)
        return tail

    def own_seconds(self) -> float:
        """The gateway's own time so far: everything but the waits on the upstream."""
        trace = self.trace
        return max(self._monotonic() - trace.started - trace.upstream_wait, 0.0)

    def finish(self, error: BaseException | None = None) -> None:
        """Conclude the request. Idempotent; synchronous so that a cancelled task still does it."""
        if self._finished:
            return
        self._finished = True
        self._stop_waiting()  # it ended while the upstream's next chunk was awaited
        self._response.release()
        try:
            if self._reader is not None:
                self._read_unread()
                # The text only serves an estimate, which a final usage makes moot.
                self.trace.report = self._reader.report(text_when_final=False)
        finally:
            # A reader's bug must not cost the request its record and event: they are made
            # with what was read (an estimate), and the bug is raised on to be logged.
            self._on_finish(self, error)
