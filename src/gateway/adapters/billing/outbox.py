"""A durable outbox for usage records: nothing recorded is lost, whatever the billing service does.

`submit` writes the record to this process's log (outbox_log.py) before anything else, then tries
to deliver it at once. A record that could not be delivered stays in the log, which is fsynced,
and a background task retries it with exponential backoff and jitter until the service
acknowledges it. A later process (a restarted gateway, or a sibling worker) adopts the logs of
dead processes and delivers what they left. Deliveries are idempotent on the service's side
(Idempotency-Key = request id), so a record delivered twice (e.g. the process died between the
acknowledgement and writing it down) is billed once. A record the service refuses as malformed
is moved to the dead letter (dead-letter.jsonl), never dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from itertools import islice
from pathlib import Path

from gateway.adapters.billing.backoff import Backoff
from gateway.adapters.billing.outbox_log import OutboxLog, adopt_orphans, append_dead_letter

log = logging.getLogger(__name__)


class Delivered(Enum):
    ACKED = "acked"  # the service has the record (first time or replay)
    REJECTED = "rejected"  # the service will never take it (malformed): dead letter
    RETRY = "retry"  # unreachable, slow, 5xx...: try again later


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    status: Delivered
    detail: str = ""


ACKED = DeliveryResult(Delivered.ACKED)

# Delivers one record (request id, JSON body). Handles its own timeout.
Deliver = Callable[[str, bytes], Awaitable[DeliveryResult]]


@dataclass(frozen=True, slots=True)
class OutboxTuning:
    backoff_base: float = 0.25
    backoff_cap: float = 30.0
    adopt_interval: float = 10.0  # how often to look for logs of dead siblings
    round_size: int = 512  # records per retry round
    concurrency: int = 8  # deliveries in flight per retry round
    compact_bytes: int = 8 * 2**20  # rewrite the log when it grows past this
    close_timeout: float = 2.0  # last delivery attempt on close


class Outbox:
    def __init__(
        self, directory: str | Path, deliver: Deliver, tuning: OutboxTuning | None = None
    ) -> None:
        self._tuning = tuning or OutboxTuning()
        self._deliver = deliver
        self._log = OutboxLog(Path(directory))
        self._backoff = Backoff(self._tuning.backoff_base, self._tuning.backoff_cap)
        self._pending: dict[str, bytes] = {}
        self._inflight: set[str] = set()
        self._healthy = True  # the last delivery worked: try new records at once
        self._retry_at = 0.0
        self._adopt_at = 0.0
        self._dirty = False  # records waiting for a retry not yet fsynced
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.delivered = 0
        self.dead_lettered = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def healthy(self) -> bool:
        return self._healthy

    async def start(self) -> None:
        self._log.open()
        self._adopt()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, request_id: str, body: bytes) -> None:
        """Keep `body` until it is delivered. Returns once it is delivered or safely stored."""
        if request_id in self._pending:
            return  # the same record twice: one delivery bills it
        self._pending[request_id] = body
        self._log.append_record(body)
        if not self._healthy or self._task is None or self._closing:
            self._dirty = True
            self._wake.set()
            return
        self._inflight.add(request_id)
        try:
            result = await self._attempt(request_id, body)
        finally:
            self._inflight.discard(request_id)
        if self._settle(request_id, body, result):
            self._failed()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._tuning.close_timeout):
                    await self._round()
        if self._pending:
            log.warning(
                "billing outbox closed with %d records left for the next start", self.pending
            )
        self._log.close(remove=not self._pending)

    # -- delivery --------------------------------------------------------------------------

    async def _attempt(self, request_id: str, body: bytes) -> DeliveryResult:
        try:
            return await self._deliver(request_id, body)
        except Exception as exc:  # a bug in delivery must not lose the record: retry it
            return DeliveryResult(Delivered.RETRY, type(exc).__name__)

    def _settle(self, request_id: str, body: bytes, result: DeliveryResult) -> bool:
        """Apply one delivery's result; True when it has to be retried."""
        if result.status is Delivered.RETRY:
            self._dirty = True
            return True
        if result.status is Delivered.REJECTED:
            append_dead_letter(self._log.directory, body, result.detail)
            self.dead_lettered += 1
            log.error("billing refused a usage record (%s); kept in the dead letter", result.detail)
        else:
            self.delivered += 1
        self._done(request_id)
        return False

    def _done(self, request_id: str) -> None:
        if self._pending.pop(request_id, None) is None:
            return
        if not self._pending:
            self._log.truncate()  # nothing pending: the whole log is history
        elif self._log.size > self._tuning.compact_bytes:
            self._log.rewrite(self._pending)
        else:
            self._log.append_done(request_id)

    def _failed(self) -> None:
        if self._healthy:
            log.warning("billing service unreachable; usage records wait in the outbox")
            self._healthy = False
            self._retry_at = time.monotonic() + self._backoff.next_delay()
        self._wake.set()

    async def _round(self) -> None:
        """Try the pending records once each (a bounded round).

        A chunk that fails whole means the service is down: stop and back off. Single failures
        (one record the service keeps failing on) are retried later, without holding up others.
        """
        ids = [r for r in islice(self._pending, self._tuning.round_size) if r not in self._inflight]
        step, some_failed = self._tuning.concurrency, False
        for start in range(0, len(ids), step):
            chunk = [(r, self._pending[r]) for r in ids[start : start + step] if r in self._pending]
            results = await asyncio.gather(*(self._attempt(r, b) for r, b in chunk))
            retry = [self._settle(r, b, res) for (r, b), res in zip(chunk, results, strict=True)]
            if retry and all(retry):
                self._healthy = False
                self._retry_at = time.monotonic() + self._backoff.next_delay()
                return
            some_failed = some_failed or any(retry)
        if not self._healthy:
            log.info("billing service reachable again; outbox delivering")
        self._healthy = True
        if some_failed:
            self._retry_at = time.monotonic() + self._backoff.next_delay()
        else:
            self._backoff.reset()

    # -- background task --------------------------------------------------------------------

    async def _run(self) -> None:
        while not self._closing:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sleep_time()):
                    await self._wake.wait()
            self._wake.clear()
            if self._closing:
                return
            try:
                await self._tick()
            except Exception:  # keep retrying whatever happened; the records stay in the log
                log.exception("billing outbox round failed")
                await asyncio.sleep(self._tuning.backoff_base)

    async def _tick(self) -> None:
        if self._dirty:
            self._dirty = False
            await asyncio.to_thread(self._log.sync)
        now = time.monotonic()
        if now >= self._adopt_at:
            self._adopt()
        if self._pending and now >= self._retry_at:
            await self._round()
            more = len(self._pending) > len(self._inflight)
            if more and time.monotonic() >= self._retry_at:
                self._wake.set()  # more than one round's worth: go on at once

    def _sleep_time(self) -> float:
        now = time.monotonic()
        until = self._adopt_at - now
        if self._pending:
            until = min(until, self._retry_at - now)
        return max(0.005, until)

    def _adopt(self) -> None:
        self._adopt_at = time.monotonic() + self._tuning.adopt_interval
        count = adopt_orphans(self._log.directory, self._log.path, self._keep, self._log.sync)
        if count:
            log.info("billing outbox adopted %d records left by a stopped process", count)
            self._wake.set()

    def _keep(self, request_id: str, body: bytes) -> None:
        if request_id not in self._pending:
            self._pending[request_id] = body
            self._log.append_record(body)
