"""Starting pinned processes, waiting for them, stopping them, reading their RSS and CPU time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PYTHON = os.environ.get("BENCH_PYTHON", sys.executable)
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process group this harness created, then SIGKILL it if it lingers."""
        if not self.alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


def start(
    name: str, argv: list[str], cpus: str, log_dir: Path, env: dict[str, str] | None = None
) -> Proc:
    """Run `argv` pinned to `cpus` (taskset -c), in its own session, output to a log file."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            ["taskset", "-c", cpus, *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    return Proc(name, popen, log)


def wait_http(proc: Proc, url: str, timeout: float = 30.0) -> str | None:
    """None once `url` answers (any status), else why not (the process died or timed out)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            return f"{proc.name} exited with {proc.popen.returncode}: {proc.log_tail()}"
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - http://127.0.0.1 only
                return None
        except urllib.error.HTTPError:
            return None
        except OSError:
            time.sleep(0.1)
    return f"{proc.name} did not answer {url} within {timeout:.0f} s: {proc.log_tail()}"


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                found += [int(child) for child in text.split()]
    return found


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants (Sanic's workers and helpers)."""
    pids, queue = [], [pid]
    while queue and len(pids) < 256:
        current = queue.pop()
        pids.append(current)
        queue += _children(current)
    return pids


def _stat_fields(pid: int) -> list[str]:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return text.rsplit(")", 1)[1].split()


def rss_kib(pid: int) -> int:
    """Resident memory of the whole process tree, KiB."""
    total = 0
    for member in tree(pid):
        fields = _stat_fields(member)
        if fields:
            total += int(fields[21]) * _PAGE_KIB
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the whole process tree."""
    total = 0
    for member in tree(pid):
        fields = _stat_fields(member)
        if fields:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS
