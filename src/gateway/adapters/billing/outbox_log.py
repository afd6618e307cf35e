"""The outbox's files: one append-only log per process, adopted by another once its owner died.

A log holds lines `+<record JSON>` (a record to deliver) and `-<request id as JSON>` (delivered,
or moved to the dead letter). The records still pending are those with no `-` line.

Ownership is an exclusive flock held on the open file for the owner's whole life: the kernel
drops it when the process dies, however it dies (SIGKILL included), so "I could lock it" means
"its owner is gone". File names carry the pid and a random part, so two outboxes of one process
(tests, restarts in place) never share a file. An adopter checks, after locking, that the path
still names the inode it locked: the owner may have replaced or removed the file meanwhile.

Writes are plain write(2) calls: once made they survive the process being killed; fsync (done when
a record has to wait for a retry, and on close) is what makes them survive an OS crash as well.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson

LOG_GLOB = "outbox-*.jsonl"
DEAD_LETTER = "dead-letter.jsonl"


class OutboxLog:
    """This process's log file, locked for as long as it is open."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"outbox-{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        self._fd = -1
        self.size = 0

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._fd = _open_locked(self.path)
        self.size = os.fstat(self._fd).st_size

    def append_record(self, body: bytes) -> None:
        self._write(b"+" + body + b"\n")

    def append_done(self, request_id: str) -> None:
        self._write(b"-" + orjson.dumps(request_id) + b"\n")

    def _write(self, line: bytes) -> None:
        # O_APPEND, and this process is the log's only writer: lines never interleave.
        _write_all(self._fd, line)
        self.size += len(line)

    def sync(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)

    def truncate(self) -> None:
        """Empty the log: only when nothing in it is pending."""
        os.ftruncate(self._fd, 0)
        self.size = 0

    def rewrite(self, pending: dict[str, bytes]) -> None:
        """Replace the log by one holding only `pending`, atomically (write, fsync, rename)."""
        temporary = self.directory / f".{self.path.name}.tmp"
        fd = _open_locked(temporary, truncate=True)
        try:
            data = b"".join(b"+" + body + b"\n" for body in pending.values())
            _write_all(fd, data)
            os.fsync(fd)
            os.replace(temporary, self.path)
        except BaseException:
            os.close(fd)
            raise
        os.close(self._fd)  # drops the lock on the replaced inode, now unreachable
        self._fd, self.size = fd, len(data)

    def close(self, *, remove: bool) -> None:
        if self._fd < 0:
            return
        if remove:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        else:
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1


def adopt_orphans(
    directory: Path, own: Path, keep: Callable[[str, bytes], None], sync: Callable[[], None]
) -> int:
    """Hand every pending record of each log whose owner is gone to `keep`, then delete the log.

    `keep` writes a record to the adopter's own log; `sync` makes those writes durable, and runs
    before the orphan is deleted. Returns the number of records handed over.
    """
    count = 0
    for path in sorted(directory.glob(LOG_GLOB)):
        fd = None if path == own else _try_lock(path)
        if fd is None:
            continue
        try:
            for request_id, body in pending_records(_read_all(fd)):
                keep(request_id, body)
                count += 1
            sync()
            path.unlink()
        finally:
            os.close(fd)
    return count


def pending_records(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(request id, record JSON) of each `+` line with no later `-` line; torn lines skipped."""
    records: dict[str, bytes] = {}
    for line in data.split(b"\n"):
        try:
            if line.startswith(b"+"):
                request_id = orjson.loads(line[1:])["request_id"]
                records[str(request_id)] = line[1:]
            elif line.startswith(b"-"):
                records.pop(str(orjson.loads(line[1:])), None)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            continue  # the last line of a log whose writer died mid-write
    yield from records.items()


def append_dead_letter(directory: Path, body: bytes, reason: str) -> None:
    """Keep a record the billing service refused as malformed, for a human to look at."""
    directory.mkdir(parents=True, exist_ok=True)
    head = orjson.dumps({"rejected_at": datetime.now(UTC).isoformat(), "reason": reason[:200]})[:-1]
    line = head + b',"record":' + body + b"}\n"
    fd = os.open(directory / DEAD_LETTER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # several workers may append at once
        _write_all(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _open_locked(path: Path, *, truncate: bool = False) -> int:
    flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | (os.O_TRUNC if truncate else 0)
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _try_lock(path: Path) -> int | None:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            raise FileNotFoundError(path)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    return fd


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
