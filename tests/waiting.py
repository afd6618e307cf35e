"""Waiting in tests for what happens in the background (a flush, a retry, a delivery)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def wait_until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Polls `condition` until it is true; fails the test (TimeoutError) after `timeout`."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)
