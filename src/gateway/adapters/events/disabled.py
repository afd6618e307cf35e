"""features.async_logging = false: events are not published anywhere."""

from __future__ import annotations

from gateway.domain.events import RequestLogEvent


class DisabledEventPublisher:
    def publish(self, event: RequestLogEvent) -> None:
        return None
