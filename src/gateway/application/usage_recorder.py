"""Usage records handed to billing in batches, from one task.

A request's end costs a list append. One task at a time passes whatever has queued to
`Billing.record_many` and, while billing works on that batch, the next requests' records queue
for the next call. Under load this replaces a task, a chain of coroutines and a future per
request with one of each per batch; at a low rate every batch is one record, as before.
The task belongs to the gateway, not to a request: a client that goes away cancels nothing.
"""

from __future__ import annotations

import logging

from gateway.application.background import BackgroundTasks
from gateway.domain.ports.billing import Billing, UsageRecord

log = logging.getLogger(__name__)

MAX_BATCH = 512


class UsageRecorder:
    def __init__(
        self, billing: Billing, background: BackgroundTasks, *, max_batch: int = MAX_BATCH
    ) -> None:
        self._billing = billing
        self._background = background
        self._max_batch = max_batch
        self._queue: list[UsageRecord] = []
        self._pumping = False

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, record: UsageRecord) -> None:
        """Queue `record`; needs a running event loop (the pump is a task of it). Billing is
        told at once (`expect`): a local quota counts it while it waits for its batch."""
        self._billing.expect(record)
        self._queue.append(record)
        if not self._pumping:
            self._pumping = True
            self._background.spawn(self._pump())

    async def _pump(self) -> None:
        try:
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                try:
                    await self._billing.record_many(batch)
                except Exception:  # adapters keep failures durably; this is a bug, say so loudly
                    log.exception("billing did not take %d usage record(s)", len(batch))
        finally:
            self._pumping = False
