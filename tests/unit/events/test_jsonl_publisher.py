"""The JSONL publisher: same JSON as the stream, whole lines, several writers on one file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gateway.adapters.events.jsonl_publisher import JsonlEventPublisher
from tests.unit.events.samples import sample_event


async def test_events_are_appended_as_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "events.jsonl"
    publisher = JsonlEventPublisher(path, flush_interval=0.02)
    await publisher.start()
    events = [sample_event(i) for i in range(3)]
    for event in events:
        publisher.publish(event)
    await asyncio.sleep(0.1)  # the background flush, not close(), wrote them
    assert len(path.read_bytes().splitlines()) == 3
    await publisher.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == [e.to_dict() for e in events]
    assert publisher.published == 3 and (await publisher.readiness())[0] is False


async def test_two_writers_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    writers = [JsonlEventPublisher(path, flush_interval=0.001) for _ in range(2)]
    for writer in writers:
        await writer.start()
    for i in range(2000):
        writers[i % 2].publish(sample_event(i))
        if i % 100 == 0:
            await asyncio.sleep(0)
    for writer in writers:
        await writer.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 2000
    assert len({json.loads(line)["id"] for line in lines}) == 2000


async def test_buffer_bound_drops_with_a_counter(tmp_path: Path) -> None:
    publisher = JsonlEventPublisher(tmp_path / "e.jsonl", max_buffered=2)
    for i in range(3):  # not started: nothing is written, the buffer fills
        publisher.publish(sample_event(i))
    assert publisher.dropped == 1
