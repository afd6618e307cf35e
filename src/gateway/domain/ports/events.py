"""Port: where request-log events go (NATS JetStream, a JSONL file, memory in tests)."""

from __future__ import annotations

from typing import Protocol

from gateway.domain.events import RequestLogEvent


class EventPublisher(Protocol):
    def publish(self, event: RequestLogEvent) -> None:
        """Hand an event over without waiting for its delivery. Never raises and never blocks the
        caller; delivery (and what happens when the sink is down) is the adapter's business."""
        ...
