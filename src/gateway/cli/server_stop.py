"""How a serving process (the single process, or each worker) stops: once, and gracefully.

Sanic's own handler (`app.stop` on SIGINT and SIGTERM, run by the loop) fails three ways:

- Ctrl-C reaches every process of the group, and systemd's default stop sends SIGTERM to every
  process of the unit: a worker gets the signal, and then the manager's own stop order. The
  second `app.stop` stopped the loop again, in the middle of the drain ("Event loop stopped
  before Future completed"): the worker aborted its connections and cut the stream (seen with
  2 workers and a stream in flight).
- Sanic removes its handlers when its loop stops, and uvloop's removal restores the default
  actions: a stop that comes during the drain kills the worker outright (SIGTERM) or raises
  KeyboardInterrupt in it (SIGINT).
- A stop handled while the start-up's after_server_start listeners still run (a stop asked for
  before the server could act on it: a held signal, or the manager's mark) is spent in
  `run_until_complete`, and the worker then serves on (seen: a 2-worker gateway stopped during
  its start hung in 2 of 100 launches).

So once the server is up, this module takes SIGINT and SIGTERM over from the loop, with plain
signal handlers that the loop's removal leaves alone: the first stop is carried out once Sanic
marks the app running, a later one is ignored in a worker (the manager's second signal kills the
workers) and ends a single process at once, as its user asked.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress
from types import FrameType

from sanic import Sanic
from sanic.worker.manager import WorkerManager
from sanic.worker.multiplexer import WorkerMultiplexer

from gateway.application.background import BackgroundTasks
from gateway.cli import stop_signals
from gateway.cli.worker_manager import STOPPING_MARK

log = logging.getLogger("sanic.root")
_stoppers = BackgroundTasks()  # keeps each stop task referenced until it ends


def take_over_stop_signals(app: Sanic) -> None:  # type: ignore[type-arg]
    """An after_server_start listener (registered first: Sanic's handlers are in place from just
    before the listeners run)."""
    loop = asyncio.get_running_loop()
    multiplexer = getattr(app, "multiplexer", None)  # None in a single process: no manager
    stopping = False

    def on_stop_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            # Signal-safe: it only queues the call and wakes the loop.
            loop.call_soon_threadsafe(lambda: _stoppers.spawn(_stop_once_serving(app)))
        elif multiplexer is None:  # a second stop to a single process: now
            stop_signals.end_by(signum)

    for signum in stop_signals.STOP_SIGNALS:
        loop.remove_signal_handler(signum)
        signal.signal(signum, on_stop_signal)
    if stop_signals.take() or _manager_stopping(multiplexer):
        log.info("The gateway is stopping: this worker stops as soon as it serves.")
        on_stop_signal(signal.SIGTERM, None)


def _manager_stopping(multiplexer: WorkerMultiplexer | None) -> bool:
    if multiplexer is None:
        return False
    with suppress(BrokenPipeError, ConnectionError, EOFError):
        return bool(multiplexer.workers.get(WorkerManager.MAIN_NAME, {}).get(STOPPING_MARK))
    return False


async def _stop_once_serving(app: Sanic) -> None:  # type: ignore[type-arg]
    # Sanic sets is_running after the start-up's last listener, just before run_forever: from
    # then on the loop runs only in run_forever, where stopping it ends the worker's serving.
    # Sanic has no event for it to wait on.
    while not app.state.is_running:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    app.stop(terminate=False)  # what Sanic's own handler does: the graceful stop
