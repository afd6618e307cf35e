"""Readiness: the gateway can serve only when every dependency it needs answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

# A probe answers (ready, details). It must be quick; it is bounded by `timeout` anyway.
Probe = Callable[[], Awaitable[tuple[bool, Mapping[str, Any]]]]


class Readiness:
    def __init__(self, probes: Mapping[str, Probe], timeout: float = 2.0) -> None:
        self._probes = dict(probes)
        self._timeout = timeout

    async def _run(self, probe: Probe) -> tuple[bool, Mapping[str, Any]]:
        try:
            return await asyncio.wait_for(probe(), self._timeout)
        except TimeoutError:
            return False, {"error": "timed out"}
        except Exception as exc:  # a probe that fails says "not ready", never crashes /ready
            return False, {"error": type(exc).__name__}

    async def check(self) -> dict[str, Any]:
        names = list(self._probes)
        results = await asyncio.gather(*(self._run(self._probes[n]) for n in names))
        checks = {
            n: {"ready": ok, **details} for n, (ok, details) in zip(names, results, strict=True)
        }
        failed = [n for n, (ok, _) in zip(names, results, strict=True) if not ok]
        # `failed` names the dependencies that keep the gateway from serving (503).
        return {"ready": not failed, "failed": failed, "checks": checks}
