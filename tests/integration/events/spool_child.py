"""A worker-like process: spools N events (NATS unreachable), reports their ids, then waits to be
killed. Run: python -m tests.integration.events.spool_child <spool_dir> <nats_url> <count>."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from gateway.adapters.events.config import NatsPublisherConfig
from gateway.adapters.events.nats_publisher import NatsJetStreamPublisher
from tests.unit.events.samples import sample_event


async def main(spool_dir: str, url: str, count: int) -> None:
    config = NatsPublisherConfig(
        url=url,
        stream="UNUSED",
        subject_prefix="unused",
        duplicate_window=120.0,
        max_age=3600.0,
        max_bytes=2**20,
        queue_size=10000,
        spool_dir=Path(spool_dir),
        spool_max_bytes=2**24,
        connect_timeout=0.2,
        publish_timeout=1.0,
    )
    publisher = NatsJetStreamPublisher(config)
    await publisher.start()
    for i in range(count):
        event = sample_event(i)
        publisher.publish(event)
        print(event.id, flush=True)
    for _ in range(100):  # bounded: 5 s
        if publisher.spooled == count and publisher.queue_depth == 0:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # past a flush interval: the lines are in the file
    print("spooled", flush=True)
    await asyncio.sleep(30)  # the test SIGKILLs us long before


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
