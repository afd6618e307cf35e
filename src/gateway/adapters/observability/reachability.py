"""Readiness probe: can this worker open a TCP connection to an upstream? Cached briefly, so a
burst of /ready calls costs one connect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

ProbeResult = tuple[bool, Mapping[str, Any]]


def host_port(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname or "localhost", parts.port or default


class TcpReachability:
    def __init__(self, base_url: str, *, timeout: float = 1.0, ttl: float = 2.0) -> None:
        self._host, self._port = host_port(base_url)
        self._timeout = timeout
        self._ttl = ttl
        self._result: ProbeResult | None = None
        self._checked = 0.0
        self._lock = asyncio.Lock()

    @property
    def target(self) -> str:
        # Host and port only: a base URL never carries more, but userinfo must not be shown.
        return f"{self._host}:{self._port}"

    async def __call__(self) -> ProbeResult:
        async with self._lock:  # concurrent /ready calls wait for the one connect in flight
            if self._result is None or time.monotonic() - self._checked >= self._ttl:
                self._result = await self._connect()
                self._checked = time.monotonic()
            return self._result

    async def _connect(self) -> ProbeResult:
        try:
            async with asyncio.timeout(self._timeout):
                _, writer = await asyncio.open_connection(self._host, self._port)
        except TimeoutError:
            return False, {"target": self.target, "error": "connect timed out"}
        except OSError as exc:
            return False, {"target": self.target, "error": exc.strerror or type(exc).__name__}
        writer.close()
        return True, {"target": self.target}
