"""Stop signals held while the gateway starts: noted, handed over once, and a second one kills."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.integration.process.scenarios import ROOT, finish, scenario

HOLDING = """
import signal
from gateway.cli import stop_signals
stop_signals.hold(second_kills={second_kills})
stop_signals.hold(second_kills=False)  # a later call changes nothing
signal.raise_signal(signal.SIGTERM)
print("held", stop_signals.held(), flush=True)
print("taken", stop_signals.take(), stop_signals.take(), stop_signals.held(), flush=True)
signal.raise_signal(signal.SIGINT)
signal.raise_signal(signal.SIGTERM)
print("alive", stop_signals.take(), flush=True)
"""


def _holding(second_kills: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HOLDING.format(second_kills=second_kills)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_held_signals_are_noted_and_handed_over_once() -> None:
    result = _holding(second_kills=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "held True",
        f"taken [{signal.SIGTERM.value}] [] False",
        f"alive [{signal.SIGINT.value}, {signal.SIGTERM.value}]",
    ]


def test_a_second_held_signal_ends_the_process_by_its_default_action() -> None:
    result = _holding(second_kills=True)
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert result.stdout.splitlines()[-1].startswith("taken"), result.stdout  # not "alive"
    assert "Traceback" not in result.stderr


def test_a_stop_held_before_the_server_serves_stops_it_once_it_serves() -> None:
    """Raised while the start-up's listeners still ran, Sanic's stop was spent there and the
    server then served forever."""
    lines = finish(scenario("serve_scenario", None))
    assert lines[-1] == "server stopped", lines


FIRST_SPAWN = """
import multiprocessing, os, signal, time
from gateway.cli import stop_signals
process = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0.3,))
with stop_signals.blocked():
    process.start()
    os.kill(process.pid, signal.SIGINT)  # a Ctrl-C as it starts: pending, blocked
process.join()
print(process.exitcode)
"""


def test_a_process_spawned_with_stop_signals_blocked_keeps_them_blocked() -> None:
    """The first spawn starts CPython's resource tracker, which unblocked SIGINT and SIGTERM
    in the spawning thread: the process spawned then died of the Ctrl-C (exit -2)."""
    result = subprocess.run(
        [sys.executable, "-c", FIRST_SPAWN],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0", result.stderr
