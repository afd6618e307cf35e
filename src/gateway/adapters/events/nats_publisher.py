"""Request-log events to NATS JetStream, off the hot path, none lost, none doubled.

`publish()` only appends to a bounded in-memory queue (or, when it is full, to the spool's
memory buffer). A background pump sends the queue in batches of many in-flight publishes, waits
for their acks, each batch gathering for a few milliseconds first; whatever JetStream
cannot take (down at start, down mid-run, a timeout) goes to the durable spool, which is
replayed in order once NATS is back. Every message carries `Nats-Msg-Id: <event id>`, so
sending an event again after an unknown outcome is deduplicated by the stream (within its
duplicate window).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import asdict
from typing import Any

from gateway.adapters.events.config import NatsPublisherConfig
from gateway.adapters.events.counters import DropReporter, PublisherCounters
from gateway.adapters.events.encoding import Outgoing, outgoing
from gateway.adapters.events.managed import Readiness
from gateway.adapters.events.nats_link import NatsLink
from gateway.adapters.events.nats_sender import Result
from gateway.adapters.events.replay import Replayer
from gateway.adapters.events.spool import Spool
from gateway.adapters.tasks import cancel_and_wait, wait_at_most
from gateway.domain.events import RequestLogEvent

log = logging.getLogger("gateway.events")

_STEP_ERROR_PAUSE = 0.5


class NatsJetStreamPublisher:
    def __init__(self, config: NatsPublisherConfig) -> None:
        self._config = config
        self._queue: deque[RequestLogEvent] = deque()
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()  # ends a gathering wait at once
        self._spool = Spool(config.spool_dir, config.spool_max_bytes)
        self._spool_open = False
        self._link = NatsLink(config, self._wake.set)
        self.counters = PublisherCounters()
        self._drops = DropReporter(self.counters, "the event spool")
        self._replayer = Replayer(self._spool, self.counters, config.subject_prefix)
        self._in_flight: list[Outgoing] = []
        self._lifecycle = "new"  # new -> running -> closing -> closed
        self._tasks: list[asyncio.Task[None]] = []

    # -- the hot path ------------------------------------------------------------------------

    def publish(self, event: RequestLogEvent) -> None:
        if self._lifecycle in ("new", "running", "closing"):
            if len(self._queue) < self._config.queue_size:
                self._queue.append(event)
                self._wake.set()
                return
            # Queue full (NATS slow or a burst): straight to the spool's memory buffer.
            item = self._encode(event)
            if item is not None:
                self._to_spool(item.payload)
            return
        self._drops.dropped("publish() after close()")

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Adopt orphaned spool files, connect in the background; waits at most connect_timeout."""
        adopted = self._spool.open()
        self._spool_open = True
        if adopted:
            log.info("event spool: adopted %d segment(s) left by a previous process", adopted)
        self._link.start()
        self._lifecycle = "running"
        self._tasks = [
            asyncio.create_task(self._pump(), name="events-pump"),
            asyncio.create_task(self._keep_durable(), name="events-spool-sync"),
        ]
        if not await self._link.wait_connected(self._config.connect_timeout):
            log.warning("nats not reachable at start: events are spooled until it is")

    async def close(self) -> None:
        """Hand the queue to NATS within close_timeout, spool what is left, release everything."""
        if self._lifecycle != "running":
            self._lifecycle = "closed"
            return
        self._lifecycle = "closing"
        self._wake.set()
        self._closing.set()
        await self._stop_pump()
        await self._final_send(time.monotonic() + self._config.close_timeout)
        self._spool_queued()
        for task in self._tasks[1:]:
            await cancel_and_wait(task)
        await self._spool.sync()
        self._spool.close()
        self._spool_open = False
        await self._link.close(timeout=1.0)
        self._lifecycle = "closed"
        log.info("event publisher closed: %s", asdict(self.counters))

    async def _stop_pump(self) -> None:
        pump = self._tasks[0]
        # The pump finishes its step (a batch waits at most publish_timeout) and then stops.
        done, _ = await asyncio.wait({pump}, timeout=self._config.publish_timeout + 1.0)
        if not done:
            await cancel_and_wait(pump)
        # A batch cut off by the cancel has an unknown outcome: keep it (dedup covers a resend).
        for item in self._in_flight:
            self._to_spool(item.payload)
        self._in_flight = []

    async def _final_send(self, deadline: float) -> None:
        while self._queue and self._link.ready and not self._spool.has_backlog:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await self._send_queued(min(remaining, self._config.publish_timeout))

    # -- the pump ------------------------------------------------------------------------------

    async def _pump(self) -> None:
        while self._lifecycle == "running":
            self._wake.clear()
            try:
                await self._step()
            except Exception:
                log.exception("event publisher step failed")
                await asyncio.sleep(_STEP_ERROR_PAUSE)

    async def _step(self) -> None:
        link = self._link
        if link.connected and not link.ready:
            await link.ensure_stream()
        if link.ready and not self._spool.has_backlog:
            if self._queue:
                await self._gather()
                await self._send_queued(self._config.publish_timeout)
            else:
                await self._idle()
            return
        # Down, or a backlog to replay first: keep the order by spooling what is queued.
        self._spool_queued()
        if not link.ready:
            await self._idle()
            return
        ok = await self._replayer.replay_batch(
            self._link.sender, self._config.max_in_flight, self._config.publish_timeout
        )
        if not ok:
            self._check_stream(self._replayer.last_results)
            await self._idle()

    async def _idle(self) -> None:
        await wait_at_most(self._wake, self._config.flush_interval)

    async def _gather(self) -> None:
        """Let the batch fill for `gather_window` before it goes, unless a full one is queued
        already or the publisher is closing (close() sends what is left at once). Every batch
        waits, the first after a quiet spell too: at a few hundred events a second, a batch
        sent on its first event held that event alone."""
        if self._lifecycle == "running" and len(self._queue) < self._config.max_in_flight:
            await wait_at_most(self._closing, self._config.gather_window)

    async def _send_queued(self, timeout: float) -> None:
        count = min(len(self._queue), self._config.max_in_flight)
        encoded = (self._encode(self._queue.popleft()) for _ in range(count))
        items = [item for item in encoded if item is not None]
        self._in_flight = items
        try:
            results = await self._link.sender.send_batch(items, timeout)
        except Exception:
            # A bug, not an outage (the sender answers failures): keep the batch, then say so.
            # (A cancel skips this: close() spools what is still in flight.)
            self._in_flight = []
            for item in items:
                self._to_spool(item.payload)
            raise
        self._in_flight = []
        for item, result in zip(items, results, strict=True):
            if result is Result.ACKED:
                self.counters.published += 1
            else:
                self.counters.failed_publishes += 1
                self._to_spool(item.payload)
        self._check_stream(results)
        self._flush_spool()

    def _encode(self, event: RequestLogEvent) -> Outgoing | None:
        try:
            return outgoing(self._config.subject_prefix, event)
        except Exception as exc:  # a bug, not an outage: say so rather than lose it quietly
            self._drops.dropped(f"event not serializable: {type(exc).__name__}")
            return None

    def _check_stream(self, results: list[Result]) -> None:
        if Result.NO_STREAM in results:
            log.error("no stream takes %s.>: checking the stream", self._config.subject_prefix)
            self._link.stream_missing()

    # -- the spool -----------------------------------------------------------------------------

    def _spool_queued(self) -> None:
        while self._queue:
            item = self._encode(self._queue.popleft())
            if item is not None:
                self._to_spool(item.payload)
        self._flush_spool()

    def _to_spool(self, line: bytes) -> None:
        if not self._spool_open:
            self._drops.dropped("the spool is not open")
            return
        try:
            kept = self._spool.append(line)
        except OSError as exc:
            self._drops.dropped(f"spool write failed: {type(exc).__name__}")
            return
        if kept:
            self.counters.spooled += 1
            self._drops.kept()
        else:
            self._drops.dropped(f"spool at its bound of {self._spool.max_bytes} bytes")

    def _flush_spool(self) -> None:
        try:
            self._spool.flush()
        except OSError as exc:
            log.error("event spool flush failed: %s", type(exc).__name__)

    async def _keep_durable(self) -> None:
        last_sync = time.monotonic()
        while True:
            await asyncio.sleep(self._config.flush_interval)
            self._flush_spool()
            if time.monotonic() - last_sync >= self._config.sync_interval:
                last_sync = time.monotonic()
                try:
                    await self._spool.sync()
                except OSError as exc:
                    log.error("event spool fsync failed: %s", type(exc).__name__)

    # -- what /ready and the metrics see --------------------------------------------------------

    @property
    def published(self) -> int:
        return self.counters.published

    @property
    def spooled(self) -> int:
        return self.counters.spooled

    @property
    def dropped(self) -> int:
        return self.counters.dropped

    @property
    def spool_depth_bytes(self) -> int:
        return self._spool.depth_bytes if self._spool_open else 0

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def state(self) -> str:
        """new | connecting | connected | replaying | spooling | closing | closed."""
        if self._lifecycle != "running":
            return self._lifecycle
        if self._link.ready:
            return "replaying" if self._spool.has_backlog else "connected"
        return "spooling" if self._link.ever_connected or self._spool.has_backlog else "connecting"

    async def readiness(self) -> Readiness:
        # Ready while running: a NATS outage does not stop the gateway (events are spooled).
        details: dict[str, Any] = {
            "backend": "nats",
            "state": self.state,
            "connected": self._link.connected,
            "spooling": self.state in ("spooling", "replaying", "connecting"),
            "spool_depth_bytes": self.spool_depth_bytes,
            "queue_depth": self.queue_depth,
            **asdict(self.counters),
        }
        return self._lifecycle == "running", details
