"""Metric values after known events, billing calls and publisher counters."""

from __future__ import annotations

import asyncio

import pytest

from gateway.adapters.observability.billing_metrics import MetricsBilling, metered_billing
from gateway.adapters.observability.event_counters import EventCountersSync
from gateway.adapters.observability.event_metrics import EventMetrics
from gateway.adapters.observability.metrics import GatewayMetrics
from gateway.adapters.observability.model_labels import ModelLabels
from gateway.adapters.observability.observability import Observability
from gateway.domain.caller import ANONYMOUS
from gateway.domain.errors import QuotaExceeded
from gateway.domain.outcome import Outcome
from gateway.domain.ports.billing import ALLOW_FAIL_OPEN, AuthorizationRequest, Decision
from gateway.domain.provider import Operation, Provider
from gateway.settings import parse_settings
from tests.fakes import MemoryBilling
from tests.unit.observability.helpers import make_event, value


def test_events_become_request_token_duration_and_overhead_metrics() -> None:
    metrics = GatewayMetrics()
    observe = EventMetrics(metrics).observe
    observe(make_event())
    observe(make_event())
    observe(
        make_event(
            provider=Provider.CLAUDE,
            operation="messages",
            stream=True,
            ttft_ms=50.0,
            status=502,
            outcome=Outcome.UPSTREAM_ERROR,
            model="claude-x",
        ),
    )
    text, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    ok = {"provider": "openai", "operation": "chat_completions", "status": "200", "outcome": "ok"}
    assert value(text, "gateway_requests_total", **ok) == 2
    assert value(text, "gateway_requests_total", provider="claude", outcome="upstream_error") == 1
    assert (
        value(text, "gateway_tokens_total", provider="openai", model="gpt-4o", type="input") == 20
    )
    assert value(text, "gateway_tokens_total", model="gpt-4o", type="cache_read") == 6
    assert value(text, "gateway_tokens_total", model="gpt-4o", type="reasoning") == 2
    assert value(text, "gateway_request_duration_seconds_count", provider="openai") == 2
    assert value(text, "gateway_request_duration_seconds_sum", provider="openai") == pytest.approx(
        0.24
    )
    assert value(text, "gateway_upstream_duration_seconds_count") == 3
    # Overhead = latency - upstream wait = 20 ms per request; 0.025 is the first bucket above.
    assert value(text, "gateway_overhead_seconds_bucket", provider="openai", le="0.01") == 0
    assert value(text, "gateway_overhead_seconds_bucket", provider="openai", le="0.025") == 2
    assert value(text, "gateway_time_to_first_byte_seconds_count", provider="claude") == 1
    assert value(text, "gateway_time_to_first_byte_seconds_count", provider="openai") == 0


async def test_in_a_loop_events_wait_for_their_window_but_a_scrape_counts_them_at_once() -> None:
    metrics = GatewayMetrics()
    events = EventMetrics(metrics, window=0.05)
    events.observe(make_event())
    events.observe(make_event())
    assert events.queued == 2
    text, _ = metrics.exposition()  # the scrape observes what is queued first
    assert value(text, "gateway_requests_total", provider="openai") == 2
    events.observe(make_event())
    await asyncio.sleep(0.1)
    assert events.queued == 0  # the window ended: observed without a scrape
    text, _ = metrics.exposition()
    assert value(text, "gateway_requests_total", provider="openai") == 3


async def test_events_still_queued_are_counted_when_the_worker_closes() -> None:
    metrics = GatewayMetrics()
    events = EventMetrics(metrics, window=30.0)
    events.observe(make_event())
    metrics.close()
    assert events.queued == 0
    assert value(metrics.render()[0], "gateway_requests_total", provider="openai") == 1


async def test_a_zero_window_is_the_end_of_the_loop_turn() -> None:
    # The default with several workers (any worker may serve the scrape): the two-worker
    # test in tests/integration/observability/test_multiprocess.py holds the totals exact.
    events = EventMetrics(GatewayMetrics(), window=0.0)
    events.observe(make_event())
    assert events.queued == 1
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert events.queued == 0


