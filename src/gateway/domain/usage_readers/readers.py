"""Framing-level readers: they split a body into documents; a provider function reads each one.

A provider module supplies plain functions (`apply(state, document)`) and the framing reader
drives them, so one SSE/JSON/JSONL/array implementation serves every provider. All readers keep
their findings in an `Accumulator` and never raise on malformed input: a document that does not
parse, or has an unexpected shape, is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Final, Generic, TypeVar

from gateway.domain.usage import ZERO_USAGE, Usage
from gateway.domain.usage_readers.base import StreamError, UsageReport
from gateway.domain.usage_readers.json_array import JsonArraySplitter
from gateway.domain.usage_readers.scan import MALFORMED, JsonObject, loads_object
from gateway.domain.usage_readers.sse import SseEvent, SseParser

# A JSON body larger than this is not buffered any further and reports nothing: no generative
# answer comes near it (huge embeddings lists are read without buffering: openai_embeddings.py).
MAX_JSON_BYTES: Final = 64 << 20
# A JSONL record larger than this is skipped (a batch result is one Message: far smaller).
MAX_LINE_BYTES: Final = 64 << 20


@dataclass(slots=True)
class Accumulator:
    """What a reader has found so far; mutable, cheap to copy (all fields are immutable)."""

    usage: Usage = ZERO_USAGE
    final: bool = False
    terminal_status: str | None = None
    stream_error: StreamError | None = None
    output_text_bytes: int = 0
    response_id: str | None = None
    response_model: str | None = None

    def build(self) -> UsageReport:
        return UsageReport(
            usage=self.usage,
            final=self.final,
            terminal_status=self.terminal_status,
            stream_error=self.stream_error,
            output_text_bytes=self.output_text_bytes,
            response_id=self.response_id,
            response_model=self.response_model,
        )


S = TypeVar("S", bound=Accumulator)
EMPTY_REPORT: Final = UsageReport()


class NullUsageReader:
    """For bodies that carry no usage (model lists, batch bookkeeping): does nothing."""

    __slots__ = ()

    def feed(self, chunk: bytes) -> None:
        return None

    def report(self, *, text_when_final: bool = True) -> UsageReport:
        return EMPTY_REPORT


class FixedUsageReader:
    """Reports the same thing whatever the body says (e.g. zero, final, for count_tokens)."""

    __slots__ = ("_report",)

    def __init__(self, report: UsageReport) -> None:
        self._report = report

    def feed(self, chunk: bytes) -> None:
        return None

    def report(self, *, text_when_final: bool = True) -> UsageReport:
        return self._report


class SseUsageReader(Generic[S]):
    """text/event-stream: `on_event(state, event_name, data)` is called per dispatched event."""

    __slots__ = ("_on_event", "_parser", "_state")

    def __init__(self, on_event: Callable[[S, bytes | None, bytes], None], state: S) -> None:
        self._on_event = on_event
        self._state = state
        self._parser = SseParser()

    def feed(self, chunk: bytes) -> None:
        on_event, state = self._on_event, self._state
        if type(chunk) is not bytes:  # a view of a buffer the relay reuses
            chunk = bytes(chunk)
        for name, data in self._parser.feed(chunk):
            try:
                on_event(state, name, data)
            except MALFORMED:
                continue

    def report(self, *, text_when_final: bool = True) -> UsageReport:
        pending = self._parser.pending()
        if pending is None:
            return self._state.build()
        # An event left without its blank line (a cut or sloppy stream): read it on a copy,
        # so that a later feed still sees it exactly once.
        state = replace(self._state)
        try:
            self._on_event(state, *pending)
        except MALFORMED:
            return self._state.build()
        return state.build()


# What a TailFirstSseUsageReader keeps unread at most (event data; an OpenAI chat event is
# 270-300 bytes): past it, it reads its oldest DEFERRED_READ_BYTES, so that what a stream holds
# and the loop turn that reads them stay bounded (the exchange's batches are 8 KiB as well).
DEFERRED_MAX_BYTES: Final = 32 << 10
DEFERRED_READ_BYTES: Final = 8 << 10
# How many events a report reads back from the end before it gives up and reads them all: a
# stream's end settles in one to three (OpenAI: [DONE], the usage, the finish reason), and a
# stream that does not settle would otherwise be read twice.
SETTLE_WITHIN_EVENTS: Final = 8


def response_id_read(state: Accumulator) -> bool:
    """A TailFirstSseUsageReader's `may_defer` for streams that open with their id."""
    return state.response_id is not None


