"""UsageRecorder: records of concurrent requests reach billing together, none lost or repeated."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gateway.application.background import BackgroundTasks
from gateway.application.usage_recorder import UsageRecorder
from gateway.domain.ports.billing import ALLOW, AuthorizationRequest, Decision, UsageRecord
from tests.unit.billing.helpers import usage_record


class BatchBilling:
    """Keeps each record_many call's request ids; can be held to make the next records queue."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.expected: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next = False

    @property
    def needs_usage(self) -> bool:
        return True

    async def authorize(self, request: AuthorizationRequest) -> Decision:
        return ALLOW

    def expect(self, record: UsageRecord) -> None:
        self.expected.append(record.request_id)

    async def record(self, record: UsageRecord) -> None:
        await self.record_many((record,))

    async def record_many(self, records: Sequence[UsageRecord]) -> None:
        await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("billing bug")
        self.calls.append([record.request_id for record in records])


def records(prefix: str, count: int) -> list[UsageRecord]:
    return [usage_record(f"{prefix}{i}", "k") for i in range(count)]


async def test_records_of_one_loop_turn_go_in_one_call() -> None:
    billing, background = BatchBilling(), BackgroundTasks()
    recorder = UsageRecorder(billing, background)
    for record in records("a", 5):
        recorder.submit(record)
    assert await background.drain(1)
    assert billing.calls == [["a0", "a1", "a2", "a3", "a4"]]


async def test_records_that_arrive_during_a_call_go_in_the_next() -> None:
    billing, background = BatchBilling(), BackgroundTasks()
    recorder = UsageRecorder(billing, background)
    billing.gate.clear()
    recorder.submit(usage_record("first", "k"))
    await asyncio.sleep(0)  # the pump has taken "first" and waits on billing
    for record in records("b", 3):
        recorder.submit(record)
    assert recorder.queued == 3 and len(background) == 1  # one pump, not one task per record
    billing.gate.set()
    assert await background.drain(1)
    assert billing.calls == [["first"], ["b0", "b1", "b2"]]


async def test_a_batch_holds_at_most_max_batch_records() -> None:
    billing, background = BatchBilling(), BackgroundTasks()
    recorder = UsageRecorder(billing, background, max_batch=2)
    for record in records("c", 5):
        recorder.submit(record)
    assert await background.drain(1)
    assert billing.calls == [["c0", "c1"], ["c2", "c3"], ["c4"]]


async def test_a_failing_call_is_logged_and_the_next_records_still_go(
    caplog: pytest.LogCaptureFixture,
) -> None:
    billing, background = BatchBilling(), BackgroundTasks()
    recorder = UsageRecorder(billing, background)
    billing.fail_next = True
    recorder.submit(usage_record("lost", "k"))
    assert await background.drain(1)
    assert "billing did not take 1 usage record(s)" in caplog.text
    recorder.submit(usage_record("next", "k"))
    assert await background.drain(1)
    assert billing.calls == [["next"]]


async def test_billing_is_told_of_a_record_before_its_batch_reaches_it() -> None:
    # A local quota counts it while the batch before it is being committed.
    billing, background = BatchBilling(), BackgroundTasks()
    recorder = UsageRecorder(billing, background)
    billing.gate.clear()  # the first batch's commit takes a while
    recorder.submit(usage_record("first", "k"))
    await asyncio.sleep(0)
    recorder.submit(usage_record("second", "k"))
    assert billing.expected == ["first", "second"] and billing.calls == []
    billing.gate.set()
    await background.drain(1)
    assert billing.calls == [["first"], ["second"]]
