"""Which headers cross the gateway, in each direction."""

from __future__ import annotations

from collections.abc import Iterable

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


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    tokens: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            tokens.update(t.strip().lower() for t in value.split(","))
    return frozenset(tokens)


def upstream_headers(
    headers: Iterable[tuple[str, str]], extra_drop: frozenset[str] = frozenset()
) -> list[tuple[str, str]]:
    """The client's headers that may go upstream (credentials removed, hop-by-hop removed)."""
    pairs = list(headers)
    drop = _DROP_UPSTREAM | extra_drop
    named = _connection_tokens(pairs)
    return [(n, v) for n, v in pairs if (low := n.lower()) not in drop and low not in named]


def downstream_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The upstream's response headers that go back to the client (framing is the server's)."""
    pairs = list(headers)
    named = _connection_tokens(pairs)
    return [
        (n, v) for n, v in pairs if (low := n.lower()) not in _DROP_DOWNSTREAM and low not in named
    ]


def header_value(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    for n, v in headers:
        if n.lower() == name:
            return v
    return None
