"""Which EventPublisher the gateway runs, from its configuration."""

from __future__ import annotations

from pathlib import Path

from gateway.adapters.events.config import NatsPublisherConfig
from gateway.adapters.events.jsonl_publisher import JsonlEventPublisher
from gateway.adapters.events.managed import ManagedDisabledPublisher, ManagedEventPublisher
from gateway.adapters.events.nats_publisher import NatsJetStreamPublisher
from gateway.settings import Settings


def event_publisher_for(settings: Settings) -> ManagedEventPublisher:
    if not settings.features.async_logging:
        return ManagedDisabledPublisher()
    if settings.events.backend == "jsonl":
        return JsonlEventPublisher(
            Path(settings.events.jsonl_path), max_buffered=settings.nats.queue_size
        )
    return NatsJetStreamPublisher(NatsPublisherConfig.from_settings(settings))
