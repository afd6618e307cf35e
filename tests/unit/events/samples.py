"""Request-log events for the publisher tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from gateway.domain.events import EventUsage, RequestLogEvent
from gateway.domain.outcome import Outcome
from gateway.domain.provider import Provider

PROVIDERS = (Provider.CLAUDE, Provider.OPENAI, Provider.GEMINI)


def sample_event(index: int = 0, provider: Provider | None = None) -> RequestLogEvent:
    return RequestLogEvent(
        id=str(uuid.uuid4()),
        ts=datetime.now(UTC),
        provider=provider or PROVIDERS[index % 3],
        operation="chat_completions",
        route="/v1/chat/completions",
        method="POST",
        model="gpt-4o",
        stream=False,
        status=200,
        outcome=Outcome.OK,
        latency_ms=12.5,
        ttft_ms=None,
        usage=EventUsage(input_tokens=10, output_tokens=index, total_tokens=10 + index),
        caller="fp_test",
        upstream="direct",
        upstream_request_id=f"req_{index}",
        client_ip="127.0.0.1",
        user_agent="tests",
        bytes_in=100,
        bytes_out=200,
    )
