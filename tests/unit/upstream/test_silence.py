"""SilenceWatch: one periodic check for every active exchange, and no timer while idle."""

from __future__ import annotations

import asyncio

from gateway.adapters.upstream.http1.silence import SilenceWatch


class Exchange:
    """Gives up (and leaves the watch) once `silent_for` seconds have passed since `started`."""

    def __init__(self, watch: SilenceWatch, started: float, silent_for: float) -> None:
        self.watch, self.started, self.silent_for = watch, started, silent_for
        self.checks: list[float] = []
        self.gave_up_at: float | None = None

    def check_silence(self, now: float) -> None:
        self.checks.append(now)
        if now - self.started >= self.silent_for:
            self.gave_up_at = now
            self.watch.forget(self)


async def test_a_silent_exchange_is_given_up_within_a_quarter_of_the_timeout_late() -> None:
    loop = asyncio.get_running_loop()
    watch = SilenceWatch(loop, read_timeout=0.2)
    silent = Exchange(watch, loop.time(), 0.2)
    watch.watch(silent)
    await asyncio.sleep(0.4)
    assert silent.gave_up_at is not None
    assert 0.2 <= silent.gave_up_at - silent.started <= 0.25 + 0.03  # one tick, and slack
    assert len(silent.checks) in (4, 5)  # every 50 ms until then (timers round to 1 ms)


async def test_the_watch_stops_its_timer_when_no_exchange_is_active() -> None:
    loop = asyncio.get_running_loop()
    watch = SilenceWatch(loop, read_timeout=0.2)
    done = Exchange(watch, loop.time(), 10)
    watch.watch(done)
    watch.forget(done)  # its answer ended before the first tick
    await asyncio.sleep(0.2)
    assert done.checks == []
    again = Exchange(watch, loop.time(), 10)
    watch.watch(again)  # a new exchange starts the timer again
    await asyncio.sleep(0.12)
    checked = len(again.checks)
    assert checked >= 1
    watch.close()
    await asyncio.sleep(0.1)
    assert len(again.checks) == checked
