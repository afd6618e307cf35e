"""Hides what the gateway added to an OpenAI stream for its own accounting.

When the client did not ask for `stream_options.include_usage`, the relay asks for it anyway (to
bill exactly) and then removes, on event boundaries, the extra chunk with `"choices":[]` and a
usage object, and the `"usage":null` member the option adds to every other chunk. The client
sees the stream it asked for.
"""

from __future__ import annotations

import re

# An event ends at a blank line; OpenAI frames with LF, CRLF is accepted too.
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_NULL_USAGE = (b',"usage":null', b'"usage":null,')


class OpenAIUsageChunkFilter:
    def __init__(self) -> None:
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._pending + chunk if self._pending else chunk
        last_end = 0
        for match in _EVENT_END.finditer(data):
            last_end = match.end()
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
        if b'"usage"' not in block:
            return block
        out: list[bytes] = []
        position = 0
        for match in _EVENT_END.finditer(block):
            out.append(_filter_event(block[position : match.end()]))
            position = match.end()
        if position < len(block):
            out.append(_filter_event(block[position:]))
        return b"".join(out)


def _filter_event(event: bytes) -> bytes:
    if b'"usage":{' in event and b'"choices":[]' in event:
        return b""  # the usage-only chunk the client did not ask for
    for member in _NULL_USAGE:
        if member in event:
            return event.replace(member, b"", 1)
    return event
