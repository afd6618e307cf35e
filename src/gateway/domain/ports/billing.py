"""Port: the billing service that checks quota before a request and records usage after it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.domain.caller import Caller
from gateway.domain.errors import GatewayError
from gateway.domain.outcome import Outcome
from gateway.domain.provider import Operation, Provider
from gateway.domain.usage import Usage


@dataclass(slots=True, kw_only=True)  # built per request: not frozen, cheaper (treat as immutable)
class AuthorizationRequest:
    request_id: str
    caller: Caller
    provider: Provider
    operation: Operation
    model: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    # Set when denied: Unauthenticated, QuotaExceeded or BillingUnavailable, rendered to the client.
    denial: GatewayError | None = None
    # Allowed only because billing could not answer and fail_open lets requests through.
    fail_open: bool = False


ALLOW = Decision(True)
ALLOW_FAIL_OPEN = Decision(True, fail_open=True)


@dataclass(slots=True, kw_only=True)  # built per request: not frozen, cheaper (treat as immutable)
class UsageRecord:
    request_id: str
    ts: datetime
    caller_key_hash: str | None
    caller_fingerprint: str | None
    provider: Provider
    operation: Operation
    model: str | None
    usage: Usage
    outcome: Outcome
    status: int
    # The request ended before the provider's final usage: part of `usage` is an estimate.
    partial: bool = False
    estimated: bool = False


class Billing(Protocol):
    @property
    def needs_usage(self) -> bool:
        """Whether usage matters to this billing (the relay then asks OpenAI streams for it)."""
        ...

    async def authorize(self, request: AuthorizationRequest) -> Decision:
        """Allow or deny. Bounded in time; when the service cannot answer, follows fail_open."""
        ...

    def expect(self, record: UsageRecord) -> None:
        """`record` is on its way to `record_many` (queued behind a batch in progress). A
        billing that keeps quotas itself counts it against its key from now on, so that the
        requests that end meanwhile cannot pass a quota it used up."""
        ...

    async def record(self, record: UsageRecord) -> None:
        """Record usage exactly once per request_id. Never loses a record: failures are kept
        durably and retried; a replay of the same request_id is harmless."""
        ...

    async def record_many(self, records: Sequence[UsageRecord]) -> None:
        """`record` for each, as one call: the relay hands over the records of concurrent
        requests together (one commit, one task), with the same guarantees for each."""
        ...
