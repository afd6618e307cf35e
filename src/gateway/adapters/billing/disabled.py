"""billing.mode = disabled: every request is allowed, nothing is charged."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.domain.ports.billing import ALLOW, AuthorizationRequest, Decision, UsageRecord


class DisabledBilling:
    @property
    def needs_usage(self) -> bool:
        return False

    async def authorize(self, request: AuthorizationRequest) -> Decision:
        return ALLOW

    def expect(self, record: UsageRecord) -> None:
        return None

    async def record(self, record: UsageRecord) -> None:
        return None

    async def record_many(self, records: Sequence[UsageRecord]) -> None:
        return None
