"""Incremental splitting of a streamed top-level JSON array (Gemini without `alt=sse`).

Gemini streams `[{...}\\n,\\r\\n{...}\\n]`, cut anywhere by the network. The splitter hands
back each top-level element object as soon as its closing brace arrives (a bare top-level
object, such as an error body, counts as one element).

Only braces, brackets and strings matter for finding an element's end. A possessive regex skips
everything else, whole strings included, inside the C regex engine, so Python code runs once per
brace or bracket, never per byte. A string cut by a chunk boundary is resumed where the scan
stopped, so a long string arriving in many chunks is not scanned again from its start.

Upstreams flush one element per chunk (`[{...}`, then `\n,\r\n{...}`, then `\n]`), so before
scanning, `take_whole` tries the chunk as exactly one element: trimmed of its separators it must
parse as one JSON object, which orjson decides in one C call. That is the usual case, and it
hands back the parsed object, which the reader needs anyway. The scan (a regex call per brace
or bracket: about ten per Gemini answer) is left for chunks cut inside or between elements.
"""

from __future__ import annotations

import re
from typing import Final

from gateway.domain.usage_readers.scan import JsonObject, loads_object

# Skips non-structural bytes and complete strings; stops at a brace, a bracket, the opening
# quote of a string that has not ended yet, or the end of the buffer.
_SKIP: Final = re.compile(rb'(?:[^"{}\[\]]++|"(?:[^"\\]++|\\.)*+")*+', re.DOTALL)
# The same, up to and including the next brace or bracket: one regex call per structural byte.
_TOKEN: Final = re.compile(rb'(?:[^"{}\[\]]++|"(?:[^"\\]++|\\.)*+")*+[{}\[\]]', re.DOTALL)
# Skips the rest of a string up to its closing quote (or to a lone trailing backslash).
_STRING_REST: Final = re.compile(rb'(?:[^"\\]++|\\.)*+', re.DOTALL)
_QUOTE, _LBRACE, _LBRACKET = 0x22, 0x7B, 0x5B
_NONE: Final[list[bytes]] = []
# One element larger than this stops the splitter for good (nothing more is reported): a copy
# parser must not buffer without bound.
MAX_ELEMENT_BYTES: Final = 64 << 20


class JsonArraySplitter:
    """Feed raw chunks, get back the complete top-level element objects they finish."""

    __slots__ = ("_base", "_broken", "_buf", "_depth", "_in_string", "_pos", "_start")

    def __init__(self) -> None:
        self._buf = bytearray()  # from the start of the element being read (or the scan point)
        self._pos = 0  # where scanning resumes in _buf
        self._depth = 0
        self._start = -1  # where the current element starts in _buf; -1 between elements
        self._base = 0  # the depth its opening brace was at (1 inside the array, 0 if bare)
        self._in_string = False
        self._broken = False

    def take_whole(self, chunk: bytes) -> JsonObject | None:
        """The element object `chunk` holds whole, with nothing else but the separators around
        it (`[` or `,` before, `,` or `]` after, whitespace), when the splitter is between
        elements; None otherwise, with nothing consumed (then `feed` the chunk)."""
        if self._buf or self._start >= 0 or self._in_string or self._broken or self._depth > 1:
            return None  # inside an element or a nested array: only the scan knows where
        depth = self._depth
        body = chunk.strip()
        if body[:1] != b"{":
            if depth == 0 and body[:1] == b"[":
                depth = 1
            elif depth != 1 or body[:1] != b",":
                return None
            body = body[1:].lstrip()
        if body[-1:] != b"}":
            if depth != 1 or body[-1:] not in (b",", b"]"):
                return None
            depth = 0 if body[-1:] == b"]" else 1
            body = body[:-1].rstrip()
        if body[:1] != b"{" or body[-1:] != b"}":
            return None
        obj = loads_object(body)  # exactly one object, or None: two elements do not parse
        if obj is not None:
            self._depth = depth
        return obj

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._broken or not chunk:
            return _NONE
        self._buf += chunk
        out: list[bytes] = []
        self._scan(out)
        self._compact()
        if len(self._buf) > MAX_ELEMENT_BYTES:
            self._broken = True
            self._buf = bytearray()
        return out

    def _scan(self, out: list[bytes]) -> None:
        buf, pos = self._buf, self._pos
        if self._in_string:  # resume the string the last chunk cut, where its scan stopped
            pos = _match_end(_STRING_REST, buf, pos)
            if pos >= len(buf) or buf[pos] != _QUOTE:
                self._pos = pos
                return
            pos += 1
            self._in_string = False
        depth, start, base = self._depth, self._start, self._base
        token = _TOKEN.match
        while (match := token(buf, pos)) is not None:
            pos = match.end()
            char = buf[pos - 1]
            if char in (_LBRACE, _LBRACKET):
                if start < 0 and depth <= 1 and char == _LBRACE:
                    start, base = pos - 1, depth
                depth += 1
            else:
                depth = depth - 1 if depth > 0 else 0
                if depth == base and start >= 0:
                    out.append(bytes(buf[start:pos]))
                    start = -1
        self._depth, self._start, self._base = depth, start, base
        self._skip_tail(pos)

    def _skip_tail(self, pos: int) -> None:
        """Move past what follows the last brace; an unfinished string is entered, not rescanned."""
        buf = self._buf
        pos = _match_end(_SKIP, buf, pos)
        if pos < len(buf):  # stopped at the opening quote of a string that goes on
            pos = _match_end(_STRING_REST, buf, pos + 1)
            self._in_string = True
        self._pos = pos

    def _compact(self) -> None:
        # Keep only the unfinished element (or nothing): the buffer never holds more than one.
        cut = self._start if self._start >= 0 else self._pos
        if cut > 0:
            del self._buf[:cut]
            self._pos -= cut
            if self._start >= 0:
                self._start = 0


def _match_end(pattern: re.Pattern[bytes], buf: bytearray, pos: int) -> int:
    match = pattern.match(buf, pos)
    return match.end() if match is not None else pos
