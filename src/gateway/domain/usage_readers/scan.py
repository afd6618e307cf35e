"""Small JSON helpers for the readers: tolerant field access and cheap byte-level looks.

The byte-level helpers rely on one property of JSON text: a `"key"` with unescaped quotes on both
sides cannot occur inside a string value (inner quotes are escaped), so finding one finds a real
key (or a whole string value, which a following `:` rules out).
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

JsonObject = dict[str, Any]

# What a reader may raise on well-formed JSON of an unexpected shape; it skips that event.
MALFORMED: Final = (ValueError, TypeError, KeyError, IndexError, AttributeError)

_TYPE_FIRST: Final = re.compile(rb'\s*\{\s*"type"\s*:\s*"([^"\\]*)"')
_COLON_BRACE: Final = re.compile(rb"\s*:\s*\{")


def loads_object(data: bytes | bytearray | memoryview) -> JsonObject | None:
    """The JSON object in `data`, or None if it is not valid JSON or not an object."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def as_int(value: object) -> int:
    """A token count: null, missing, negative or non-numeric values count as 0."""
    if type(value) is int:
        return value if value > 0 else 0
    if isinstance(value, float) and 0 < value < 1e18:  # also rules out NaN and inf
        return int(value)
    return 0


def get_dict(obj: JsonObject, key: str) -> JsonObject:
    """obj[key] when it is an object, else an empty dict (null and missing look alike)."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def get_str(obj: JsonObject, key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def utf8_len(text: str) -> int:
    # isascii() is O(1) on CPython's compact strings: the encode is only paid for non-ASCII.
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def event_type(name: bytes | None, data: bytes) -> bytes | None:
    """The SSE event's type: its `event:` name, else the payload's "type" (read cheaply)."""
    if name is not None:
        return name
    match = _TYPE_FIRST.match(data)
    if match is not None:
        return match.group(1)
    obj = loads_object(data)  # "type" is not the first key: pay for a full parse
    kind = obj.get("type") if obj is not None else None
    return kind.encode() if isinstance(kind, str) else None


def object_after_key(buf: bytes, key: bytes, from_end: bool = False) -> JsonObject | None:
    """The JSON object that is the value of `"key"` in `buf` (a fragment of a larger document).

    The end is found by trying each `}` in turn: only the matching one makes a valid document.
    Meant for small, shallow objects (usage counts) in bodies too large to parse whole.
    """
    quoted = b'"' + key + b'"'
    at = buf.rfind(quoted) if from_end else buf.find(quoted)
    if at < 0:
        return None
    match = _COLON_BRACE.match(buf, at + len(quoted))
    if match is None:
        return None
    start = match.end() - 1
    end = buf.find(b"}", start)
    for _ in range(16):  # a usage object nests a level or two: a few closing braces at most
        if end < 0:
            return None
        obj = loads_object(buf[start : end + 1])
        if obj is not None:
            return obj
        end = buf.find(b"}", end + 1)
    return None
