"""The library example runs offline against the fake provider."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson
import pytest

from tests.integration.batch.helpers import ROOT, batch_env

pytestmark = pytest.mark.integration


async def test_the_example_relays_and_logs_one_event_per_request(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "examples" / "relay_from_script.py"), "--fake-provider",
        "--events", str(events), cwd=ROOT, env=batch_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 0, stderr.decode()
    assert b"batch: 2 succeeded, 0 failed" in stdout
    logged = [orjson.loads(line) for line in events.read_bytes().splitlines()]
    assert sorted(e["provider"] for e in logged) == ["claude", "gemini", "openai"]
    assert all(e["outcome"] == "ok" for e in logged)
