"""A child of the gateway's main process ends when that process dies, however it died.

Sanic's workers and the process that holds their shared state are children of the main process.
Killed outright (the OOM killer, `kill -9`), the main process takes none of them with it: the
workers went on serving from the listening socket they share, unsupervised, and a gateway
started again could not bind its port while they held it (seen: both workers answered requests
8 s after the main process had been SIGKILLed). A container runtime or systemd ends the whole
group anyway; a shell, a supervisor that signals one pid, or a plain `nohup` do not.

Linux sends a signal of the child's choosing when the parent thread ends (`PR_SET_PDEATHSIG`).
Workers choose SIGTERM, so that they drain their in-flight streams as on any stop; the
shared-state process ignores SIGTERM (worker_manager.py) and chooses SIGKILL. The main process
spawns both from its main thread, which lives as long as the process. Elsewhere than Linux this
does nothing: the children outlive a killed main process, as Sanic's do.

Standard library only, like stop_signals: the workers call it before their heavy imports.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys

from gateway.cli import stop_signals

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def end_with_parent(signum: signal.Signals) -> bool:
    """In a process spawned by multiprocessing, have `signum` sent to it when its parent dies.
    True if asked for; False in the main process, or where the system cannot (not Linux)."""
    parent = multiprocessing.parent_process()
    if parent is None or not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
        return False
    # The parent may have died before the request, which then never fires: this process has
    # been handed to another (init, or a subreaper) already.
    if os.getppid() != parent.pid:
        os.kill(os.getpid(), signum)
    return True


def start_shared_state_process() -> None:
    """The initializer of the process that holds the workers' shared state (worker_manager.py):
    it ignores SIGTERM (Python's manager ignores SIGINT already), lets in the stop signals it
    was spawned with blocked, which are now ignored, and is killed when the main process dies."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals.STOP_SIGNALS)
    end_with_parent(signal.SIGKILL)
