"""What is retried, and how long a retry waits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.application.batch_retry import (
    RetryPolicy,
    backoff_delay,
    retry_after,
    retryable_error,
    retryable_status,
)
from gateway.domain.errors import (
    BillingUnavailable,
    InvalidRequest,
    QuotaExceeded,
    UpstreamCutOff,
    UpstreamTimeout,
    UpstreamUnreachable,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(408, True), (429, True), (500, True), (503, True), (400, False), (404, False), (200, False)],
)
def test_retryable_statuses(status: int, expected: bool) -> None:
    assert retryable_status(status) is expected


def test_upstream_failures_are_retried_refusals_are_not() -> None:
    for error in (UpstreamUnreachable(), UpstreamTimeout(), UpstreamCutOff(), BillingUnavailable()):
        assert retryable_error(error)
    for error in (InvalidRequest(), QuotaExceeded()):
        assert not retryable_error(error)


def test_retry_after_in_seconds_http_date_and_ms() -> None:
    assert retry_after([("Retry-After", "3")]) == 3.0
    assert retry_after([("retry-after", "Thu, 01 Jan 2026 12:00:05 GMT")], NOW) == 5.0
    assert retry_after([("retry-after", "Thu, 01 Jan 2026 11:00:00 GMT")], NOW) == 0.0
    # retry-after-ms is more precise and wins (OpenAI sends both).
    assert retry_after([("retry-after", "3"), ("retry-after-ms", "250")]) == 0.25


def test_unreadable_or_missing_retry_after_is_none() -> None:
    assert retry_after([]) is None
    assert retry_after([("retry-after", "soon")]) is None
    assert retry_after([("retry-after-ms", "x"), ("retry-after", "2")]) == 2.0


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=5.0)

    assert backoff_delay(policy, 1, None, jitter=lambda: 1.0) == 1.0
    assert backoff_delay(policy, 2, None, jitter=lambda: 1.0) == 2.0
    assert backoff_delay(policy, 3, None, jitter=lambda: 0.0) == 2.0
    assert backoff_delay(policy, 10, None, jitter=lambda: 1.0) == 5.0


def test_the_servers_wait_wins_within_its_cap() -> None:
    policy = RetryPolicy(max_retry_after=60.0)

    assert backoff_delay(policy, 1, 7.0) == 7.0
    assert backoff_delay(policy, 1, 3600.0) == 60.0
