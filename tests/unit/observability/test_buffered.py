"""Buffered metrics expose exactly what prometheus-client's own updates would, once flushed."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.adapters.observability.buffered import (
    BufferedCounter,
    BufferedGauge,
    BufferedHistogram,
    Family,
    Flusher,
    histogram_child,
    readable_histogram,
)

BOUNDS = (0.001, 0.01, 0.1, 1.0)
# On the bounds (`le` is inclusive), between them, below the first, above the last, zero.
OBSERVED = [0.0, 0.001, 0.0010001, 0.005, 0.01, 0.1, 0.5, 1.0, 1.5, 300.0, 0.01, 0.0]


def _histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram("h_seconds", "h", ["provider"], buckets=BOUNDS, registry=registry)


def _samples(registry: CollectorRegistry) -> list[tuple[str, dict[str, str], float]]:
    """Every sample but the creation timestamps (which differ between two registries)."""
    return [
        (s.name, s.labels, s.value)
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    ]


def _same(buffered: CollectorRegistry, direct: CollectorRegistry) -> None:
    """Counts exactly equal; sums equal but for float rounding (added in another order)."""
    expected = _samples(direct)
    assert [(name, labels) for name, labels, _ in _samples(buffered)] == [
        (name, labels) for name, labels, _ in expected
    ]
    assert [v for _, _, v in _samples(buffered)] == pytest.approx([v for _, _, v in expected])
    counts = [s for s in _samples(buffered) if not s[0].endswith("_sum")]
    assert counts == [s for s in expected if not s[0].endswith("_sum")]


def test_a_buffered_histogram_exposes_what_direct_observations_would() -> None:
    direct, buffered = CollectorRegistry(), CollectorRegistry()
    direct_metric = _histogram(direct)
    flusher = Flusher(eager=False)
    family = Family(_histogram(buffered), BufferedHistogram, flusher)
    for amount in OBSERVED:
        direct_metric.labels("openai").observe(amount)
        family("openai").observe(amount)
    direct_metric.labels("claude").observe(0.2)
    family("claude").observe(0.2)
    assert [s for s in _samples(buffered) if s[0] == "h_seconds_count"] == [
        ("h_seconds_count", {"provider": "openai"}, 0.0),  # nothing reaches it before a flush
        ("h_seconds_count", {"provider": "claude"}, 0.0),
    ]
    flusher.flush()
    _same(buffered, direct)
    # A second round adds to the first, and an empty flush changes nothing.
    for amount in OBSERVED[:5]:
        direct_metric.labels("openai").observe(amount)
        family("openai").observe(amount)
    flusher.flush()
    flusher.flush()
    _same(buffered, direct)
    assert generate_latest(buffered).count(b"\n") == generate_latest(direct).count(b"\n")


def test_a_buffered_counter_and_gauge_expose_what_direct_updates_would() -> None:
    direct, buffered = CollectorRegistry(), CollectorRegistry()
    direct_counter = Counter("c", "c", ["type"], registry=direct)
    direct_gauge = Gauge("g", "g", registry=direct)
    flusher = Flusher(eager=False)
    counters = Family(Counter("c", "c", ["type"], registry=buffered), BufferedCounter, flusher)
    gauge = BufferedGauge(Gauge("g", "g", registry=buffered), flusher)
    for kind, amount in [("input", 10), ("output", 3), ("input", 0), ("input", 2.5)]:
        direct_counter.labels(kind).inc(amount)
        counters(kind).inc(amount)
    for change in (1, 1, -1, 1, -1):
        direct_gauge.inc(change)
        gauge.inc(change) if change > 0 else gauge.dec()
    flusher.flush()
    _same(buffered, direct)
    with pytest.raises(ValueError, match="non-negative"):
        counters("input").inc(-1)


def test_the_same_label_values_give_the_same_child() -> None:
    family = Family(_histogram(CollectorRegistry()), BufferedHistogram, Flusher(eager=False))
    assert family("openai") is family("openai") and family("openai") is not family("claude")


async def test_an_eager_flusher_flushes_at_the_end_of_the_loop_turn() -> None:
    registry = CollectorRegistry()
    flusher = Flusher(eager=True)
    counter = Family(Counter("c", "c", ["type"], registry=registry), BufferedCounter, flusher)
    counter("a").inc()
    counter("a").inc(2)
    counter("b").inc()
    assert registry.get_sample_value("c_total", {"type": "a"}) == 0
    await asyncio.sleep(0)
    assert registry.get_sample_value("c_total", {"type": "a"}) == 3
    assert registry.get_sample_value("c_total", {"type": "b"}) == 1
    counter("a").inc()  # a new turn schedules a new flush
    await asyncio.sleep(0)
    assert registry.get_sample_value("c_total", {"type": "a"}) == 4


def test_an_eager_flusher_without_a_loop_flushes_at_once() -> None:
    registry = CollectorRegistry()
    flusher = Flusher(eager=True)
    counter = Family(Counter("c", "c", ["type"], registry=registry), BufferedCounter, flusher)
    counter("a").inc(5)
    assert registry.get_sample_value("c_total", {"type": "a"}) == 5


def test_a_histogram_kept_differently_is_observed_directly() -> None:
    """A prometheus-client release that changed its histogram internals costs speed, not counts."""
    real = _histogram(CollectorRegistry()).labels("openai")
    assert readable_histogram(real)
    assert isinstance(histogram_child(real, Flusher(eager=False)), BufferedHistogram)

    class Unlike:
        _upper_bounds = [0.1, float("inf")]
        _buckets: list[object] = []

        def __init__(self) -> None:
            self.observed: list[float] = []

        def observe(self, amount: float) -> None:
            self.observed.append(amount)

    unlike = Unlike()
    assert not readable_histogram(unlike)
    child = histogram_child(unlike, Flusher(eager=False))
    assert child is unlike
    child.observe(0.5)
    assert unlike.observed == [0.5]
