"""The request-log event: one per relayed request (contract: "Request-log event").

A slotted dataclass, because one is built on every request: constructing it costs a fraction of
a pydantic model's validation (and half of a frozen dataclass's). Treat it as immutable. Its
JSON (`to_json`, orjson: RFC 3339 timestamps, enums as their values) and its validation for
consumers (`RequestLogEvent.from_json`, a pydantic TypeAdapter over the same class)
keep the one schema in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Literal

import orjson
from pydantic import TypeAdapter

from gateway.domain.outcome import Outcome
from gateway.domain.provider import Provider
from gateway.domain.usage import Usage


@dataclass(slots=True, kw_only=True)
class EventUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0

    @classmethod
    def of(cls, usage: Usage) -> EventUsage:
        # Field by field: `**usage.as_dict()` builds and unpacks a dict per request.
        return cls(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            total_tokens=usage.total_tokens,
        )


@dataclass(slots=True, kw_only=True)
class EventError:
    type: str
    message: str


@dataclass(slots=True, kw_only=True)
class RequestLogEvent:
    """What happened to one request. Never holds a key or a body."""

    id: str
    ts: datetime  # when the request arrived, UTC
    provider: Provider
    operation: str
    route: str  # the route template, e.g. /v1beta/models/{model}:{action}
    method: str
    model: str | None
    stream: bool
    status: int
    outcome: Outcome
    latency_ms: float
    ttft_ms: float | None  # None when not streamed
    usage: EventUsage = field(default_factory=EventUsage)
    caller: str | None  # key fingerprint
    upstream: Literal["new-api", "direct"]
    upstream_request_id: str | None
    client_ip: str | None
    user_agent: str | None
    bytes_in: int
    bytes_out: int
    error: EventError | None = None
    # Beyond the contract's fields: exact accounting and the gateway's own overhead.
    upstream_ms: float = 0.0  # time spent waiting on the upstream
    usage_partial: bool = False  # the request ended before the provider's final usage
    usage_estimated: bool = False  # part of `usage` is the gateway's documented estimate
    # How the body itself said it ended: "end_turn", "stop", "completed", "incomplete",
    # "max_tokens", "STOP"... (tells an incomplete Responses answer from a complete one).
    terminal_status: str | None = None

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    def to_dict(self) -> dict[str, Any]:
        """The event as its JSON document (what consumers read)."""
        document: dict[str, Any] = orjson.loads(self.to_json())
        return document

    @classmethod
    def from_json(cls, data: str | bytes) -> RequestLogEvent:
        """Parse and validate an event as published (for consumers and tests)."""
        return _adapter().validate_json(data)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        return _adapter().json_schema()


@cache
def _adapter() -> TypeAdapter[RequestLogEvent]:
    return TypeAdapter(RequestLogEvent)
