"""The relay use-case's input and its configuration."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from gateway.domain.provider import Provider
from gateway.domain.routes import Route
from gateway.domain.secrets import Secret


class Headers(Protocol):
    """Request headers. `get` is case-insensitive (a plain dict must use lower-case names)."""

    def get(self, key: str, /) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


@dataclass(slots=True, kw_only=True)  # built per request: not frozen, cheaper (treat as immutable)
class RelayCommand:
    route: Route
    route_name: str  # the route template, for logs and events
    method: str
    query: str  # raw query string, without '?'
    headers: Headers
    body: bytes  # content-decoded request body
    request_id: str
    bytes_in: int = -1  # bytes on the wire; -1: same as len(body)
    client_ip: str | None = None
    # The gateway's own public origin ("https://gw.example.com"), for URLs the gateway rewrites.
    public_origin: str | None = None


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    base_url: str  # scheme://host[:port][/prefix], no trailing slash
    api_key: Secret = field(default_factory=lambda: Secret(""))


@dataclass(frozen=True, slots=True, kw_only=True)
class RelaySettings:
    # Set: every request goes to new-api. Its api_key, when set, replaces the client's credential.
    new_api: UpstreamTarget | None
    direct: Mapping[Provider, UpstreamTarget]
    # Ask OpenAI streams for usage on the client's behalf (when billing needs it) and hide the
    # extra usage chunk from clients that did not ask for it.
    openai_include_usage: bool = True
    # No key configured for the upstream (a provider in direct mode, or new-api): the caller's
    # own credential goes in its place (bring your own key; new-api's own tokens). False when
    # the gateway issued the callers' keys (billing local): such a request is refused
    # (NoUpstreamKey) instead.
    forward_caller_keys: bool = True
    # Non-streamed bodies up to this size are read whole and answered with a Content-Length.
    buffer_limit: int = 4 * 1024 * 1024
