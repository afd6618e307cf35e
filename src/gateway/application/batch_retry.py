"""When a batch request is tried again, and how long it waits first.

Retried: 408, 429 and 5xx answers, and the gateway's own upstream failures (unreachable, timeout,
cut off) and billing being unavailable. Not retried: other 4xx and refusals (quota exceeded, bad
key, bad body), which would fail the same way again.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from gateway.domain.errors import BillingUnavailable, GatewayError, UpstreamError

RETRY_STATUSES = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5  # seconds before the first retry, doubled each time
    max_delay: float = 30.0  # cap on the computed backoff
    # Cap on a server's own retry-after: a value beyond it is waited for this long at most.
    max_retry_after: float = 120.0


def retryable_status(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def retryable_error(error: GatewayError) -> bool:
    return isinstance(error, UpstreamError | BillingUnavailable)


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def retry_after(headers: Iterable[tuple[str, str]], now: datetime | None = None) -> float | None:
    """Seconds the server asked to wait: retry-after-ms, else retry-after (seconds or HTTP date)."""
    pairs = list(headers)
    raw_ms = _header(pairs, "retry-after-ms")
    if raw_ms is not None:
        try:
            return max(float(raw_ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = _header(pairs, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    waited: float = (when - (now or datetime.now(UTC))).total_seconds()
    return max(waited, 0.0)


def backoff_delay(
    policy: RetryPolicy,
    attempt: int,
    asked: float | None,
    jitter: Callable[[], float] = random.random,
) -> float:
    """The wait before attempt `attempt + 1`. The server's retry-after wins when it gave one."""
    if asked is not None:
        return min(asked, policy.max_retry_after)
    computed = min(policy.base_delay * 2.0 ** (attempt - 1), policy.max_delay)
    # Jitter in [50%, 100%]: workers hit by the same 429 burst do not come back in lockstep.
    return computed * (0.5 + 0.5 * jitter())
