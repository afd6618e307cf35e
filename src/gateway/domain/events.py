"""The request-log event: one per relayed request (contract: "Request-log event")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.domain.outcome import Outcome
from gateway.domain.provider import Provider


class EventUsage(BaseModel):
    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0


class EventError(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    message: str


class RequestLogEvent(BaseModel):
    """What happened to one request. Never holds a key or a body."""

    model_config = ConfigDict(frozen=True)

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
    upstream_ms: float = 0.0  # time spent waiting on the upstream (beyond the contract's fields)
    ttft_ms: float | None  # None when not streamed
    usage: EventUsage = Field(default_factory=EventUsage)
    # Extras beyond the contract's fields, for exact accounting.
    usage_partial: bool = False
    usage_estimated: bool = False
    caller: str | None  # key fingerprint
    upstream: Literal["new-api", "direct"]
    upstream_request_id: str | None
    client_ip: str | None
    user_agent: str | None
    bytes_in: int
    bytes_out: int
    error: EventError | None = None

    @property
    def subject_suffix(self) -> str:
        return self.provider.value
