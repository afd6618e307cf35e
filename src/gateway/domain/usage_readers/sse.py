"""An incremental text/event-stream splitter (WHATWG rules, protocols.md 4.3).

It parses a *copy* of a stream the relay forwards untouched, so it only has to find events, and
it has to be cheap: every chunk of every stream goes through it. It works on whole chunks with
memchr tests and `split`/`splitlines` (C loops), never per byte in Python, and keeps only the
unfinished last line (and the event being built) between feeds.

- Lines end with CRLF, LF or CR. A CR ending one chunk and an LF starting the next are one line
  end, so the parser remembers a trailing CR and drops the LF that may follow.
- `:` lines are comments; `data` lines are joined with LF; one space after the colon is removed;
  `event` names the event; `id`, `retry` and unknown fields are ignored.
- A blank line dispatches the event if it had data (an event without data is dropped).
- A leading UTF-8 BOM is ignored.
"""

from __future__ import annotations

from typing import Final

SseEvent = tuple[bytes | None, bytes]
"""(event name or None when the event had no `event:` field, data)."""

_BOM: Final = b"\xef\xbb\xbf"
_NO_EVENTS: Final[list[SseEvent]] = []
# One line longer than this is dropped (skipped up to its end): a copy parser must not let a
# broken upstream make it buffer without bound.
MAX_LINE_BYTES: Final = 64 << 20


class SseParser:
    """Feed raw chunks, get back the events they complete."""

    __slots__ = ("_bom_pending", "_cr", "_data", "_event", "_skipping", "_tail", "_tail_size")

    def __init__(self) -> None:
        self._tail: list[bytes] = []  # pieces of the unfinished last line, joined when it ends
        self._tail_size = 0
        self._cr = False  # the last chunk ended with CR: an LF opening the next one is its pair
        self._bom_pending = True
        self._skipping = False  # inside an over-long line, dropped up to its end
        self._event: bytes | None = None
        # The event's data so far; None until a data line came (an event without one is not
        # dispatched). Kept as bytes, not a list: events almost always have one data line.
        self._data: bytes | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events completed by `chunk`, in order (the returned list must not be kept)."""
        if self._cr or self._bom_pending:
            chunk = self._prologue(chunk)
        # `int in bytes` is a memchr; `b"\n" in bytes` goes through a much slower generic path.
        if 13 in chunk:  # CR or CRLF line ends (Gemini's CRLF): splitlines() knows all three
            return self._split_universal(chunk)
        if 10 not in chunk:
            self._keep(chunk)  # no line ends here: nothing to split yet
            return _NO_EVENTS
        lines = (self._join_tail(chunk) if self._tail else chunk).split(b"\n")
        last = lines.pop()  # b"" when the chunk ends with its line end
        if last or self._skipping:
            return self._finish(lines, last)
        return self._lines(lines)  # the common case: whole lines, nothing to keep

    def pending(self) -> SseEvent | None:
        """The event that the end of the stream would complete, if it ended now.

        WHATWG drops an event without its final blank line, but the Anthropic and OpenAI SDK
        decoders flush it at EOF, and a last chunk without the blank line still carries the final
        usage; the readers try it on a copy of their state. Nothing is consumed.
        """
        event, data = self._event, self._data
        if self._tail and not self._skipping:
            event, data = _field_line(b"".join(self._tail), event, data)
        return None if data is None else (event, data)

    def _prologue(self, chunk: bytes) -> bytes:
        if self._cr and chunk:  # (an empty chunk must not break up a CR and its LF)
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        return self._strip_bom(chunk) if self._bom_pending else chunk

    def _split_universal(self, chunk: bytes) -> list[SseEvent]:
        buf = self._join_tail(chunk)
        lines = buf.splitlines()  # bytes.splitlines splits on LF, CR and CRLF only
        last = buf[-1]
        self._cr = last == 13
        # splitlines() drops the piece after a final line end; one without it is the tail.
        return self._finish(lines, b"" if last in (10, 13) else lines.pop())

    def _join_tail(self, chunk: bytes) -> bytes:
        if not self._tail:
            return chunk
        buf = b"".join((*self._tail, chunk))
        self._tail = []
        self._tail_size = 0
        return buf

    def _finish(self, lines: list[bytes], last: bytes) -> list[SseEvent]:
        if self._skipping:
            # The first line is the end of an over-long one, not a line of its own: drop it.
            self._skipping = False
            del lines[0]
        if last:
            self._keep(last)
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[SseEvent]:
        out: list[SseEvent] = []
        event, data = self._event, self._data
        for line in lines:
            if not line:
                if data is not None:
                    out.append((event, data))
                    data = None
                event = None
            elif line[:6] == b"data: ":  # the common cases, without partition()
                data = line[6:] if data is None else data + b"\n" + line[6:]
            elif line[:7] == b"event: ":
                event = line[7:] or None
            else:
                event, data = _field_line(line, event, data)
        self._event, self._data = event, data
        return out

    def _keep(self, piece: bytes) -> None:
        if self._skipping or not piece:
            return
        self._tail_size += len(piece)
        if self._tail_size > MAX_LINE_BYTES:
            self._tail = []
            self._tail_size = 0
            self._skipping = True
            return
        self._tail.append(piece)

    def _strip_bom(self, chunk: bytes) -> bytes:
        head = self._join_tail(chunk)
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._keep(head)
            return b""  # could still become a BOM: wait for more
        self._bom_pending = False
        return head[len(_BOM) :] if head.startswith(_BOM) else head


def _field_line(
    line: bytes, event: bytes | None, data: bytes | None
) -> tuple[bytes | None, bytes | None]:
    """Apply one non-blank line to the event being built: (event name, data) after it."""
    if line[:1] == b":":
        return event, data
    name, _, value = line.partition(b":")
    if value[:1] == b" ":
        value = value[1:]
    if name == b"data":
        return event, value if data is None else data + b"\n" + value
    if name == b"event":
        return value or None, data
    return event, data