def test_stream_gap_stall_and_in_flight() -> None:
    metrics = GatewayMetrics(stall_threshold=1.0)
    metrics.request_started()
    metrics.request_started()
    metrics.request_ended()
    metrics.stream_gap_observer("gemini")(0.03)
    metrics.stream_stalled("gemini")
    text, _ = metrics.exposition()
    assert value(text, "gateway_requests_in_flight") == 1
    assert value(text, "gateway_stream_chunk_gap_seconds_bucket", le="0.05") == 1
    assert value(text, "gateway_stream_stalls_total", provider="gemini") == 1


def test_model_label_is_bounded() -> None:
    labels = ModelLabels(known=["gpt-4o"], limit=2)
    assert [labels(m) for m in ["gpt-4o", "a", "b", "c", "a", None, "bad model!"]] == [
        "gpt-4o",
        "a",
        "b",
        "other",
        "a",
        "none",
        "other",
    ]


AUTHORIZATION = AuthorizationRequest(
    request_id="r",
    caller=ANONYMOUS,
    provider=Provider.OPENAI,
    operation=Operation.CHAT_COMPLETIONS,
    model=None,
)


async def test_billing_decisions_and_latency_are_counted() -> None:
    metrics = GatewayMetrics()
    inner = MemoryBilling()
    billing = metered_billing(inner, metrics)
    assert isinstance(billing, MetricsBilling) and metered_billing(inner, None) is inner
    request = AUTHORIZATION
    assert (await billing.authorize(request)).allowed
    inner.deny = QuotaExceeded()
    assert not (await billing.authorize(request)).allowed
    text, _ = metrics.exposition()
    assert value(text, "gateway_billing_decisions_total", decision="allowed") == 1
    assert value(text, "gateway_billing_decisions_total", decision=QuotaExceeded.kind) == 1
    assert value(text, "gateway_billing_duration_seconds_count", call="authorize") == 2


async def test_a_request_let_through_by_fail_open_is_counted_apart() -> None:
    # Billing down under fail_open allows everything: the decisions must still show it.
    class Down(MemoryBilling):
        async def authorize(self, request: AuthorizationRequest) -> Decision:
            return ALLOW_FAIL_OPEN

    metrics = GatewayMetrics()
    billing = metered_billing(Down(), metrics)
    request = AUTHORIZATION
    assert (await billing.authorize(request)).allowed
    text, _ = metrics.exposition()
    assert value(text, "gateway_billing_decisions_total", decision="allowed_fail_open") == 1
    assert value(text, "gateway_billing_decisions_total", decision="allowed") == 0


def test_publisher_counters_are_exported_as_deltas() -> None:
    metrics = GatewayMetrics()
    counts = {"published": 3, "spooled": 1, "dropped": 0}
    EventCountersSync(lambda: counts, metrics)
    text, _ = metrics.exposition()  # syncs before the scrape
    assert value(text, "gateway_events_total", result="published") == 3
    counts.update(published=5, dropped=2)
    text, _ = metrics.exposition()
    assert value(text, "gateway_events_total", result="published") == 5
    assert value(text, "gateway_events_total", result="spooled") == 1
    assert value(text, "gateway_events_total", result="dropped") == 2


def test_configured_known_models_keep_their_label_after_a_flood_of_names() -> None:
    # Any client can fill a worker's 50 slots with names of its own; configured ones stay.
    settings = parse_settings({"metrics": {"known_models": ["gpt-5-mini"]}}, env={})
    observability = Observability(settings, configure_logs=False)
    assert observability.metrics is not None
    label = observability.metrics.model_label
    for number in range(60):
        label(f"bogus-{number}")
    assert label("gpt-5-mini") == "gpt-5-mini" and label("gpt-4.1-mini") == "other"
