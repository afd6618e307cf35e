"""One spool file: append-only JSON lines, owned by the process holding its flock.

A segment `<name>.spool` has a companion `<name>.acked` holding, as 20 ASCII digits, the offset
of the first line not yet acknowledged by JetStream, so a replay cut short (by an outage or a
SIGKILL) resumes where it stopped instead of sending the acknowledged lines again.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

SUFFIX = ".spool"
_ACKED_WIDTH = 20
_READ_CHUNK = 256 * 1024


def _lock(fd: int) -> bool:
    try:
        # flock, not lockf: the lock belongs to the open file, so two publishers in the same
        # process exclude each other too, and the kernel drops it when the owner dies.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@dataclass(eq=False)
class Segment:
    path: Path
    fd: int
    size: int  # bytes written so far
    acked: int  # offset of the first unacknowledged line
    read_pos: int = 0  # offset the replay reads from next (>= acked)
    torn_tail: bool = field(default=False)
    dirty: bool = field(default=False)  # written since the last fsync

    @classmethod
    def create(cls, directory: Path, seq: int) -> Segment:
        name = f"{time.time_ns():020d}-{os.getpid()}-{seq:06d}{SUFFIX}"
        path = directory / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        _lock(fd)  # a brand-new file: nobody else can hold it
        return cls(path, fd, 0, 0)

    @classmethod
    def adopt(cls, path: Path) -> Segment | None:
        """The segment at `path` if its owner is gone (its lock is free), else None."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            return None
        if not _lock(fd) or not _still_linked(fd, path):
            os.close(fd)
            return None
        acked = _read_acked(path)
        size = os.fstat(fd).st_size
        acked = min(acked, size)
        return cls(path, fd, size, acked, read_pos=acked)

    @property
    def pending_bytes(self) -> int:
        return self.size - self.acked

    @property
    def exhausted(self) -> bool:
        return self.read_pos >= self.size

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a regular file rarely writes short, but it may (signals, quotas)
            written = os.write(self.fd, view)
            view = view[written:]
        self.size += len(data)
        self.dirty = True

    def read_lines(self, max_lines: int) -> list[tuple[int, bytes]]:
        """Up to `max_lines` complete lines from `read_pos`, each with the offset after it."""
        lines: list[tuple[int, bytes]] = []
        while len(lines) < max_lines and self.read_pos < self.size:
            chunk = os.pread(self.fd, min(_READ_CHUNK, self.size - self.read_pos), self.read_pos)
            cut = chunk.rfind(b"\n")
            if cut < 0:
                # A line cut short by a crash mid-write: it was never durable, skip it.
                self.torn_tail = True
                self.read_pos = self.size
                break
            start = self.read_pos
            for line in chunk[: cut + 1].splitlines(keepends=True):
                start += len(line)
                lines.append((start, line.rstrip(b"\n")))
                if len(lines) == max_lines:
                    break
            self.read_pos = start
        return lines

    def mark_acked(self, offset: int) -> None:
        if offset <= self.acked:
            return
        self.acked = offset
        data = f"{offset:0{_ACKED_WIDTH}d}".encode()
        fd = os.open(_acked_path(self.path), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, data, 0)  # fixed width: overwriting in place never leaves a tail
        finally:
            os.close(fd)

    def rewind(self) -> None:
        """Read again from the first unacknowledged line (after a failed replay batch)."""
        self.read_pos = self.acked

    def remove(self) -> None:
        for path in (self.path, _acked_path(self.path)):
            path.unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _acked_path(path: Path) -> Path:
    return path.with_suffix(".acked")


def _read_acked(path: Path) -> int:
    try:
        text = _acked_path(path).read_text().strip()
    except FileNotFoundError:
        return 0
    return int(text) if text.isdigit() else 0


def _still_linked(fd: int, path: Path) -> bool:
    # The previous owner may have replayed and deleted the file between our open and our lock.
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def list_segments(directory: Path) -> list[Path]:
    # Names start with a nanosecond timestamp: sorting them is sorting by creation time.
    return sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX))
