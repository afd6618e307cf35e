"""An EventPublisher that observes each request-log event (metrics, span attributes, the access
line) and then hands it to the real publisher."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from gateway.adapters.observability.event_metrics import EventMetrics, overhead_ms
from gateway.adapters.observability.genai import event_attributes
from gateway.adapters.observability.logging_setup import access_line
from gateway.adapters.observability.metrics import GatewayMetrics
from gateway.domain.clock import round_ms
from gateway.domain.events import RequestLogEvent
from gateway.domain.ports.events import EventPublisher
from gateway.domain.secrets import mask_key_shaped

_fallback = logging.getLogger("gateway.observability")


def access_fields(event: RequestLogEvent) -> dict[str, Any]:
    """The access line: who, what, how it ended, how long, how many tokens. Never a key."""
    usage = event.usage
    fields: dict[str, Any] = {
        "provider": str(event.provider),
        "operation": event.operation,
        "method": event.method,
        "route": event.route,
        "model": event.model,
        "stream": event.stream,
        "status": event.status,
        "outcome": str(event.outcome),
        "latency_ms": event.latency_ms,
        "upstream_ms": event.upstream_ms,
        "overhead_ms": round_ms(overhead_ms(event)),
        "ttft_ms": event.ttft_ms,
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "total_tokens": usage.total_tokens,
        "caller": event.caller,
        "client_ip": event.client_ip,
        "bytes_in": event.bytes_in,
        "bytes_out": event.bytes_out,
    }
    if event.error is not None:
        fields["error_type"] = event.error.type
    return fields


class ObservedEventPublisher:
    """Runs in the request's task when the request ends, so the request id is still bound in the
    log context and the server span is still current."""

    def __init__(
        self,
        inner: EventPublisher,
        *,
        metrics: GatewayMetrics | None,
        tracing: bool,
        access_log: bool,
        scrub: Callable[[str], str] = mask_key_shaped,
    ) -> None:
        self._inner = inner
        self._scrub = scrub
        self._metrics = EventMetrics(metrics) if metrics is not None else None
        self._tracing = tracing
        self._access_line = access_line() if access_log else None

    def publish(self, event: RequestLogEvent) -> None:
        # The event copies a client's words in two fields; a key put there (by mistake, or to
        # see it echoed) must not reach the stream, the metrics' labels or the spans. `scrub`
        # remembers short strings, so a repeated model name or user agent costs a lookup.
        scrub = self._scrub
        if event.model:
            event.model = scrub(event.model)
        if event.user_agent:
            event.user_agent = scrub(event.user_agent)
        try:
            self._observe(event)
        except Exception:  # observing must never cost the event (the port never raises)
            _fallback.exception("observing a request-log event failed")
        self._inner.publish(event)

    def _observe(self, event: RequestLogEvent) -> None:
        if self._metrics is not None:
            self._metrics.observe(event)
        if self._tracing:
            span = trace.get_current_span()
            if span.is_recording():
                span.set_attributes(event_attributes(event))
        if self._access_line is not None:
            self._access_line(access_fields(event), event.id)
