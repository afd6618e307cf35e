"""Plain counters the publishers keep, for metrics (the observability layer reads them)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("gateway.events")


@dataclass
class PublisherCounters:
    published: int = 0  # acknowledged by JetStream (or written to the JSONL file)
    spooled: int = 0  # written to the local spool
    replayed: int = 0  # spooled events later acknowledged by JetStream
    dropped: int = 0  # lost: the spool was at its size bound (or the file unwritable)
    failed_publishes: int = 0  # publishes not acknowledged in time (then spooled)
    torn_lines: int = 0  # spool lines cut short by a crash, skipped at replay


class DropReporter:
    """One error line per burst of drops (not one per event), and one when it is over."""

    def __init__(self, counters: PublisherCounters, what: str) -> None:
        self._counters = counters
        self._what = what
        self._in_burst = 0

    def dropped(self, reason: str) -> None:
        self._counters.dropped += 1
        if self._in_burst == 0:
            log.error("request-log events DROPPED: %s (%s)", self._what, reason)
        self._in_burst += 1

    def kept(self) -> None:
        if self._in_burst:
            log.error(
                "request-log events: %d dropped in that burst; %s accepts events again",
                self._in_burst,
                self._what,
            )
            self._in_burst = 0
