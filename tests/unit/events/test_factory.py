"""The container's choice of publisher follows the configuration."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.adapters.events.factory import event_publisher_for
from gateway.adapters.events.jsonl_publisher import JsonlEventPublisher
from gateway.adapters.events.managed import ManagedDisabledPublisher, ManagedEventPublisher
from gateway.adapters.events.nats_publisher import NatsJetStreamPublisher
from gateway.adapters.observability.observability import Observability
from gateway.container.from_settings import observed_events
from gateway.settings import parse_settings


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        ({"features": {"async_logging": False}}, ManagedDisabledPublisher),
        ({"events": {"backend": "jsonl"}}, JsonlEventPublisher),
        ({}, NatsJetStreamPublisher),
    ],
)
def test_publisher_follows_config(data: dict[str, Any], kind: type) -> None:
    publisher = event_publisher_for(parse_settings(data, env={}))
    assert isinstance(publisher, kind) and isinstance(publisher, ManagedEventPublisher)


async def test_disabled_publisher_is_ready() -> None:
    publisher = ManagedDisabledPublisher()
    await publisher.start()
    assert (await publisher.readiness())[0]
    await publisher.close()


@pytest.mark.parametrize(
    ("data", "reads_events"),
    [
        # Nothing reads events: the relay gets no publisher and builds none.
        ({"features": {"async_logging": False}, "metrics": {"enabled": False}}, False),
        # Each reader on its own is enough to have them built.
        ({"features": {"async_logging": False}, "logging": {"access_log": True}}, True),
        ({"features": {"async_logging": False}, "metrics": {"enabled": True}}, True),
        ({"metrics": {"enabled": False}}, True),  # published to NATS
    ],
)
def test_relay_gets_a_publisher_only_when_something_reads_events(
    data: dict[str, Any], reads_events: bool
) -> None:
    settings = parse_settings(
        {"logging": {"access_log": False}, "metrics": {"enabled": False}, **data}, env={}
    )
    observability = Observability(settings, configure_logs=False)
    publisher = observed_events(observability, event_publisher_for(settings))
    assert (publisher is not None) == reads_events
