"""Sanic's worker manager, as the gateway runs it, stopped at the moments that used to hang it.

Run as a process of its own, since the manager takes over SIGINT and SIGTERM:
`python -c "from tests.integration.process.manager_scenario import main; main()" CASE`.
It prints a line per worker started or stopping by itself, then `manager stopped` and the
workers still alive when `WorkerManager.run` returns.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
from typing import Any

from sanic import Sanic
from sanic.application.constants import ServerStage
from sanic.application.state import ApplicationServerInfo
from sanic.worker.multiplexer import WorkerMultiplexer

from gateway.cli.server_stop import take_over_stop_signals
from gateway.cli.worker_manager import GatewayWorkerManager
from tests.integration.process.scenario_workers import SignalWhenPickled, idle_worker, say

CASES = ("signal-before-spawning", "signal-while-spawning", "worker-loses-its-signal")


def worker_losing_its_signal(worker_state: Any, monitor_publisher: Any, **_: Any) -> None:
    """A worker whose stop signal came when it could not see it, as in the moment Sanic ignores
    stop signals before it installs its loop's handlers: the signal is consumed unseen. Then it
    starts as Sanic's worker does, in short: the loop's handler, the after_server_start listeners
    (the gateway's check among them), `is_running`, and the loop run until a stop."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    say(f"worker {os.getpid()} started")
    signal.sigwait({signal.SIGTERM})  # the manager's stop, lost
    loop = asyncio.new_event_loop()
    for stop in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(stop, loop.stop)  # Sanic's graceful stop, in short
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    app = Sanic(f"scenario{os.getpid()}")
    app.multiplexer = WorkerMultiplexer(monitor_publisher, worker_state)

    app.state.server_info.append(ApplicationServerInfo({}, ServerStage.SERVING))

    async def after_server_start() -> None:
        take_over_stop_signals(app)

    loop.run_until_complete(after_server_start())
    app.state.is_running = True
    loop.run_forever()  # only a stop ends this before the test gives up
    say(f"worker {os.getpid()} stopping")


def main() -> None:
    case = sys.argv[1]
    assert case in CASES, case
    context = multiprocessing.get_context("spawn")
    monitor_publisher, monitor_subscriber = context.Pipe(True)
    sync = context.Manager()  # as Sanic.serve shares the worker state
    worker_state = sync.dict()
    serve: Any = idle_worker
    settings: dict[str, Any] = {}
    if case == "signal-while-spawning":
        settings = {"trigger": SignalWhenPickled()}
    elif case == "worker-loses-its-signal":
        serve = worker_losing_its_signal
        settings = {"worker_state": worker_state, "monitor_publisher": monitor_publisher}
    manager = GatewayWorkerManager(
        2, serve, settings, context, (monitor_publisher, monitor_subscriber), worker_state
    )
    if case == "signal-before-spawning":
        signal.raise_signal(signal.SIGTERM)
    manager.run()
    alive = [process.pid for process in manager.processes if process.is_alive()]
    say(f"manager stopped; workers alive: {alive}")
    sync.shutdown()
