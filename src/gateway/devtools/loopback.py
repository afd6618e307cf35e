"""Real servers on loopback for tests, benchmarks and examples: a free port, a Sanic app served
inside the running loop, and a nats-server (JetStream on) that can be killed and restarted."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sanic import Sanic

NATS_BIN = shutil.which("nats-server") or str(Path(sys.executable).parent / "nats-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@asynccontextmanager
async def serving(app: Sanic[Any, Any]) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port in the running loop; yields its base URL. The whole
    lifecycle runs once (listeners included), with real HTTP/1.1 and real streaming."""
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1",
        port=port,
        return_asyncio_server=True,
        access_log=False,
        protocol=getattr(app.ctx, "http_protocol", None),  # the gateway's (entrypoints/http)
    )
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


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

    @property
    def pid(self) -> int | None:
        """The running server's process id (benchmarks pin it to a core)."""
        return self._proc.pid if self.running and self._proc is not None else None

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
