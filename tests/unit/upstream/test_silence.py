"""SilenceWatch: one periodic check for every active exchange, and no timer while idle."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

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


class Timer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when, self.callback, self.cancelled = when, callback, False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """The two loop methods the watch uses, on a clock the test moves: a loaded host's late
    timers cannot change what is checked when."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[Timer] = []

    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def advance(self, seconds: float, step: float = 0.001) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now += step
            due = [timer for timer in self.timers if timer.when <= self.now]
            self.timers = [timer for timer in self.timers if timer.when > self.now]
            for timer in due:
                if not timer.cancelled:
                    timer.callback()


def test_a_silent_exchange_is_given_up_within_a_quarter_of_the_timeout_late() -> None:
    clock = ManualClock()
    watch = SilenceWatch(cast(asyncio.AbstractEventLoop, clock), read_timeout=0.2)
    silent = Exchange(watch, clock.time(), 0.2)
    watch.watch(silent)
    clock.advance(0.4)
    assert silent.gave_up_at is not None
    assert 0.2 <= silent.gave_up_at - silent.started <= 0.25  # at most one tick late
    assert len(silent.checks) in (4, 5)  # every 50 ms until then (float sums may round over)
    assert not clock.timers  # and the watch, empty, keeps no timer


async def test_a_silent_exchange_is_given_up_on_a_real_loop() -> None:
    loop = asyncio.get_running_loop()
    watch = SilenceWatch(loop, read_timeout=0.2)
    silent = Exchange(watch, loop.time(), 0.2)
    watch.watch(silent)
    await asyncio.sleep(0.6)  # a late timer only delays it: no upper bound here
    assert silent.gave_up_at is not None and silent.gave_up_at - silent.started >= 0.2


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
