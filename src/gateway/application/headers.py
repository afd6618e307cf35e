"""Which headers cross the gateway, in each direction."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.application.relay_command import Headers

# RFC 9110 7.6.1, plus headers the HTTP client or server recomputes itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)

# Never forwarded upstream: recomputed (host, length, encodings), the client's credentials (the
# relay sets the upstream's), and what identifies the client's own account or browser session.
_DROP_UPSTREAM = HOP_BY_HOP | {
    "host",
    "content-length",
    "content-encoding",
    "accept-encoding",
    "authorization",
    "x-api-key",
    "x-goog-api-key",
    "cookie",
    "expect",
}

# The client's OpenAI account scoping is meaningless with the gateway's own key (protocols 2.1).
OPENAI_ACCOUNT_HEADERS = frozenset({"openai-organization", "openai-project"})

_DROP_DOWNSTREAM = HOP_BY_HOP | {"content-length", "set-cookie", "alt-svc", "server", "date"}


def _tokens(connection: str | None) -> frozenset[str]:
    """Header names listed in `Connection`: hop-by-hop too (RFC 9110 7.6.1)."""
    if not connection or connection.lower() in ("keep-alive", "close"):
        return frozenset()
    return frozenset(t.strip().lower() for t in connection.split(","))


def upstream_headers(
    headers: Headers, extra_drop: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """The client's headers that may go upstream (credentials removed, hop-by-hop removed).

    Names must be lower-case, as Sanic gives them.
    """
    drop = _DROP_UPSTREAM | extra_drop if extra_drop else _DROP_UPSTREAM
    named = _tokens(headers.get("connection"))
    if named:
        drop = drop | named
    return [(n, v) for n, v in headers.items() if n not in drop]


class ResponseHeaders:
    """The upstream's response headers read in one pass: what goes back to the client (framing
    is the server's business) and a lower-case index of single values for the relay to read."""

    __slots__ = ("downstream", "index")

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        index: dict[str, str] = {}
        lowered = []
        for name, value in pairs:
            low = name.lower()
            index.setdefault(low, value)
            lowered.append((low, name, value))
        drop = _DROP_DOWNSTREAM | _tokens(index.get("connection"))
        self.index = index
        self.downstream = [(name, value) for low, name, value in lowered if low not in drop]


def header_value(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    for n, v in headers:
        if n.lower() == name:
            return v
    return None
