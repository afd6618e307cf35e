"""A parent that spawns one child which asks to end with it (parent_death.end_with_parent).

The child asks `delay` seconds after it starts, so that the test can kill the parent before or
after the request. On SIGTERM it writes "SIGTERM" to `{path}.ended` and exits, so the test sees
how it ended; `{path}.asked` says whether the request was made.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from gateway.cli import parent_death


def child(path: str, delay: float) -> None:
    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        Path(f"{path}.ended").write_text("SIGTERM")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    time.sleep(delay)
    Path(f"{path}.asked").write_text(str(parent_death.end_with_parent(signal.SIGTERM)))
    time.sleep(30)  # bounded: the test ends sooner either way


def main() -> None:
    path, delay = sys.argv[1], float(sys.argv[2])
    process = multiprocessing.get_context("spawn").Process(target=child, args=(path, delay))
    process.start()
    print(process.pid, flush=True)
    time.sleep(30)  # until the test kills this process
