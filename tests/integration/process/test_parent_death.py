"""A child of the gateway's main process ends when that process is killed (parent_death.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.cli import parent_death
from tests.integration.process.scenarios import ROOT

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize(
    ("delay", "killed"), [(0.0, "after"), (1.0, "before")], ids=["killed-after", "killed-before"]
)
def test_a_child_ends_by_the_signal_it_chose_when_its_parent_is_killed(
    tmp_path: Path, delay: float, killed: str
) -> None:
    """Killed before the child asked, the parent's death cannot fire the request any more: the
    child sees it has been handed to another parent and signals itself."""
    path = tmp_path / "child"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tests.integration.process.parent_death_scenario import main; main()",
            str(path),
            str(delay),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        asked = Path(f"{path}.asked")
        if killed == "after":
            assert _wait_for(asked.exists, 20)
        parent.kill()
        parent.wait(10)
        assert _wait_for(lambda: not _alive(child), 10), "the child outlived its parent"
        assert Path(f"{path}.ended").read_text() == "SIGTERM"
        # Killed before, the child ended inside its request, before it could note it.
        assert asked.read_text() == "True" if killed == "after" else not asked.exists()
    finally:
        with contextlib.suppress(ProcessLookupError):  # the child too: it is in the group
            os.killpg(parent.pid, signal.SIGKILL)
        parent.communicate(timeout=10)


def test_the_main_process_asks_nothing() -> None:
    assert parent_death.end_with_parent(signal.SIGTERM) is False
