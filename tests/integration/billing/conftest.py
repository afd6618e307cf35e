"""The reference billing server, running for real on loopback, and an HttpBilling in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest_asyncio

from gateway.adapters.billing.http_billing import HttpBilling, HttpBillingSettings
from gateway.adapters.billing.outbox import OutboxTuning
from gateway.devtools.billing_server import BillingServer, start_billing_server
from gateway.domain.secrets import Secret

SERVICE_KEY = "billing-service-SECRET"
FAST_OUTBOX = OutboxTuning(backoff_base=0.05, backoff_cap=0.2, adopt_interval=0.2)


def http_settings(url: str, outbox_dir: Path, **overrides: object) -> HttpBillingSettings:
    values: dict[str, object] = {
        "url": url,
        "api_key": Secret(SERVICE_KEY),
        "authorize_timeout": 0.5,
        "fail_open": False,
        "outbox_dir": outbox_dir,
        "record_timeout": 0.5,
        "outbox": FAST_OUTBOX,
        **overrides,
    }
    return HttpBillingSettings(**values)  # type: ignore[arg-type]


@pytest_asyncio.fixture
async def billing_server() -> AsyncIterator[BillingServer]:
    server = await start_billing_server(api_key=SERVICE_KEY)
    try:
        yield server
    finally:
        await server.close()


@pytest_asyncio.fixture
async def make_http_billing(
    billing_server: BillingServer, tmp_path: Path
) -> AsyncIterator[Callable[..., HttpBilling]]:
    started: list[HttpBilling] = []

    def make(**overrides: object) -> HttpBilling:
        billing = HttpBilling(http_settings(billing_server.url, tmp_path / "outbox", **overrides))
        started.append(billing)
        return billing

    try:
        yield make
    finally:
        for billing in started:
            await billing.close()
