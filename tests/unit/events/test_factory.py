"""The container's choice of publisher follows the configuration."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.adapters.events.factory import event_publisher_for
from gateway.adapters.events.jsonl_publisher import JsonlEventPublisher
from gateway.adapters.events.managed import ManagedDisabledPublisher, ManagedEventPublisher
from gateway.adapters.events.nats_publisher import NatsJetStreamPublisher
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
