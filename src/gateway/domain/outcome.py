"""How a relayed request ended (the event's and the usage record's `outcome`)."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"  # the upstream answered 2xx and the body reached its end
    UPSTREAM_ERROR = (
        "upstream_error"  # upstream 4xx/5xx, unreachable, cut off, or an error in a 200 stream
    )
    CLIENT_ERROR = "client_error"  # the gateway refused a malformed request (400/404/413)
    CLIENT_CANCELLED = "client_cancelled"  # the client went away before the end
    # The upstream was silent past upstreams.read_timeout, or the response was still being
    # written past server.http.write_timeout.
    TIMEOUT = "timeout"
    # Billing refused it (401/429/503), or the gateway has no key to relay it with (500).
    REJECTED = "rejected"