def final_with_status(state: Accumulator) -> bool:
    """A TailFirstSseUsageReader's `settled` for streams that end with their usage and a finish
    (stop) reason, whose last values win."""
    return state.final and state.terminal_status is not None


class TailFirstSseUsageReader(Generic[S]):
    """text/event-stream as SseUsageReader reads it, with the reading of the events that only
    serve an estimate left until a report needs them.

    Once `may_defer(state)` holds (the stream's opening events are read), each event is kept
    unread, up to DEFERRED_MAX_BYTES. A report that needs everything (`text_when_final`, or no
    final usage found) reads what was kept, in order, on a copy of the state: the same report
    as SseUsageReader's. A report that may leave the text short reads the kept events from the
    last back, each on a scratch state, until `settled(scratch)` says they hold what a forward
    read would end with (a provider's last usage and last finish reason, whose last value
    wins), then reads that suffix forward. The events before it are not read: they can only
    add text, as `plain(name, data)` said of each when it was kept (the suffix starts early
    enough to take in any event that was not plain). Nothing settled: everything is read."""

    __slots__ = (
        "_first_not_plain",
        "_kept",
        "_kept_bytes",
        "_may_defer",
        "_on_event",
        "_parser",
        "_plain",
        "_settled",
        "_state",
    )

    def __init__(
        self,
        on_event: Callable[[S, bytes | None, bytes], None],
        state: S,
        *,
        may_defer: Callable[[S], bool],
        settled: Callable[[S], bool],
        plain: Callable[[bytes | None, bytes], bool],
    ) -> None:
        self._on_event = on_event
        self._state = state
        self._parser = SseParser()
        self._may_defer = may_defer
        self._settled = settled
        self._plain = plain
        self._kept: list[SseEvent] = []
        self._kept_bytes = 0
        self._first_not_plain = -1  # its index in _kept; -1 when every kept event is plain

    def feed(self, chunk: bytes) -> None:
        if type(chunk) is not bytes:  # a view of a buffer the relay reuses
            chunk = bytes(chunk)
        kept, plain = self._kept, self._plain
        for event in self._parser.feed(chunk):
            if not kept and not self._may_defer(self._state):
                self._read(self._state, event)
                continue
            name, data = event
            if self._first_not_plain < 0 and not plain(name, data):
                self._first_not_plain = len(kept)
            kept.append(event)
            self._kept_bytes += len(data)
            if self._kept_bytes > DEFERRED_MAX_BYTES:
                self._read_oldest()

    def report(self, *, text_when_final: bool = True) -> UsageReport:
        events = self._kept
        pending = self._parser.pending()
        if pending is not None:  # an event left without its blank line: read, not consumed
            events = [*events, pending]
        start = 0 if text_when_final else self._settled_from(events)
        state = self._read_from(events, start)
        if start and not state.final:  # a report that is not final counts all of the text
            state = self._read_from(events, 0)
        return state.build()

    def _read_from(self, events: list[SseEvent], start: int) -> S:
        state = replace(self._state)
        for event in events[start:] if start else events:
            self._read(state, event)
        return state

    def _settled_from(self, events: list[SseEvent]) -> int:
        """Where to start reading `events`: at the shortest suffix that settles the report, or at
        the first event that was not plain if that is earlier; 0 when no suffix of up to
        SETTLE_WITHIN_EVENTS events settles it."""
        scratch = type(self._state)()
        for index in range(len(events) - 1, max(len(events) - SETTLE_WITHIN_EVENTS, 0) - 1, -1):
            self._read(scratch, events[index])
            if self._settled(scratch):
                # A longer suffix settles too: start it at the first event that was not plain,
                # if earlier, so that what is skipped can only have added text. (A pending
                # event is last: it is never skipped, so it was never asked.)
                first = self._first_not_plain
                return index if first < 0 else min(index, first)
        return 0

    def _read(self, state: S, event: SseEvent) -> None:
        try:
            self._on_event(state, *event)
        except MALFORMED:
            return

    def _read_oldest(self) -> None:
        kept = self._kept
        read = count = 0
        for event in kept:
            self._read(self._state, event)
            read += len(event[1])
            count += 1
            if read >= DEFERRED_READ_BYTES:
                break
        del kept[:count]  # in place: feed() holds the list
        self._kept_bytes -= read
        if self._first_not_plain >= count:
            self._first_not_plain -= count
        elif self._first_not_plain >= 0:  # it was read: find the next one, if any
            plain = self._plain
            marked = (i for i, (name, data) in enumerate(kept) if not plain(name, data))
            self._first_not_plain = next(marked, -1)


