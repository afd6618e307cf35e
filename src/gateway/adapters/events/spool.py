"""The durable local spool: where events wait, on disk, while JetStream cannot take them.

Layout: `spool_dir/<ns-timestamp>-<pid>-<seq>.spool` files of JSON lines (each line is exactly the
payload that goes to NATS), each with an `.acked` offset file. A process writes only to segments
it holds an flock on; on open it adopts the segments whose lock is free (their writer died).

Write policy (cheap on the event loop): lines are buffered in memory and written with one
`write()` per batch when 64 KiB have piled up or on `flush()` (the publisher flushes after each
batch it spools and every 200 ms); `sync()` fsyncs in a thread (the publisher does it every
second while there are new writes, and on close). So a SIGKILL loses nothing that was flushed
(it is in the page cache), a power cut loses at most the last second.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from pathlib import Path

from gateway.adapters.events.spool_segment import Segment, list_segments

Line = tuple[int, bytes]  # (offset after the line, the line without its newline)


class Spool:
    def __init__(self, directory: Path, max_bytes: int, buffer_bytes: int = 64 * 1024) -> None:
        self._dir = directory
        self._max_bytes = max_bytes
        self._buffer_limit = buffer_bytes
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._active: Segment | None = None
        self._sealed: deque[Segment] = deque()
        self._seq = 0
        self.torn_lines = 0  # lines cut short by a crash, found while replaying

    def open(self) -> int:
        """Create the directory and adopt orphaned segments; returns how many were adopted."""
        self._dir.mkdir(parents=True, exist_ok=True)
        for path in list_segments(self._dir):
            segment = Segment.adopt(path)
            if segment is not None:
                self._sealed.append(segment)
        return len(self._sealed)

    @property
    def depth_bytes(self) -> int:
        active = self._active.size if self._active else 0
        return sum(s.pending_bytes for s in self._sealed) + active + self._buffered

    @property
    def has_backlog(self) -> bool:
        return self.depth_bytes > 0

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def append(self, line: bytes) -> bool:
        """Buffer one line; False (nothing kept) when the spool is at its size bound."""
        size = len(line) + 1
        if self.depth_bytes + size > self._max_bytes:
            return False
        self._buffer.append(line)
        self._buffer.append(b"\n")
        self._buffered += size
        if self._buffered >= self._buffer_limit:
            self.flush()
        return True

    def flush(self) -> None:
        """Write the buffered lines to the active segment with one write()."""
        if not self._buffered:
            return
        if self._active is None:
            self._seq += 1
            self._active = Segment.create(self._dir, self._seq)
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        self._active.append(data)

    async def sync(self) -> None:
        """fsync what was written since the last sync, in a thread (fsync may take ms)."""
        self.flush()
        segments = [s for s in (*self._sealed, self._active) if s is not None and s.dirty]
        if not segments:
            return
        # dup'd descriptors: the loop may close a segment (replayed) while the thread syncs.
        fds = [os.dup(s.fd) for s in segments]
        for segment in segments:
            segment.dirty = False
        await asyncio.to_thread(_fsync_all, fds)

    def seal(self) -> None:
        """Close the active segment to writes so that it can be replayed."""
        self.flush()
        if self._active is not None and self._active.size > 0:
            self._sealed.append(self._active)
            self._active = None

    def next_batch(self, max_lines: int) -> tuple[Segment, list[Line]] | None:
        """The next lines to replay, oldest first; None when every sealed segment is done."""
        while self._sealed:
            segment = self._sealed[0]
            lines = segment.read_lines(max_lines)
            if lines:
                return segment, lines
            if segment.torn_tail:
                self.torn_lines += 1
            # Batches are acknowledged one after the other: an exhausted segment is all acked.
            segment.remove()
            self._sealed.popleft()
        return None

    def remove_done(self) -> None:
        """Delete the oldest segments once every line in them is acknowledged."""
        while self._sealed and self._sealed[0].pending_bytes == 0:
            self._sealed.popleft().remove()

    def close(self) -> None:
        """Flush and release the files; segments still holding events stay for the next start."""
        self.flush()
        self.remove_done()
        for segment in self._sealed:
            segment.close()
        self._sealed.clear()
        if self._active is not None:
            if self._active.size == 0:
                self._active.remove()
            else:
                os.fsync(self._active.fd)
                self._active.close()
            self._active = None

    def segment_count(self) -> int:
        return len(self._sealed) + (1 if self._active else 0)


def _fsync_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
