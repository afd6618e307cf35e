"""The benchmark scripts still start: imports resolve and the smallest run prints its table.

The bench is not run by CI for its figures (they need a quiet machine), but a script that no
longer starts is found here rather than by the next person who needs it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", ["run.py", "profile_gateway.py", "client_bench.py"])
def test_bench_script_starts(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_client_bench_measures_both_clients() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "client_bench.py"), "--requests", "50", "--repeats", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "| http1 |" in done.stdout and "| aiohttp |" in done.stdout
    assert "aiohttp / http1:" in done.stdout
