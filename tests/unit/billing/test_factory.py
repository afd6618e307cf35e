"""billing_for picks the adapter billing.mode names, each startable, closable and probed."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.adapters.billing.factory import billing_for
from gateway.adapters.billing.http_billing import HttpBilling
from gateway.adapters.billing.local_ledger import LocalBilling
from gateway.settings import parse_settings


@pytest.mark.parametrize(
    ("mode", "kind", "needs_usage"),
    [("disabled", None, False), ("local", LocalBilling, True), ("http", HttpBilling, True)],
)
async def test_billing_for_each_mode(
    tmp_path: Path, mode: str, kind: type | None, needs_usage: bool
) -> None:
    settings = parse_settings(
        {
            "billing": {
                "mode": mode,
                "url": "http://127.0.0.1:9",  # nothing listens: http is unreachable
                "local_db": str(tmp_path / "ledger.sqlite3"),
                "outbox_dir": str(tmp_path / "outbox"),
                "authorize_timeout": "200ms",
            }
        },
        env={},
    )
    billing = billing_for(settings)
    if kind is not None:
        assert isinstance(billing, kind)
    assert billing.needs_usage is needs_usage
    await billing.start()
    try:
        ready, details = await billing.readiness()
    finally:
        await billing.close()
    assert details["mode"] == mode
    assert ready is (mode != "http")  # fail_open is off and the service is unreachable
