"""A process SIGKILLed with usage records in its outbox: the next process delivers them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.adapters.billing.http_billing import HttpBilling
from gateway.devtools.billing_server import BillingServer
from tests.integration.billing.test_http_billing import wait_until

ROOT = Path(__file__).resolve().parents[3]


async def test_records_of_a_killed_process_are_delivered_after_restart(
    billing_server: BillingServer, make_http_billing: Callable[..., HttpBilling], tmp_path: Path
) -> None:
    url = billing_server.url
    await billing_server.stop()  # billing down while the "gateway" runs
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.billing.outbox_child",
        url,
        str(tmp_path / "outbox"),
        "25",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(20):
            assert child.stdout is not None
            assert (await child.stdout.readline()).strip() == b"stored"
    finally:
        child.send_signal(signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    assert list((tmp_path / "outbox").glob("outbox-*.jsonl"))

    await billing_server.start()  # billing back; a new gateway process starts
    billing = make_http_billing()
    await billing.start()
    await wait_until(lambda: len(billing_server.usage) == 25)
    await wait_until(lambda: billing.outbox.pending == 0)
    assert set(billing_server.usage) == {f"killed{i}" for i in range(25)}
    assert billing_server.usage_posts == 25  # each delivered once
