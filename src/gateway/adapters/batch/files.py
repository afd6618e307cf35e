"""The batch's files: the input read line by line, the output appended to line by line.

Plain stdlib file I/O. Each result line is one unbuffered write of the whole line, flushed to
the OS before the next request's line, so a killed process leaves at most a cut last line, which
the next run detects and cuts off (that request then runs again).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from gateway.application.batch_results import ResultScan, scan_results

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no lock, one run at a time is on the user
    fcntl = None  # type: ignore[assignment]


class OutputBusy(Exception):
    """Another batch run is appending to the same output file."""


def input_lines(path: str | os.PathLike[str]) -> Iterator[bytes]:
    with open(path, "rb") as file:
        yield from file


class ResultFile:
    """An output file opened for appending, after reading which custom_ids it holds already."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.scan = ResultScan()
        self._fd: int | None = None

    def open(self) -> ResultScan:
        """Lock the file, read what it holds, cut a truncated last line, then open to append."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            _lock(fd)
            data = _read_all(fd)
            scan = scan_results(data)
            if scan.truncated_tail:
                os.ftruncate(fd, scan.complete_length)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self.scan = fd, scan
        return scan

    def write(self, line: bytes) -> None:
        if self._fd is None:
            raise RuntimeError("the result file is not open")
        view = memoryview(line)
        # Bounded: each pass writes at least one byte or raises (disk full raises OSError).
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock

    def __enter__(self) -> ResultFile:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _lock(fd: int) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise OutputBusy("another batch run is writing this output file") from None


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    parts: list[bytes] = []
    offset = 0
    # Bounded by the size read at the start.
    while offset < size:
        chunk = os.pread(fd, min(size - offset, 1 << 20), offset)
        if not chunk:
            break
        parts.append(chunk)
        offset += len(chunk)
    return b"".join(parts)
