"""The manager scenario's idle workers, in a module of their own that imports nothing beyond the
standard library: a worker spawned by the scenario imports it first, and nothing in it may hold
or swallow the manager's stop signal."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any


def say(line: str) -> None:
    """One write per line: the workers share stdout, and print() may write a line in parts."""
    os.write(sys.stdout.fileno(), f"{line}\n".encode())


def idle_worker(**_: Any) -> None:
    """Serves nothing; the manager's SIGTERM ends it (the default action). The manager spawns
    workers with stop signals blocked; a gateway worker lets them in once it holds them (from
    app_for), and so does this one, first."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    say(f"worker {os.getpid()} started")
    time.sleep(60)


class SignalWhenPickled:
    """SIGTERM to the manager while a worker is spawned but has no pid yet: pickling the
    worker's arguments for the child is that moment. Fires once, in the manager only."""

    fired = False

    def __reduce__(self) -> tuple[type[SignalWhenPickled], tuple[()]]:
        if not SignalWhenPickled.fired:
            SignalWhenPickled.fired = True
            signal.raise_signal(signal.SIGTERM)
        return (SignalWhenPickled, ())
