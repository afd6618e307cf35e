"""Stop signals that come while the gateway starts, held until it can stop cleanly.

By Python's defaults a SIGTERM during start-up ends the process on the spot, and a SIGINT
raises KeyboardInterrupt wherever the code happens to be: a launcher stopped in its first
second dies by the signal, and a C extension that calls back into Python (pydantic-core building
a schema) may swallow the interrupt, so a worker told to stop serves on. From `hold()` on, a stop
signal is only noted here, until what takes over (the worker manager, or the server once it has
started: server_stop.py) takes the noted ones and acts on them.

Standard library only: the launcher holds the signals before it imports anything heavy.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_held: list[int] = []
_holding = False


def hold(*, second_kills: bool) -> None:
    """Note stop signals from now on. Idempotent: the first call's choice stays. With
    `second_kills`, a second signal ends the process at once by the default action (someone
    who stopped a slow start twice means it; the worker manager does the same)."""
    global _holding
    if _holding:
        return
    _holding = True

    def note(signum: int, frame: FrameType | None) -> None:
        if second_kills and _held:
            end_by(signum)
        _held.append(signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, note)
    # A worker starts with them blocked (`blocked()` in its parent): those that came meanwhile
    # are pending, and are noted now.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextmanager
def blocked() -> Iterator[None]:
    """Stop signals wait meanwhile, pending, and so do they in each process started meanwhile:
    the signal mask is inherited across fork and exec. A worker spawned inside this keeps them
    pending until it holds them (`hold()`, from app_for): Ctrl-C reaches every process of the
    group, and a worker still importing then died with a KeyboardInterrupt traceback.

    CPython's resource tracker, started by the first spawn, blocks these two around its own
    start and then unblocks them, rather than restoring the mask: started inside this, it
    undid the block for the process being spawned (which then died of a Ctrl-C, 1 of 10 tries
    with SIGINT sent as it was spawned). So it is started first."""
    from multiprocessing import resource_tracker  # here: the launcher's first import stays light

    resource_tracker.ensure_running()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def end_by(signum: int) -> None:
    """End the process now, by the signal's default action (a second stop: its sender means it)."""
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def held() -> bool:
    """A stop signal came since `hold()` and nobody took it yet."""
    return bool(_held)


def take() -> list[int]:
    """The signals held so far, in order, now handed over (call it once the new handlers are in
    place, so that none can come in between unseen)."""
    taken = list(_held)
    del _held[: len(taken)]
    return taken
