"""The gateway's worker manager stops, with its workers, whenever the stop signal comes.

Each case runs Sanic's manager as the gateway configures it, in a process of its own, with
real spawned workers, and stops it at a moment that hung Sanic 25.12's own manager."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RUN = "from tests.integration.process.manager_scenario import main; main()"


def _scenario(case: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    return subprocess.Popen(
        [sys.executable, "-c", RUN, case],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(process: subprocess.Popen[str], prior: str = "") -> list[str]:
    try:
        out, err = process.communicate(timeout=20)  # a hang was the failure: no bound is tight
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 0, prior + out + err
    return (prior + out).splitlines()


def test_a_stop_before_the_workers_spawn_spawns_none() -> None:
    lines = _finish(_scenario("signal-before-spawning"))
    assert not [line for line in lines if "started" in line], lines
    assert "manager stopped; workers alive: []" in lines


def test_a_stop_while_a_worker_spawns_reaches_every_worker() -> None:
    """The signal comes while the first worker is being spawned and has no pid yet."""
    lines = _finish(_scenario("signal-while-spawning"))
    assert "manager stopped; workers alive: []" in lines, lines


def test_a_worker_that_lost_its_stop_signal_stops_itself() -> None:
    process = _scenario("worker-loses-its-signal")
    assert process.stdout is not None
    started = [process.stdout.readline() for _ in range(2)]
    assert all("started" in line for line in started), started
    os.kill(process.pid, signal.SIGTERM)
    lines = _finish(process, "".join(started))
    stopping = [line for line in lines if line.endswith("stopping")]
    assert len(stopping) == 2, lines  # each stopped on the manager's mark, not killed at exit
    assert lines[-1] == "manager stopped; workers alive: []", lines
