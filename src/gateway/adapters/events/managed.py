"""What the container runs: an EventPublisher with a lifecycle and a readiness answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from gateway.adapters.events.disabled import DisabledEventPublisher
from gateway.domain.ports.events import EventPublisher

Readiness = tuple[bool, Mapping[str, Any]]


@runtime_checkable
class ManagedEventPublisher(EventPublisher, Protocol):
    async def start(self) -> None:
        """Open the sink. Bounded in time: never waits on an unreachable server for long."""
        ...

    async def close(self) -> None:
        """Deliver or durably keep every event handed over so far, then release resources."""
        ...

    async def readiness(self) -> Readiness:
        """(ready, details) for /ready; details never hold a secret."""
        ...


class ManagedDisabledPublisher(DisabledEventPublisher):
    """features.async_logging = false, with the lifecycle the container expects."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def readiness(self) -> Readiness:
        return True, {"backend": "disabled"}
