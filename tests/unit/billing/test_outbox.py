"""The durable outbox with an in-memory delivery target: retry, restart replay, dead letter."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from gateway.adapters.billing.outbox import (
    ACKED,
    Delivered,
    DeliveryResult,
    Outbox,
    OutboxTuning,
)
from gateway.adapters.billing.outbox_log import DEAD_LETTER, LOG_GLOB
from tests.waiting import wait_until

FAST = OutboxTuning(backoff_base=0.01, backoff_cap=0.05, adopt_interval=0.05, close_timeout=1.0)


class Target:
    """A billing service in memory: up or down, refusing some ids, counting every attempt."""

    def __init__(self) -> None:
        self.up = True
        self.refused: set[str] = set()
        self.failing: set[str] = set()  # ids the service keeps failing on (5xx)
        self.received: dict[str, bytes] = {}
        self.attempts = 0

    async def deliver(self, request_id: str, body: bytes) -> DeliveryResult:
        self.attempts += 1
        await asyncio.sleep(0)
        if not self.up or request_id in self.failing:
            return DeliveryResult(Delivered.RETRY, "down")
        if request_id in self.refused:
            return DeliveryResult(Delivered.REJECTED, "billing service answered 422")
        self.received.setdefault(request_id, body)
        return ACKED


def body(request_id: str) -> bytes:
    return orjson.dumps({"request_id": request_id, "usage": {"total_tokens": 1}})


async def test_delivered_at_once_leaves_no_file(tmp_path: Path) -> None:
    target = Target()
    outbox = Outbox(tmp_path, target.deliver, FAST)
    await outbox.start()
    await asyncio.gather(*(outbox.submit(f"r{i}", body(f"r{i}")) for i in range(50)))
    assert len(target.received) == 50 and outbox.pending == 0
    await outbox.close()
    assert list(tmp_path.glob(LOG_GLOB)) == []


async def test_records_wait_while_down_and_arrive_once_when_back(tmp_path: Path) -> None:
    target = Target()
    target.up = False
    outbox = Outbox(tmp_path, target.deliver, FAST)
    await outbox.start()
    for i in range(100):
        await outbox.submit(f"r{i}", body(f"r{i}"))
    assert outbox.pending == 100 and not outbox.healthy
    await asyncio.sleep(0.2)  # several retry rounds against the dead target
    target.up = True
    await wait_until(lambda: outbox.pending == 0)
    assert sorted(target.received) == sorted(f"r{i}" for i in range(100))
    await outbox.close()


async def test_a_restarted_process_replays_what_was_left(tmp_path: Path) -> None:
    target = Target()
    target.up = False
    first = Outbox(tmp_path, target.deliver, FAST)
    await first.start()
    for i in range(20):
        await first.submit(f"r{i}", body(f"r{i}"))
    await first.close()  # the service still down: the log stays
    assert len(list(tmp_path.glob(LOG_GLOB))) == 1

    target.up = True
    second = Outbox(tmp_path, target.deliver, FAST)
    await second.start()
    await wait_until(lambda: len(target.received) == 20)
    await second.close()
    assert list(tmp_path.glob(LOG_GLOB)) == []


async def test_a_live_owners_log_is_not_adopted(tmp_path: Path) -> None:
    target = Target()
    target.up = False
    owner = Outbox(tmp_path, target.deliver, FAST)
    await owner.start()
    await owner.submit("mine", body("mine"))
    other = Outbox(tmp_path, target.deliver, FAST)
    await other.start()
    await asyncio.sleep(0.15)
    assert other.pending == 0 and owner.pending == 1
    await other.close()
    await owner.close()


async def test_acknowledged_records_are_not_replayed(tmp_path: Path) -> None:
    target = Target()
    outbox = Outbox(tmp_path, target.deliver, FAST)
    await outbox.start()
    await outbox.submit("done", body("done"))
    target.up = False
    await outbox.submit("waiting", body("waiting"))
    await outbox.close()

    target.up, target.received = True, {}
    again = Outbox(tmp_path, target.deliver, FAST)
    await again.start()
    await wait_until(lambda: "waiting" in target.received)
    await again.close()
    assert list(target.received) == ["waiting"]


async def test_malformed_records_go_to_the_dead_letter(tmp_path: Path) -> None:
    target = Target()
    target.refused = {"bad"}
    outbox = Outbox(tmp_path, target.deliver, FAST)
    await outbox.start()
    await outbox.submit("bad", body("bad"))
    await outbox.submit("good", body("good"))
    await outbox.close()
    lines = (tmp_path / DEAD_LETTER).read_bytes().splitlines()
    assert len(lines) == 1
    letter = orjson.loads(lines[0])
    assert letter["record"]["request_id"] == "bad" and "422" in letter["reason"]
    assert list(target.received) == ["good"] and outbox.dead_lettered == 1


async def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "outbox-1-dead.jsonl").write_bytes(b"+" + body("whole") + b'\n+{"request_id": "to')
    target = Target()
    outbox = Outbox(tmp_path, target.deliver, FAST)
    await outbox.start()
    await wait_until(lambda: "whole" in target.received)
    await outbox.close()
    assert list(target.received) == ["whole"]


async def test_a_large_log_is_compacted(tmp_path: Path) -> None:
    target = Target()
    tuning = OutboxTuning(backoff_base=0.01, backoff_cap=0.05, compact_bytes=4096)
    outbox = Outbox(tmp_path, target.deliver, tuning)
    await outbox.start()
    target.failing = {"stuck"}  # keeps the log from ever being empty
    await asyncio.gather(
        outbox.submit("stuck", body("stuck")),
        *(outbox.submit(f"r{i}", body(f"r{i}")) for i in range(500)),
    )
    sizes = [p.stat().st_size for p in tmp_path.glob(LOG_GLOB)]
    assert sizes and max(sizes) < 8192
    assert len(target.received) == 500  # the failing record holds up no other
    await outbox.close()
