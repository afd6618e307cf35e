"""Everything observability needs in one worker, built once by the composition root."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import BinaryIO

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Tracer

from gateway.adapters.observability.billing_metrics import metered_billing
from gateway.adapters.observability.event_counters import (
    CounterSource,
    EventCountersSync,
    OutboxBacklogSync,
    PeriodicSync,
)
from gateway.adapters.observability.logging_setup import configure_logging, flush_access_lines
from gateway.adapters.observability.metrics import GatewayMetrics
from gateway.adapters.observability.observed_events import ObservedEventPublisher
from gateway.adapters.observability.redaction import Redactor
from gateway.adapters.observability.tracing import build_tracer_provider, tracer_of
from gateway.domain.ports.billing import Billing
from gateway.domain.ports.events import EventPublisher
from gateway.settings import Settings

DEFAULT_STALL_THRESHOLD = 30.0


def configured_secrets(settings: Settings) -> list[str]:
    """Every key the configuration holds: redacted from any log line they could reach."""
    upstreams = settings.upstreams
    keys = [
        settings.features.new_api_key,
        settings.billing.api_key,
        upstreams.claude.api_key,
        upstreams.openai.api_key,
        upstreams.gemini.api_key,
    ]
    return [key.get_secret_value() for key in keys if key.get_secret_value()]


class Observability:
    """Per worker: metrics (None when off), the tracer (None when off) and structlog.

    `span_exporter` and `log_stream` are for tests (an in-memory exporter, a BytesIO).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        span_exporter: SpanExporter | None = None,
        log_stream: BinaryIO | None = None,
        configure_logs: bool = True,
        stall_threshold: float = DEFAULT_STALL_THRESHOLD,
        known_models: Iterable[str] = (),
    ) -> None:
        if configure_logs:
            configure_logging(
                json_lines=settings.server.mode == "production",
                level=settings.logging.level,
                secrets=configured_secrets(settings),
                stream=log_stream,
            )
        self.metrics: GatewayMetrics | None = (
            GatewayMetrics(
                stall_threshold=stall_threshold,
                known_models=(*settings.metrics.known_models, *known_models),
            )
            if settings.metrics.enabled
            else None
        )
        self._provider: TracerProvider | None = (
            build_tracer_provider(settings.tracing, span_exporter)
            if settings.tracing.enabled
            else None
        )
        self._access_log = settings.logging.access_log
        # Configured keys and key-shaped strings, out of the fields an event copies from clients.
        self._redactor = Redactor(configured_secrets(settings))
        self._sample_rate = settings.tracing.sample_rate
        self._syncs: list[PeriodicSync] = []
        self._started = False

    @property
    def tracer(self) -> Tracer | None:
        if self._provider is None:
            return None
        return tracer_of(self._provider, self._sample_rate)

    @property
    def http_metrics(self) -> GatewayMetrics | None:
        return self.metrics

    @property
    def observes_events(self) -> bool:
        """Whether metrics, span attributes or access lines are made from request-log events."""
        return self.metrics is not None or self._provider is not None or self._access_log

    def scrub(self, text: str) -> str:
        return self._redactor.scrub(text)

    def observe_events(self, inner: EventPublisher) -> EventPublisher:
        return ObservedEventPublisher(
            inner,
            metrics=self.metrics,
            tracing=self._provider is not None,
            access_log=self._access_log,
            scrub=self._redactor.scrub_short,
        )

    def observe_billing(self, billing: Billing) -> Billing:
        return metered_billing(billing, self.metrics)

    def count_events(self, source: CounterSource) -> None:
        """Export an event publisher's counters (e.g. `lambda: asdict(publisher.counters)`)."""
        if self.metrics is None:
            return
        self._add_sync(EventCountersSync(source, self.metrics))

    def watch_billing_outbox(self, pending: Callable[[], int]) -> None:
        """Export the billing outbox's backlog (e.g. `lambda: billing.outbox.pending`)."""
        if self.metrics is not None:
            self._add_sync(OutboxBacklogSync(pending, self.metrics))

    def _add_sync(self, sync: PeriodicSync) -> None:
        self._syncs.append(sync)
        if self._started:
            sync.start()

    async def start(self) -> None:
        self._started = True
        for sync in self._syncs:
            sync.start()

    async def close(self) -> None:
        for sync in self._syncs:
            await sync.close()
        if self._provider is not None:
            # Flushes pending spans; bounded by the exporter's timeout, off the event loop.
            await asyncio.to_thread(self._provider.shutdown)
        if self.metrics is not None:
            self.metrics.close()
        flush_access_lines()  # the last window's lines, before the worker exits
