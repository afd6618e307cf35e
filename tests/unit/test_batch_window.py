"""BatchWindow and wait_at_most: the batching windows the adapters share."""

from __future__ import annotations

import asyncio
import time

from gateway.adapters.tasks import BatchWindow, wait_at_most


async def test_requests_within_a_window_run_the_callback_once_at_its_end() -> None:
    runs: list[float] = []
    window = BatchWindow(lambda: runs.append(time.monotonic()), 0.05)
    began = time.monotonic()
    for _ in range(3):
        window.request()
        await asyncio.sleep(0)
    assert runs == []
    await asyncio.sleep(0.1)
    assert len(runs) == 1 and runs[0] - began >= 0.045
    window.request()  # a new window after the last one ran
    await asyncio.sleep(0.1)
    assert len(runs) == 2


async def test_a_zero_window_is_the_end_of_the_loop_turn() -> None:
    runs: list[int] = []
    window = BatchWindow(lambda: runs.append(1), 0.0)
    window.request()
    window.request()
    assert runs == []
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert runs == [1]


def test_without_a_loop_the_callback_runs_at_once() -> None:
    runs: list[int] = []
    window = BatchWindow(lambda: runs.append(1), 10.0)
    window.request()
    window.request()
    assert runs == [1, 1]


async def test_wait_at_most_ends_at_the_event_or_the_time() -> None:
    event = asyncio.Event()
    began = time.monotonic()
    await wait_at_most(event, 0.05)
    assert 0.04 <= time.monotonic() - began < 1
    asyncio.get_running_loop().call_later(0.01, event.set)
    began = time.monotonic()
    await wait_at_most(event, 30)
    assert time.monotonic() - began < 1
