"""Sanic's multi-worker manager, with the shutdown fixes the gateway needs.

Sanic 25.12's `WorkerManager` (sanic-org/sanic#2997; the fix, PR #3063, is not merged):

1. A SIGTERM or SIGINT while a worker is still starting: the manager stops the workers, then
   spins at 100 % CPU forever waiting for their start-up acknowledgement, re-sending its own
   shutdown message to itself. An orchestrator that stops a pod during start-up waits for its
   kill timeout. Here a shutdown ends that wait, and the monitor loop shuts down as usual.
2. A second signal during shutdown, or a worker that fails to start, makes it SIGKILL each
   worker's process group, which is the launcher's own group: the shell script, supervisor or
   test runner that started the gateway died with it. Here only the worker processes are
   killed (a worker starts no processes of its own).
3. Its signal handler acts at once, wherever it interrupted the main loop. Signalled before or
   while the workers are being spawned, it stops the workers it can see, then spawns the rest
   anyway, or one is mid-spawn with no pid yet, so never told to stop; the manager then waits
   on it forever. And it writes the shared worker state over the connection the interrupted
   code may be half-way through using. Here the handler notes the signal and the main loop
   (before and after spawning, and at each turn of its wait and monitor loops) acts on it.
4. A worker told to stop (SIGINT) while still importing can lose the signal: C extensions that
   call back into Python (pydantic-core building a schema) report the KeyboardInterrupt as
   "Exception ignored" and go on, and Sanic ignores SIGINT for a moment before it installs its
   own handler. That worker then serves until killed. Here the manager marks itself stopping
   in the shared worker state before it signals, and each worker, once its handlers are in
   place, stops itself if the mark is there: every interleaving ends with the worker stopped.
   Workers are told to stop with SIGTERM, not SIGINT: one still importing ends quietly.
5. Before the manager exists, Python's defaults apply: a SIGTERM in the launcher's first second
   killed it outright. The launcher holds stop signals from its first line (stop_signals.py);
   the manager takes those it held when it installs its own handlers.

A worker's own stop, asked for before it could act on it (the mark, or a signal it held), is
raised once it serves: Sanic's handler stops the loop, and raised while the loop still finishes
the start-up (`run_until_complete` of the after_server_start listeners), that stop was spent
there and the worker went on serving forever.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from contextlib import suppress
from types import FrameType
from typing import Any

from sanic import Sanic
from sanic.exceptions import ServerKilled
from sanic.mixins import startup
from sanic.worker.constants import ProcessState
from sanic.worker.manager import MonitorCycle, WorkerManager
from sanic.worker.process import WorkerProcess

from gateway.cli import stop_signals

log = logging.getLogger("sanic.root")
_WORKER_DIED_AT_START = "__TERMINATE_EARLY__"
_STOPPING = "gateway_stopping"  # our key in the manager's own entry of the shared worker state
_stoppers: set[asyncio.Task[None]] = set()


class GatewayWorkerManager(WorkerManager):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pending_signals: list[int] = []
        super().__init__(*args, **kwargs)  # installs shutdown_signal as the handler
        self._pending_signals.extend(stop_signals.take())  # those the launcher held till now

    def shutdown_signal(self, signum: int, frame: FrameType | None) -> None:
        """The handler only notes the signal; the main loop acts on it. Acting here raced: a
        worker being spawned has no pid yet, so shutdown() missed it, and shutdown() talks to
        the shared worker state over the very connection the interrupted code may be using."""
        if self._shutting_down:  # a second signal: kill the workers now (no shared state)
            super().shutdown_signal(signum, frame)  # type: ignore[no-untyped-call]
        else:
            self._pending_signals.append(signum)

    def _act_on_signals(self) -> None:
        while self._pending_signals:  # each as it came: a second one still kills
            super().shutdown_signal(self._pending_signals.pop(0), None)  # type: ignore[no-untyped-call]

    def start(self) -> None:
        self._act_on_signals()
        if self._shutting_down:  # signalled before the workers were spawned
            return
        super().start()  # type: ignore[no-untyped-call]
        self._act_on_signals()

    def _poll_monitor(self) -> MonitorCycle | None:
        self._act_on_signals()  # its shutdown message is then the one polled next
        return super()._poll_monitor()

    def shutdown(self) -> None:
        with suppress(BrokenPipeError, ConnectionError, EOFError):  # the state's server is gone
            main = self.worker_state[self.MAIN_NAME]
            self.worker_state[self.MAIN_NAME] = {**main, _STOPPING: True}  # before any signal
        for process in self.processes:
            if process.is_alive():
                _stop_worker(process)
        self._shutting_down = True

    def wait_for_ack(self) -> None:
        misses = 0
        while not self._all_workers_ack():  # type: ignore[no-untyped-call]
            self._act_on_signals()
            if self._shutting_down:
                return
            if self.monitor_subscriber.poll(0.1):
                message = self.monitor_subscriber.recv()
                if not message:  # the shutdown signal's message: the monitor loop acts on it
                    self.monitor_publisher.send(message)
                    return
                if message != _WORKER_DIED_AT_START:
                    self.monitor_publisher.send(message)  # for the monitor loop, once all ack
                    continue
                log.error("A worker process ended during its start-up. Shutting down.")
                self.kill()
            misses += 1
            if misses > self.THRESHOLD:
                log.error(
                    "Not all workers acknowledged their start-up within %.0f s. Shutting down.",
                    self.THRESHOLD / 10,
                )
                self.kill()

    def kill(self) -> None:
        for process in self.processes:
            log.info("Killing %s [%s]", process.name, process.pid)
            with suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
        raise ServerKilled


def _stop_worker(process: WorkerProcess) -> None:
    """Sanic's `terminate()`, with SIGTERM for its SIGINT: a serving worker stops the same way
    (Sanic's loop handles both), and one still importing, before it holds stop signals, ends
    quietly by the default action instead of printing a KeyboardInterrupt traceback."""
    if process.state is ProcessState.TERMINATED:
        return
    with suppress(BrokenPipeError, ConnectionError, EOFError):
        process.set_state(ProcessState.TERMINATED, force=True)
    with suppress(KeyError, AttributeError, ProcessLookupError, TypeError):
        os.kill(process.pid, signal.SIGTERM)


def stop_once_serving_if_asked(app: Sanic) -> None:  # type: ignore[type-arg]
    """An after_server_start listener: Sanic's handlers are in place by then, so a stop asked
    from here on reaches them; one asked earlier shows as a signal this process held or as the
    manager's mark, and is raised once the server serves."""
    asked = bool(stop_signals.take())
    multiplexer = getattr(app, "multiplexer", None)  # None in a single process: no manager
    if not asked and multiplexer is not None:
        with suppress(BrokenPipeError, ConnectionError, EOFError):
            asked = bool(multiplexer.workers.get(WorkerManager.MAIN_NAME, {}).get(_STOPPING))
    if asked:
        log.info("The gateway is stopping: this worker stops as soon as it serves.")
        task = asyncio.get_running_loop().create_task(_stop_once_serving(app))
        _stoppers.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(_stoppers.discard)


async def _stop_once_serving(app: Sanic) -> None:  # type: ignore[type-arg]
    # Sanic sets is_running after the start-up's last listener, just before run_forever: from
    # then on the loop runs only in run_forever, where the handler's stop ends the worker.
    # Sanic has no event for it to wait on.
    while not app.state.is_running:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    signal.raise_signal(signal.SIGTERM)  # the loop's handler: Sanic's graceful stop


def use_gateway_worker_manager() -> None:
    """`Sanic.serve` builds its manager from this module global; there is no other hook."""
    setattr(startup, "WorkerManager", GatewayWorkerManager)  # noqa: B010
