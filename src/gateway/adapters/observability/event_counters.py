"""Numbers other components keep (the event publisher's counters, the billing outbox's
backlog) turned into Prometheus metrics.

A component counts in its own process; a collector reading those numbers at scrape time would
only see the scraped worker's. So each worker writes its own into multiprocess-safe metrics:
before every scrape it serves and every few seconds in the background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from gateway.adapters.observability.metrics import GatewayMetrics
from gateway.adapters.tasks import cancel_and_wait

log = logging.getLogger("gateway.observability")

CounterSource = Callable[[], Mapping[str, int]]
RESULTS = ("published", "spooled", "replayed", "dropped", "failed_publishes")


class PeriodicSync:
    """Runs `sync()` before every scrape this worker serves, every `interval` seconds from
    `start()`, and once more at `close()`."""

    def __init__(self, metrics: GatewayMetrics, interval: float = 5.0) -> None:
        self._metrics = metrics
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        metrics.before_scrape(self.sync)

    def sync(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        """Needs the worker's running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self.sync()  # the last counts, after the component's final flush

    async def _run(self) -> None:
        while True:  # until close() cancels it with the worker
            await asyncio.sleep(self._interval)
            try:
                self.sync()
            except Exception:
                log.exception("syncing %s failed", type(self).__name__)


class EventCountersSync(PeriodicSync):
    """The event publisher's counters, added as deltas to `gateway_events_total`."""

    def __init__(self, source: CounterSource, metrics: GatewayMetrics, interval: float = 5.0):
        self._source = source
        self._seen: dict[str, int] = dict.fromkeys(RESULTS, 0)
        super().__init__(metrics, interval)

    def sync(self) -> None:
        totals = self._source()
        for result in RESULTS:
            total = totals.get(result, 0)
            delta = total - self._seen[result]
            if delta > 0:
                self._metrics.events(result).inc(delta)
            self._seen[result] = total


class OutboxBacklogSync(PeriodicSync):
    """How many usage records billing's durable outbox holds for a later delivery (the billing
    service down, the ledger unwritable): `gateway_billing_outbox_pending`, summed over
    workers. Records wait there without loss; a backlog that grows is worth an alert."""

    def __init__(self, pending: Callable[[], int], metrics: GatewayMetrics, interval: float = 5.0):
        self._pending = pending
        super().__init__(metrics, interval)

    def sync(self) -> None:
        self._metrics.billing_outbox_pending.set(self._pending())
