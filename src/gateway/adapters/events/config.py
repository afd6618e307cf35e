"""The NATS publisher's knobs, from `settings.nats` (plus a few internal bounds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.settings import Settings


@dataclass(frozen=True, slots=True)
class NatsPublisherConfig:
    url: str  # may hold credentials: never logged
    stream: str
    subject_prefix: str
    duplicate_window: float
    max_age: float
    max_bytes: int
    queue_size: int
    spool_dir: Path
    spool_max_bytes: int
    connect_timeout: float
    publish_timeout: float
    # Publishes awaiting their ack at once (one batch). 512 measured best (docs/events.md).
    max_in_flight: int = 512
    # Before a batch, the pump waits this long for more events (unless a full batch is
    # queued): a batch's wake-ups, write and acks cost about as much as its events, so fewer,
    # fuller batches save CPU. At W3's 156 streams a second a batch sent at once held one event.
    # An event reaches NATS that much later, and a SIGKILL may lose that much more of the queue.
    gather_window: float = 0.02
    # How long close() may spend handing the queue to NATS before spooling the rest.
    close_timeout: float = 5.0
    reconnect_wait: float = 0.5
    flush_interval: float = 0.2
    sync_interval: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> NatsPublisherConfig:
        nats = settings.nats
        return cls(
            url=nats.url,
            stream=nats.stream,
            subject_prefix=nats.subject_prefix,
            duplicate_window=nats.duplicate_window,
            max_age=nats.max_age,
            max_bytes=nats.max_bytes,
            queue_size=nats.queue_size,
            spool_dir=Path(nats.spool_dir),
            spool_max_bytes=nats.spool_max_bytes,
            connect_timeout=nats.connect_timeout,
            publish_timeout=nats.publish_timeout,
        )