class JsonUsageReader:
    """One JSON document: buffered, parsed once at the first report() and cached."""

    __slots__ = ("_apply", "_overflow", "_parts", "_report", "_size")

    def __init__(self, apply: Callable[[Accumulator, JsonObject], None]) -> None:
        self._apply = apply
        self._parts: list[bytes] = []
        self._size = 0
        self._overflow = False
        self._report: UsageReport | None = None

    def feed(self, chunk: bytes) -> None:
        if self._overflow or not chunk:
            return
        self._size += len(chunk)
        if self._size > MAX_JSON_BYTES:
            self._overflow = True
            self._parts = []
        else:
            self._parts.append(_as_bytes(chunk))
        self._report = None

    def report(self, *, text_when_final: bool = True) -> UsageReport:
        if self._report is None:
            self._report = self._read()
        return self._report

    def _read(self) -> UsageReport:
        obj = None if self._overflow else loads_object(b"".join(self._parts))
        if obj is None:
            return EMPTY_REPORT
        state = Accumulator()
        try:
            self._apply(state, obj)
        except MALFORMED:
            return EMPTY_REPORT
        return state.build()


class JsonArrayUsageReader(Generic[S]):
    """A streamed JSON array: `on_element(state, obj)` per top-level element object."""

    __slots__ = ("_on_element", "_splitter", "_state")

    def __init__(self, on_element: Callable[[S, JsonObject], None], state: S) -> None:
        self._on_element = on_element
        self._state = state
        self._splitter = JsonArraySplitter()

    def feed(self, chunk: bytes) -> None:
        chunk = _as_bytes(chunk)
        whole = self._splitter.take_whole(chunk)  # the usual chunk: one element, parsed
        if whole is not None:
            self._read(whole)
            return
        for element in self._splitter.feed(chunk):
            obj = loads_object(element)
            if obj is not None:
                self._read(obj)

    def _read(self, obj: JsonObject) -> None:
        try:
            self._on_element(self._state, obj)
        except MALFORMED:
            return

    def report(self, *, text_when_final: bool = True) -> UsageReport:
        return self._state.build()


class JsonLinesUsageReader:
    """JSON Lines: `on_line(state, line)` per complete line (LF or CRLF), blank lines skipped.

    JSONL has no end marker, so `final` means "the body so far ends on a record boundary":
    a cut in the middle of a line leaves it False. A last line without its LF is read at report().
    """

    __slots__ = ("_on_line", "_state", "_tail", "_tail_size")

    def __init__(self, on_line: Callable[[Accumulator, bytes], None]) -> None:
        self._on_line = on_line
        self._state = Accumulator(final=True)
        self._tail: list[bytes] = []
        self._tail_size = 0

    def feed(self, chunk: bytes) -> None:
        chunk = _as_bytes(chunk)
        if 10 not in chunk:  # no LF: `int in bytes` is a plain memchr
            self._keep(chunk)
            return
        buf = b"".join((*self._tail, chunk)) if self._tail else chunk
        lines = buf.split(b"\n")
        self._tail, self._tail_size = [], 0
        self._keep(lines.pop())
        for line in lines:
            self._line(self._state, line)

    def report(self, *, text_when_final: bool = True) -> UsageReport:
        if not self._tail:
            return self._state.build()
        last = b"".join(self._tail)
        if last.isspace():
            return self._state.build()
        state = replace(self._state)
        if loads_object(last) is None:
            state.final = False  # cut inside a record
        else:
            self._line(state, last)
        return state.build()

    def _line(self, state: Accumulator, line: bytes) -> None:
        if not line or line.isspace():
            return
        try:
            self._on_line(state, line)
        except MALFORMED:
            return

    def _keep(self, piece: bytes) -> None:
        if not piece:
            return
        self._tail_size += len(piece)
        if self._tail_size > MAX_LINE_BYTES:
            self._tail = [b"\x00"]  # the over-long line will never parse: keep a marker only
            self._tail_size = MAX_LINE_BYTES
            return
        self._tail.append(piece)


def _as_bytes(chunk: bytes | bytearray | memoryview) -> bytes:
    # The relay may tee a view of a buffer it reuses: take a copy only when it is not bytes.
    return chunk if type(chunk) is bytes else bytes(chunk)
