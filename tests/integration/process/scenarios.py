"""Running a scenario module's main() in a process of its own, and collecting what it printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def scenario(module: str, case: str | None) -> subprocess.Popen[str]:
    """Runs `tests/integration/process/{module}.py`'s main() in a process of its own."""
    run = f"from tests.integration.process.{module} import main; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    return subprocess.Popen(
        [sys.executable, "-c", run, *([case] if case else [])],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str], prior: str = "") -> list[str]:
    try:
        out, err = process.communicate(timeout=20)  # a hang was the failure: no bound is tight
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, prior + out + err
    return (prior + out).splitlines()
