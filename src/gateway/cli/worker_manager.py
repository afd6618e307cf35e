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
4. It tells workers to stop with SIGINT. One still importing either dies of it with a
   KeyboardInterrupt traceback, or loses it: C extensions that call back into Python
   (pydantic-core building a schema) report the KeyboardInterrupt as "Exception ignored" and go
   on, and Sanic ignores stop signals for a moment before it installs its own handlers; that
   worker then serves until killed. Here workers are spawned with stop signals blocked, so a
   stop that comes while one imports waits, pending, until it holds stop signals (from
   `app_for` on), and it then stops as soon as it serves; the manager tells them to stop with
   SIGTERM, and marks itself stopping in the shared worker state before it signals: each
   worker, once started, stops itself if the mark is there, so every interleaving ends with
   the worker stopped.
5. Before the manager exists, Python's defaults apply: a SIGTERM in the launcher's first second
   killed it outright. The launcher holds stop signals from its first line (stop_signals.py);
   the manager takes those it held when it installs its own handlers.
6. Ctrl-C (SIGINT) and systemd's default stop (SIGTERM) reach every process of the group. The
   process that holds the shared worker state ignores SIGINT (Python's own fix) but died of
   SIGTERM, and the manager then failed its orderly stop. Here it ignores SIGTERM as well.
   The same Ctrl-C reached workers still importing, which died with a KeyboardInterrupt
   traceback: the blocked signals of point 4 wait for them.
7. Killed outright (the OOM killer), the manager left its workers serving, unsupervised, and
   the shared-state process alive. Here each ends with it (parent_death.py).

How each worker then stops (once, after its start-up, whatever signals reach it): server_stop.py.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from contextlib import nullcontext, suppress
from multiprocessing.managers import SyncManager
from types import FrameType
from typing import Any

from sanic.exceptions import ServerKilled
from sanic.mixins import startup
from sanic.worker.constants import ProcessState
from sanic.worker.manager import MonitorCycle, WorkerManager
from sanic.worker.process import WorkerProcess

from gateway.cli import parent_death, stop_signals

log = logging.getLogger("sanic.root")
_WORKER_DIED_AT_START = "__TERMINATE_EARLY__"
# Our key in the manager's own entry of the shared worker state (server_stop.py reads it).
STOPPING_MARK = "gateway_stopping"


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
        self._start_processes()
        self._act_on_signals()  # and those that came meanwhile, noted at the unblocking

    def _start_processes(self) -> None:
        """Sanic's `start()`, with stop signals blocked while each server worker is spawned, and
        only then: a server worker unblocks them once it holds them (in app_for), while Sanic's
        other processes (its inspector, its reloader) would keep them blocked for good, and the
        manager would wait on them forever."""
        for worker in self.workers:
            for process in worker.processes:
                if not worker.auto_start:
                    process.set_state(ProcessState.NONE, True)
                    continue
                server = WorkerProcess.SERVER_LABEL in process.name
                # A server worker starts with them pending, till it holds them.
                with stop_signals.blocked() if server else nullcontext():
                    process.start()  # type: ignore[no-untyped-call]

    def _poll_monitor(self) -> MonitorCycle | None:
        self._act_on_signals()  # its shutdown message is then the one polled next
        return super()._poll_monitor()

    def shutdown(self) -> None:
        with suppress(BrokenPipeError, ConnectionError, EOFError):  # the state's server is gone
            main = self.worker_state[self.MAIN_NAME]
            self.worker_state[self.MAIN_NAME] = {**main, STOPPING_MARK: True}  # before any signal
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
    (Sanic's loop handles both), and no KeyboardInterrupt is raised in one that, spawned some
    other way than by `start()`, does not block stop signals while it imports."""
    if process.state is ProcessState.TERMINATED:
        return
    with suppress(BrokenPipeError, ConnectionError, EOFError):
        process.set_state(ProcessState.TERMINATED, force=True)
    with suppress(KeyError, AttributeError, ProcessLookupError, TypeError):
        os.kill(process.pid, signal.SIGTERM)


def _shared_state_manager() -> SyncManager:
    """Sanic's `Manager()` (the process that holds the workers' shared state), whose server also
    ignores SIGTERM. Python's ignores SIGINT already (bpo-36368), so that a Ctrl-C to the
    process group leaves its stop to the parent; systemd's default stop sends SIGTERM to the
    group alike, and this process's death then failed the main process's orderly stop
    ("Experienced exception while trying to serve", exit status 1). Sanic shuts it down when
    it has stopped its workers; it is killed if the main process dies first.

    It is spawned with stop signals blocked, as CPython spawns its resource tracker: a Ctrl-C
    while it was still importing killed it, and Sanic then failed to start ("worker process
    failed", exit status 1; 2 of 16 launches with SIGINT to the group at 0-1.6 s). Its
    initializer unblocks them once it ignores them."""
    manager = SyncManager(ctx=multiprocessing.get_context())
    with stop_signals.blocked():
        manager.start(parent_death.start_shared_state_process)
    return manager


def use_gateway_worker_manager() -> None:
    """`Sanic.serve` builds its managers from these module globals; there is no other hook."""
    setattr(startup, "WorkerManager", GatewayWorkerManager)  # noqa: B010
    setattr(startup, "Manager", _shared_state_manager)  # noqa: B010
