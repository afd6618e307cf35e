"""Exponential backoff with jitter, for retrying deliveries to a service that is down."""

from __future__ import annotations

import random


class Backoff:
    """Delays base, 2 x base, 4 x base ... capped; each drawn in [delay/2, delay] (jitter), so
    that workers retrying the same service do not all knock at once."""

    def __init__(self, base: float = 0.25, cap: float = 30.0, factor: float = 2.0) -> None:
        self._base, self._cap, self._factor = base, cap, factor
        self._failures = 0

    @property
    def failures(self) -> int:
        return self._failures

    def reset(self) -> None:
        self._failures = 0

    def next_delay(self) -> float:
        """Record one more failure; the time to wait before the next attempt."""
        ceiling = min(self._cap, self._base * self._factor ** min(self._failures, 64))
        self._failures += 1
        return random.uniform(ceiling / 2, ceiling)
