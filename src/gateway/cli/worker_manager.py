"""Sanic's multi-worker manager, with two shutdown fixes the gateway needs.

Sanic 25.12's `WorkerManager` (sanic-org/sanic#2997; the fix, PR #3063, is not merged):

1. A SIGTERM or SIGINT while a worker is still starting: the manager stops the workers, then
   spins at 100 % CPU forever waiting for their start-up acknowledgement, re-sending its own
   shutdown message to itself. An orchestrator that stops a pod during start-up waits for its
   kill timeout. Here a shutdown ends that wait, and the monitor loop shuts down as usual.
2. A second signal during shutdown, or a worker that fails to start, makes it SIGKILL each
   worker's process group, which is the launcher's own group: the shell script, supervisor or
   test runner that started the gateway died with it. Here only the worker processes are
   killed (a worker starts no processes of its own).
"""

from __future__ import annotations

import logging
import os
import signal
from contextlib import suppress

from sanic.exceptions import ServerKilled
from sanic.mixins import startup
from sanic.worker.manager import WorkerManager

log = logging.getLogger("sanic.root")
_WORKER_DIED_AT_START = "__TERMINATE_EARLY__"


class GatewayWorkerManager(WorkerManager):
    def wait_for_ack(self) -> None:
        misses = 0
        while not self._all_workers_ack():  # type: ignore[no-untyped-call]
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


def use_gateway_worker_manager() -> None:
    """`Sanic.serve` builds its manager from this module global; there is no other hook."""
    setattr(startup, "WorkerManager", GatewayWorkerManager)  # noqa: B010
