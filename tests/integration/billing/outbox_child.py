"""A gateway stand-in for the SIGKILL test: records usage while billing is down, then waits.

python -m tests.integration.billing.outbox_child URL OUTBOX_DIR COUNT
Prints "stored" once every record is in the outbox; the test then kills it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gateway.adapters.billing.http_billing import HttpBilling
from gateway.domain.secrets import Secret
from tests.integration.billing.conftest import http_settings
from tests.unit.billing.helpers import usage_record


async def run(url: str, outbox_dir: str, count: int) -> None:
    billing = HttpBilling(http_settings(url, Path(outbox_dir), api_key=Secret("unused")))
    await billing.start()
    for i in range(count):
        await billing.record(usage_record(f"killed{i}", "gw-killed-key"))
    assert billing.outbox.pending == count
    print("stored", flush=True)
    await asyncio.sleep(3600)  # killed long before


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], sys.argv[2], int(sys.argv[3])))
