"""The gateway's Prometheus metrics, one instance per worker process.

Names follow Prometheus conventions (`_total`, `_seconds`); labels are bounded: provider,
operation, status code, outcome, a bounded model label, token type, never paths, ids or keys.
With several Sanic workers the launcher sets PROMETHEUS_MULTIPROC_DIR before prometheus_client
is imported; the values then live in mmap files and `exposition()` merges every process's.
Updates are counted in plain Python and reach prometheus-client in batches (see `buffered`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from gateway.adapters.observability import buckets
from gateway.adapters.observability.buffered import (
    BufferedCounter,
    BufferedGauge,
    Family,
    Flusher,
    Observer,
    histogram_child,
)
from gateway.adapters.observability.model_labels import ModelLabels

_PER_PROVIDER = ("provider",)


def multiprocess_mode() -> bool:
    """Whether prometheus_client chose mmap-file values (decided when it was first imported)."""
    return values.ValueClass is not values.MutexValue


class GatewayMetrics:
    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        stall_threshold: float = 30.0,
        known_models: Iterable[str] = (),
        model_limit: int = 50,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.stall_threshold = stall_threshold
        self.model_label = ModelLabels(known_models, model_limit)
        self._before_scrape: list[Callable[[], None]] = []
        # Another worker may serve the scrape: then every loop turn's counts reach the files.
        self._flusher = Flusher(eager=multiprocess_mode())
        self._define_requests()
        self._define_streams()
        self._define_dependencies()

    def _define_requests(self) -> None:
        r = self.registry
        self.requests = self._counters(
            Counter(
                "gateway_requests",
                "Relayed requests by provider, operation, status code and outcome",
                ["provider", "operation", "status", "outcome"],
                registry=r,
            )
        )
        self.request_duration = self._histograms(
            Histogram(
                "gateway_request_duration_seconds",
                "Relayed request duration, from arrival to the last byte sent",
                ["provider", "operation", "stream"],
                buckets=buckets.DURATION,
                registry=r,
            )
        )
        self.upstream_duration = self._histograms(
            Histogram(
                "gateway_upstream_duration_seconds",
                "Time spent waiting on the upstream (headers and body reads) per request",
                ["provider", "operation"],
                buckets=buckets.DURATION,
                registry=r,
            )
        )
        self.overhead = self._histograms(
            Histogram(
                "gateway_overhead_seconds",
                "The gateway's own time per request: duration minus the upstream wait",
                ["provider", "stream"],
                buckets=buckets.OVERHEAD,
                registry=r,
            )
        )
        self.tokens = self._counters(
            Counter(
                "gateway_tokens",
                "Tokens by provider, model and type (output includes reasoning)",
                ["provider", "model", "type"],
                registry=r,
            )
        )
        self.in_flight = BufferedGauge(
            Gauge(
                "gateway_requests_in_flight",
                "Requests being served right now",
                registry=r,
                multiprocess_mode="livesum",
            ),
            self._flusher,
        )

    def _counters(self, metric: Counter) -> Family[BufferedCounter]:
        return Family(metric, BufferedCounter, self._flusher)

    def _histograms(self, metric: Histogram) -> Family[Observer]:
        return Family(metric, histogram_child, self._flusher)

    def _define_streams(self) -> None:
        r = self.registry
        self.first_byte = self._histograms(
            Histogram(
                "gateway_time_to_first_byte_seconds",
                "Streams: time from arrival to the upstream's first body byte",
                ["provider", "operation"],
                buckets=buckets.FIRST_BYTE,
                registry=r,
            )
        )
        self.chunk_gap = self._histograms(
            Histogram(
                "gateway_stream_chunk_gap_seconds",
                "Silence between two consecutive chunks of a relayed stream",
                _PER_PROVIDER,
                buckets=buckets.CHUNK_GAP,
                registry=r,
            )
        )
        self.stalls = self._counters(
            Counter(
                "gateway_stream_stalls",
                "Streams with a silence longer than the stall threshold (counted once per stream)",
                _PER_PROVIDER,
                registry=r,
            )
        )

    def _define_dependencies(self) -> None:
        r = self.registry
        # Set from the outbox's count (event_counters.OutboxBacklogSync), not on the hot path.
        self.billing_outbox_pending = Gauge(
            "gateway_billing_outbox_pending",
            "Usage records the durable billing outbox holds for a later delivery",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.events = self._counters(
            Counter(
                "gateway_events",
                "Request-log events by what became of them "
                "(published, spooled, replayed, dropped, failed_publishes)",
                ["result"],
                registry=r,
            )
        )
        self.billing_decisions = self._counters(
            Counter(
                "gateway_billing_decisions",
                "Billing authorizations by decision (allowed, a denial kind, or error)",
                ["decision"],
                registry=r,
            )
        )
        self.billing_duration = self._histograms(
            Histogram(
                "gateway_billing_duration_seconds",
                "Billing call latency by call (authorize; record: one call per batch of records)",
                ["call"],
                buckets=buckets.BILLING,
                registry=r,
            )
        )
        self.billing_records = self._counters(
            Counter(
                "gateway_billing_records",
                "Usage records handed to billing by result (ok, error)",
                ["result"],
                registry=r,
            )
        )

    # HttpMetrics (what the entrypoint middleware and relay handler call).

    def request_started(self) -> None:
        self.in_flight.inc()

    def request_ended(self) -> None:
        self.in_flight.dec()

    def stream_gap_observer(self, provider: str) -> Callable[[float], None]:
        return self.chunk_gap(provider).observe

    def stream_stalled(self, provider: str) -> None:
        self.stalls(provider).inc()

    def before_scrape(self, hook: Callable[[], None]) -> None:
        """Run `hook` before each exposition (e.g. to sync counters kept elsewhere)."""
        self._before_scrape.append(hook)

    def flush(self) -> None:
        """Hand every count made since the last flush to prometheus-client."""
        self._flusher.flush()

    def prepare_scrape(self) -> None:
        """Sync the hooks' counters and flush the buffered counts. On the event-loop thread:
        the buffers are not thread-safe (the exposition itself may run in another thread)."""
        for hook in self._before_scrape:
            hook()
        self.flush()

    def render(self) -> tuple[bytes, str]:
        """The exposition of what prometheus-client holds, and its content type. Thread-safe."""
        if multiprocess_mode():
            # Fresh per scrape: the collector reads every worker's files (sync IO, small).
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def exposition(self) -> tuple[bytes, str]:
        """`prepare_scrape` then `render`, for a caller on the loop thread or without a loop."""
        self.prepare_scrape()
        return self.render()

    def close(self) -> None:
        """This worker is stopping: its last counts reach the files, its live gauges (in flight)
        leave the sums."""
        self.prepare_scrape()  # the hooks first: queued events are counted too
        if multiprocess_mode():
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
