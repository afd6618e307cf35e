"""Turning one request-log event into metric updates."""

from __future__ import annotations

from gateway.adapters.observability.metrics import GatewayMetrics
from gateway.domain.events import RequestLogEvent

_TOKEN_TYPES = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("cache_write", "cache_write_tokens"),
    ("reasoning", "reasoning_tokens"),
)


def overhead_ms(event: RequestLogEvent) -> float:
    return max(event.latency_ms - event.upstream_ms, 0.0)


def observe_event(metrics: GatewayMetrics, event: RequestLogEvent) -> None:
    provider, operation = event.provider.value, event.operation
    stream = "true" if event.stream else "false"
    metrics.requests(provider, operation, str(event.status), event.outcome.value).inc()
    metrics.request_duration(provider, operation, stream).observe(event.latency_ms / 1000)
    if event.upstream_ms > 0:
        metrics.upstream_duration(provider, operation).observe(event.upstream_ms / 1000)
    if event.ttft_ms is not None:
        metrics.first_byte(provider, operation).observe(event.ttft_ms / 1000)
    metrics.overhead(provider, stream).observe(overhead_ms(event) / 1000)
    usage = event.usage
    if usage.total_tokens or usage.output_tokens:
        model = metrics.model_label(event.model)
        for token_type, field in _TOKEN_TYPES:
            count: int = getattr(usage, field)
            if count:
                metrics.tokens(provider, model, token_type).inc(count)
