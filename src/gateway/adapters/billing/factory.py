"""The billing adapter `billing.mode` asks for, with the lifecycle the container drives."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from gateway.adapters.billing.disabled import DisabledBilling
from gateway.adapters.billing.http_billing import HttpBilling, HttpBillingSettings
from gateway.adapters.billing.local_ledger import LocalBilling, LocalBillingSettings
from gateway.domain.ports.billing import AuthorizationRequest, Decision, UsageRecord
from gateway.domain.secrets import Secret
from gateway.settings import Settings


class ManagedBilling(Protocol):
    """A Billing (domain/ports/billing.py) that the container starts and closes."""

    @property
    def needs_usage(self) -> bool: ...

    async def authorize(self, request: AuthorizationRequest) -> Decision: ...

    def expect(self, record: UsageRecord) -> None: ...

    async def record(self, record: UsageRecord) -> None: ...

    async def record_many(self, records: Sequence[UsageRecord]) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def readiness(self) -> tuple[bool, dict[str, object]]: ...


class ManagedDisabledBilling(DisabledBilling):
    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        return True, {"mode": "disabled"}


def billing_for(settings: Settings) -> ManagedBilling:
    billing = settings.billing
    outbox = Path(billing.outbox_dir)
    if billing.mode == "local":
        return LocalBilling(
            LocalBillingSettings(
                db_path=Path(billing.local_db),
                # Its own subdirectory: a switch of mode never sends one mode's leftovers to
                # the other's store.
                outbox_dir=outbox / "local",
                multipliers=dict(billing.model_multipliers),
            )
        )
    if billing.mode == "http":
        return HttpBilling(
            HttpBillingSettings(
                url=billing.url,
                api_key=Secret(billing.api_key.get_secret_value()),
                authorize_timeout=billing.authorize_timeout,
                fail_open=billing.fail_open,
                outbox_dir=outbox / "http",
            )
        )
    return ManagedDisabledBilling()
