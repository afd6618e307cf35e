"""structlog for the gateway: JSON lines in production, readable console lines in development.

Our own lines go straight to a bytes stream (the fast path). Standard-library loggers (Sanic,
aiohttp, parts of the gateway) are routed through the same processors, redaction included.
The per-request access line has a faster path still in production (see JsonAccessLine).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO, Any, BinaryIO

import orjson
import structlog
from structlog.typing import Processor

from gateway.adapters.observability.redaction import Redactor
from gateway.adapters.tasks import BatchWindow

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def _text_json(obj: Any, **kwargs: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def _encode(logger: Any, method: str, event: Any) -> bytes:
    # The console renderer makes text; the bytes logger writes bytes.
    return event.encode() if isinstance(event, str) else bytes(event)


# How long an access line may wait in the stream's buffer before it is written. 20 ms, not 5:
# at W3's 156 streams a second, 5 ms windows held one line each (docs/performance.md,
# eighteenth round), as the events' batches and the ledger's transactions had.
FLUSH_WITHIN = 0.02

# Writes one access line: the fields, and the request id the line belongs to.
AccessLine = Callable[[dict[str, Any], str], None]


class UtcTimestamps:
    """RFC 3339 UTC timestamps with microseconds ("2026-11-26T19:00:00.123456Z"), the date and
    time formatted once per second. Always six digits (isoformat drops them on a whole second).
    Safe to share between threads: the cached second and its text are replaced together."""

    __slots__ = ("_second",)

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")

    def __call__(self) -> str:
        return self.at(time.time_ns())

    def at(self, time_ns: int) -> str:
        """The timestamp of `time_ns` (nanoseconds since the epoch, as `time.time_ns()`)."""
        second, nanos = divmod(time_ns, 1_000_000_000)
        cached, prefix = self._second
        if second != cached:
            prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = (second, prefix)
        return f"{prefix}.{nanos // 1000:06d}Z"


class JsonAccessLine:
    """The access line in JSON, without structlog's generic processor chain.

    One per request, so it is worth its own path: the same JSON object structlog would render
    (the fields, then event, request_id, level, timestamp), under the same redaction, to the
    same stream, for a fraction of the CPU (the redactor skips the line's numbers and the
    gateway's own fields, and remembers the scrubbed form of the client's model string).
    The request id comes from the event rather than from the context variables, which spares
    a walk over the whole context.

    A request only queues its line (the fields, its id, the time). The lines of a few
    milliseconds (`flush_within`) are formatted together and leave in one write: under load a
    request ends every loop turn or two, and a write system call per line cost about as much
    as the line, while formatting many lines in one pass runs on warm caches (measured: about
    half the CPU of formatting each between other requests' work). Like nginx's buffered
    access_log, a line waits at most those milliseconds, never a request, and carries the time
    it was queued. Any other log line writes the waiting access lines first (`drain`, run by
    the logging processors), so the stream keeps the order in which lines were made.
    """

    __slots__ = ("_out", "_pending", "_redact", "_timestamps", "_window")

    def __init__(self, out: BinaryIO, redact: Redactor, flush_within: float = FLUSH_WITHIN) -> None:
        self._out = out
        self._redact = redact
        self._timestamps = UtcTimestamps()
        self._pending: list[tuple[dict[str, Any], str, int]] = []
        self._window = BatchWindow(self.flush, flush_within)  # no loop: at once

    def __call__(self, fields: dict[str, Any], request_id: str) -> None:
        self._pending.append((fields, request_id, time.time_ns()))
        self._window.request()

    def drain(self) -> None:
        """Write the waiting lines into the stream, unflushed: another line follows them."""
        if self._pending:
            self._write_pending()

    def _write_pending(self) -> None:
        # Swapped out first: a line logged from another thread may drain at the same time.
        pending, self._pending = self._pending, []
        redact, stamp = self._redact, self._timestamps.at
        lines = []
        for fields, request_id, time_ns in pending:
            redact(None, "info", fields)
            fields["event"] = "access"
            fields["request_id"] = request_id
            fields["level"] = "info"
            fields["timestamp"] = stamp(time_ns)
            lines.append(orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE))
        self._out.write(b"".join(lines))

    def flush(self) -> None:
        """Write the waiting lines and flush the stream (the window's end, shutdown)."""
        # The stream closed or broke meanwhile (shutdown, a reader gone): there is no one left
        # to tell, and a traceback per window from the event loop would not help.
        with contextlib.suppress(ValueError, OSError):
            self._write_pending()
            self._out.flush()


def _structlog_access_line(fields: dict[str, Any], request_id: str) -> None:
    structlog.get_logger("gateway.access").info("access", **fields)


def _no_access_line(fields: dict[str, Any], request_id: str) -> None:
    return None


_access_line: AccessLine = _structlog_access_line


def access_line() -> AccessLine:
    """The access-line writer for the logging configured last (structlog's when none was)."""
    return _access_line


def flush_access_lines() -> None:
    """Write and flush the access lines still waiting for their window (at shutdown)."""
    if isinstance(_access_line, JsonAccessLine):
        _access_line.flush()


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the root handler we installed, so reconfiguring replaces it instead of adding one."""


def configure_logging(
    *,
    json_lines: bool,
    level: str = "info",
    secrets: Iterable[str] = (),
    stream: BinaryIO | None = None,
    stdlib: bool = True,
) -> None:
    """Call before anything logs (worker start). `stream` defaults to stdout."""
    global _access_line
    out = stream if stream is not None else sys.stdout.buffer
    numeric = _LEVELS.get(level, logging.ERROR)
    redact = Redactor(secrets)
    json_access = JsonAccessLine(out, redact) if json_lines and numeric <= logging.INFO else None
    shared: list[Processor] = [
        *((_drains(json_access),) if json_access is not None else ()),
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    final: list[Processor]
    if json_lines:
        final = [structlog.processors.JSONRenderer(serializer=orjson.dumps)]
    else:
        final = [structlog.dev.ConsoleRenderer(colors=False), _encode]
    structlog.configure(
        processors=[*shared, *final],
        logger_factory=structlog.BytesLoggerFactory(out),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    if numeric > logging.INFO:
        _access_line = _no_access_line
    elif json_access is not None:
        _access_line = json_access
    else:
        _access_line = _structlog_access_line  # readable console lines, as every other line
    if stdlib:
        _route_stdlib(shared, json_lines, numeric, stream)


def _drains(access: JsonAccessLine) -> Processor:
    """A processor that writes the waiting access lines before the line being logged."""

    def drain_access_lines(logger: Any, method: str, event_dict: Any) -> Any:
        access.drain()
        return event_dict

    return drain_access_lines


def _route_stdlib(
    shared: list[Processor], json_lines: bool, level: int, stream: BinaryIO | None
) -> None:
    renderer: Processor = (
        structlog.processors.JSONRenderer(serializer=_text_json)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    text = sys.stdout if stream is None else _TextOver(stream)
    handler = _OurHandler(text)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


class _TextOver:
    """A text stream writing UTF-8 into a bytes stream (tests hand a BytesIO)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw

    def write(self, text: str) -> int:
        return self._raw.write(text.encode())

    def flush(self) -> None:
        self._raw.flush()
