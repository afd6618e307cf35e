"""Building request-log events and reading the Prometheus exposition back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from gateway.domain.events import EventUsage, RequestLogEvent
from gateway.domain.outcome import Outcome
from gateway.domain.provider import Provider


def make_event(**fields: Any) -> RequestLogEvent:
    values: dict[str, Any] = {
        "id": "req1",
        "ts": datetime(2026, 1, 1, tzinfo=UTC),
        "provider": Provider.OPENAI,
        "operation": "chat_completions",
        "route": "/v1/chat/completions",
        "method": "POST",
        "model": "gpt-4o",
        "stream": False,
        "status": 200,
        "outcome": Outcome.OK,
        "latency_ms": 120.0,
        "upstream_ms": 100.0,
        "ttft_ms": None,
        "usage": EventUsage(
            input_tokens=10,
            output_tokens=4,
            cache_read_tokens=3,
            reasoning_tokens=1,
            total_tokens=17,
        ),
        "caller": "fp_0123456789abcdef",
        "upstream": "direct",
        "upstream_request_id": "req_up_1",
        "client_ip": "127.0.0.1",
        "user_agent": "test",
        "bytes_in": 10,
        "bytes_out": 20,
    }
    values.update(fields)
    return RequestLogEvent(**values)


def samples(text: bytes | str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, keyed by (name, labels)."""
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: bytes | str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples(text).items() if n == name and wanted <= ls)
