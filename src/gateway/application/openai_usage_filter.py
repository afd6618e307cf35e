"""Hides what the gateway added to an OpenAI stream for its own accounting.

When the client did not ask for `stream_options.include_usage`, the relay asks for it anyway (to
bill exactly) and then removes, on event boundaries, the extra chunk with `"choices":[]` and a
usage object, and the `"usage":null` member the option adds to every other chunk. The client
sees the stream it asked for.
"""

from __future__ import annotations

import re

# An event ends at a blank line; OpenAI frames with LF, CRLF and CR are accepted too. A chunk
# without CR (what OpenAI sends) is framed with bytes.find/rfind, a C search: the regex's scan
# tried three alternatives at every byte, 2-3 µs for a 250-byte chunk, twice per chunk.
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_LF_END = b"\n\n"
_NULL_USAGE = (b',"usage":null', b'"usage":null,')


class OpenAIUsageChunkFilter:
    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        if not self._pending and _one_event(chunk):  # the usual chunk: one whole event
            return _filter_event(chunk)
        data = self._pending + chunk if self._pending else chunk
        last_end = _last_event_end(data)
        if last_end == 0:
            self._pending = data
            return b""
        self._pending = data[last_end:]
        return self._filter_events(data[:last_end])

    def flush(self) -> bytes:
        rest, self._pending = self._pending, b""
        return self._filter_events(rest) if rest else b""

    @staticmethod
    def _filter_events(block: bytes) -> bytes:
        if block.rfind(b'"usage"') < 0:  # from the end: OpenAI writes "usage" last
            return block
        if _one_event(block):
            return _filter_event(block)
        out: list[bytes] = []
        position = 0
        for match in _EVENT_END.finditer(block):
            out.append(_filter_event(block[position : match.end()]))
            position = match.end()
        if position < len(block):
            out.append(_filter_event(block[position:]))
        return b"".join(out)


def _one_event(data: bytes) -> bool:
    """`data` is one single-line, LF-framed event: its first LF is its last line's end. (A
    one-byte find is a memchr; a search for b"\n\n" costs 15 times as much.)"""
    return 13 not in data and data.find(b"\n") == len(data) - 2 and data[-1:] == b"\n"


def _last_event_end(data: bytes) -> int:
    """Where the last complete event of `data` ends; 0 when none has."""
    if 13 not in data:  # no CR (`int in bytes` is a memchr)
        at = data.rfind(_LF_END)
        return 0 if at < 0 else at + 2
    last_end = 0
    for match in _EVENT_END.finditer(data):
        last_end = match.end()
    return last_end


def _filter_event(event: bytes) -> bytes:
    # Searched from the end, where OpenAI writes "usage". An unescaped `"usage":` cannot occur
    # inside a string value, so the one found is the member; null on every chunk but the last.
    if event.rfind(b'"usage"') < 0:  # a failed rfind of each member would scan it all
        return event
    for member in _NULL_USAGE:
        at = event.rfind(member)
        if at >= 0:
            return event[:at] + event[at + len(member) :]
    if b'"usage":{' in event and b'"choices":[]' in event:
        return b""  # the usage-only chunk the client did not ask for
    return event
