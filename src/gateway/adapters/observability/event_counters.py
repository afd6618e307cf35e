"""Publisher counters (plain ints kept by the event publisher) turned into Prometheus counters.

The publisher counts in its own process; a collector reading those ints at scrape time would
only see the scraped worker's numbers. So each worker adds its own deltas to multiprocess-safe
counters: before every scrape it serves and every few seconds in the background.
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


class EventCountersSync:
    def __init__(self, source: CounterSource, metrics: GatewayMetrics, interval: float = 5.0):
        self._source = source
        self._metrics = metrics
        self._interval = interval
        self._seen: dict[str, int] = dict.fromkeys(RESULTS, 0)
        self._task: asyncio.Task[None] | None = None
        metrics.before_scrape(self.sync)

    def sync(self) -> None:
        totals = self._source()
        for result in RESULTS:
            total = totals.get(result, 0)
            delta = total - self._seen[result]
            if delta > 0:
                self._metrics.events(result).inc(delta)
            self._seen[result] = total

    def start(self) -> None:
        """Needs the worker's running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self.sync()  # the last counts, after the publisher's final flush

    async def _run(self) -> None:
        while True:  # until close() cancels it with the worker
            await asyncio.sleep(self._interval)
            try:
                self.sync()
            except Exception:
                log.exception("syncing event publisher counters failed")
