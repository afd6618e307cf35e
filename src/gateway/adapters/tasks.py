"""Background tasks and batching windows of the adapters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel a background task and wait until it has stopped (its cancellation swallowed)."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def wait_at_most(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` have passed, whichever comes first (no task is made,
    unlike `asyncio.wait_for`)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


class BatchWindow:
    """Runs `callback` once per window: `window` seconds (0: the end of the event-loop turn)
    after the first `request()` since it last ran, so the work of every request in between is
    done in one pass. Without a running loop (a batch job, a test) it runs at once."""

    __slots__ = ("_callback", "_scheduled", "_window")

    def __init__(self, callback: Callable[[], None], window: float) -> None:
        self._callback = callback
        self._window = window
        self._scheduled = False

    def request(self) -> None:
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._callback()
            return
        self._scheduled = True
        if self._window:
            loop.call_later(self._window, self._run)
        else:
            loop.call_soon(self._run)

    def _run(self) -> None:
        self._scheduled = False
        self._callback()
