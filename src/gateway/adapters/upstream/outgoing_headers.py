"""What both upstream clients refuse to send: headers that would not reach the upstream as the
client wrote them, or would reach it as something else (RFC 9110 5.1, 5.5).

Sanic keeps what a client wrote before a header's colon, spaces included ("transfer-encoding "):
an upstream that trims them would frame the request differently from the gateway. A line break
in a value would smuggle in headers of its own; a NUL is never valid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from gateway.domain.errors import InvalidRequest

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_UNSAFE_VALUE = re.compile(r"[\r\n\x00]")
# Names repeat from request to request: each is checked once (a bounded memory).
_TOKENS_SEEN: set[str] = set()
_TOKENS_KEPT = 4096

LINE_BREAK_OR_NUL = "a header holds a line break or a NUL"


def check_names(headers: Sequence[tuple[str, str]]) -> None:
    """Raises InvalidRequest unless every name is a token."""
    for name, _ in headers:
        if name in _TOKENS_SEEN:
            continue
        if _TOKEN.fullmatch(name) is None:
            raise InvalidRequest("a header name is not a token (RFC 9110 5.1)")
        if len(_TOKENS_SEEN) < _TOKENS_KEPT:
            _TOKENS_SEEN.add(name)


def check_values(headers: Sequence[tuple[str, str]]) -> None:
    """Raises InvalidRequest if a value holds CR, LF or NUL (the HTTP/1.1 client checks its
    joined header block at once instead)."""
    for _, value in headers:
        if _UNSAFE_VALUE.search(value) is not None:
            raise InvalidRequest(LINE_BREAK_OR_NUL)
