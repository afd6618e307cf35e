"""The gateway's worker manager stops, with its workers, whenever the stop signal comes.

Each case runs Sanic's manager as the gateway configures it, in a process of its own, with
real spawned workers, and stops it at a moment that hung Sanic 25.12's own manager."""

from __future__ import annotations

import os
import signal

from tests.integration.process.scenarios import finish, scenario


def test_a_stop_before_the_workers_spawn_spawns_none() -> None:
    lines = finish(scenario("manager_scenario", "signal-before-spawning"))
    assert not [line for line in lines if "started" in line], lines
    assert "manager stopped; workers alive: []" in lines


def test_a_stop_while_a_worker_spawns_reaches_every_worker() -> None:
    """The signal comes while the first worker is being spawned and has no pid yet."""
    lines = finish(scenario("manager_scenario", "signal-while-spawning"))
    assert "manager stopped; workers alive: []" in lines, lines


def test_a_worker_that_lost_its_stop_signal_stops_itself() -> None:
    process = scenario("manager_scenario", "worker-loses-its-signal")
    assert process.stdout is not None
    started = [process.stdout.readline() for _ in range(2)]
    assert all("started" in line for line in started), started
    os.kill(process.pid, signal.SIGTERM)
    lines = finish(process, "".join(started))
    stopping = [line for line in lines if line.endswith("stopping")]
    assert len(stopping) == 2, lines  # each stopped on the manager's mark, not killed at exit
    assert lines[-1] == "manager stopped; workers alive: []", lines
