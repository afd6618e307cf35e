"""Request-log events as JSON lines appended to a file, for deployments without NATS.

Several Sanic workers append to the same file safely: it is opened with O_APPEND and every
flush is one write() of whole lines, so lines from different processes never interleave.
`publish()` only buffers; a background task writes the buffer every `flush_interval` and
close() writes the rest and fsyncs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gateway.adapters.events.counters import DropReporter, PublisherCounters
from gateway.adapters.events.encoding import encode_event
from gateway.adapters.events.managed import Readiness
from gateway.adapters.tasks import cancel_and_wait
from gateway.domain.events import RequestLogEvent

log = logging.getLogger("gateway.events")

_FLUSH_BYTES = 64 * 1024


class JsonlEventPublisher:
    def __init__(
        self, path: Path, *, max_buffered: int = 10000, flush_interval: float = 0.1
    ) -> None:
        self._path = path
        self._max_buffered = max_buffered  # events held in memory when the file is unwritable
        self._flush_interval = flush_interval
        self._lines: list[bytes] = []
        self._bytes = 0
        self._fd = -1
        self._task: asyncio.Task[None] | None = None
        self.counters = PublisherCounters()
        self._drops = DropReporter(self.counters, f"the JSONL event buffer ({max_buffered})")

    def publish(self, event: RequestLogEvent) -> None:
        if len(self._lines) >= self._max_buffered:
            self._drops.dropped("the file cannot be written")
            return
        line = encode_event(event) + b"\n"
        self._lines.append(line)
        self._bytes += len(line)
        self._drops.kept()
        if self._bytes >= _FLUSH_BYTES and self._fd >= 0:
            self._flush()

    async def start(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._task = asyncio.create_task(self._flush_periodically(), name="events-jsonl")

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._fd < 0:
            return
        self._flush()
        with contextlib.suppress(OSError):
            await asyncio.to_thread(os.fsync, self._fd)
        os.close(self._fd)
        self._fd = -1

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            self._flush()

    def _flush(self) -> None:
        if not self._lines:
            return
        data = b"".join(self._lines)
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            # Kept in memory (bounded by max_buffered) and written at the next flush.
            log.error("JSONL events: write failed: %s", type(exc).__name__)
            return
        if written < len(data):
            # Short write (disk full): keep the unwritten tail for the next flush.
            log.error("JSONL events: short write (%d of %d bytes)", written, len(data))
            self._lines = [data[written:]]
            self._bytes = len(data) - written
            return
        self.counters.published += len(self._lines)
        self._lines.clear()
        self._bytes = 0

    @property
    def published(self) -> int:
        return self.counters.published

    @property
    def dropped(self) -> int:
        return self.counters.dropped

    async def readiness(self) -> Readiness:
        details: dict[str, Any] = {
            "backend": "jsonl",
            "open": self._fd >= 0,
            "buffered": len(self._lines),
            **asdict(self.counters),
        }
        return self._fd >= 0, details
