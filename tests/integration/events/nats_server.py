"""A real nats-server (JetStream on, file store in a temp dir) that tests can kill and restart."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port

NATS_BIN = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")


class NatsServer:
    """Same port and same store dir across restarts, like a server that went down and came back."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.port = free_port()
        self.monitor_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 5.0) -> None:
        args = [NATS_BIN, "-js", "-sd", str(self.store), "-a", "127.0.0.1"]
        args += ["-p", str(self.port), "-m", str(self.monitor_port)]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        health = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        deadline = time.monotonic() + timeout
        while True:  # bounded by `timeout`
            try:
                with urllib.request.urlopen(health, timeout=0.2):
                    return
            except OSError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("nats-server failed to start") from None
                time.sleep(0.02)

    def stop(self, *, kill: bool = False) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self._proc.wait(10)
        self._proc = None
