"""A process SIGKILLed with events in its spool: the next start replays them, exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from gateway.adapters.events.config import NatsPublisherConfig
from gateway.adapters.events.nats_publisher import NatsJetStreamPublisher
from gateway.devtools.loopback import NatsServer
from tests.integration.events.conftest import StreamReader

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def spool_in_child(
    spool_dir: Path, url: str, count: int
) -> tuple[subprocess.Popen[str], list[str]]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.events.spool_child",
            str(spool_dir),
            url,
            str(count),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    ids: list[str] = []
    for line in child.stdout:  # bounded: the child prints count ids, then "spooled", then waits
        if line.strip() == "spooled":
            return child, ids
        ids.append(line.strip())
    child.kill()
    child.stdout.close()
    raise AssertionError(f"child ended early: {child.wait(5)}")


async def test_spool_of_a_killed_process_is_replayed_by_the_next_one(
    nats_server: NatsServer, publisher_config: NatsPublisherConfig, stream: StreamReader
) -> None:
    nats_server.stop()
    child, ids = spool_in_child(publisher_config.spool_dir, nats_server.url, 250)
    try:
        nats_server.start()
        # While its writer lives, a segment is locked: another worker must leave it alone.
        sibling = NatsJetStreamPublisher(publisher_config)
        await sibling.start()
        assert sibling.spool_depth_bytes == 0
        await sibling.close()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        assert child.stdout is not None
        child.stdout.close()
    assert await stream.messages() == []
    publisher = NatsJetStreamPublisher(publisher_config)
    await publisher.start()
    stored = await stream.wait_for_count(250)
    await publisher.close()
    assert sorted(e["id"] for e in stored) == sorted(ids)
    assert list(publisher_config.spool_dir.glob("*.spool")) == []
    # And a restart after that replays nothing again.
    again = NatsJetStreamPublisher(replace(publisher_config))
    await again.start()
    await again.close()
    assert len(await stream.messages()) == 250
