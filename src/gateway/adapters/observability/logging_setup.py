"""structlog for the gateway: JSON lines in production, readable console lines in development.

Our own lines go straight to a bytes stream (the fast path). Standard-library loggers (Sanic,
aiohttp, parts of the gateway) are routed through the same processors, redaction included.
The per-request access line has a faster path still in production (see JsonAccessLine).
"""

from __future__ import annotations

import asyncio
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

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING}


def _text_json(obj: Any, **kwargs: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def _encode(logger: Any, method: str, event: Any) -> bytes:
    # The console renderer makes text; the bytes logger writes bytes.
    return event.encode() if isinstance(event, str) else bytes(event)


# How long an access line may wait in the stream's buffer before it is written.
FLUSH_WITHIN = 0.005

# Writes one access line: the fields, and the request id the line belongs to.
AccessLine = Callable[[dict[str, Any], str], None]


class UtcTimestamps:
    """RFC 3339 UTC timestamps with microseconds ("2026-11-26T19:00:00.123456Z"), the date and
    time formatted once per second. Always six digits (isoformat drops them on a whole second)."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self) -> str:
        second, nanos = divmod(time.time_ns(), 1_000_000_000)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{nanos // 1000:06d}Z"


class JsonAccessLine:
    """The access line in JSON, without structlog's generic processor chain.

    One per request, so it is worth its own path: the same JSON object structlog would render
    (the fields, then event, request_id, level, timestamp), under the same redaction, to the
    same stream, for a fraction of the CPU (the redactor skips the line's numbers and the
    gateway's own fields, and remembers the scrubbed form of the client's model string).
    The request id comes from the event rather than from the context variables, which spares
    a walk over the whole context.

    Lines leave in one write per few milliseconds (`flush_within`) rather than one per
    request: under load a request ends every loop turn or two, and a write system call per line
    cost about as much as the line itself. Like nginx's buffered access_log, a line waits at
    most those milliseconds, never a request; other lines to the stream flush it first, the
    stream's own buffer when full, and the process's stdout flush at exit.
    """

    __slots__ = ("_flush_scheduled", "_flush_within", "_out", "_redact", "_timestamps")

    def __init__(self, out: BinaryIO, redact: Redactor, flush_within: float = FLUSH_WITHIN) -> None:
        self._out = out
        self._redact = redact
        self._timestamps = UtcTimestamps()
        self._flush_scheduled = False
        self._flush_within = flush_within

    def __call__(self, fields: dict[str, Any], request_id: str) -> None:
        self._redact(None, "info", fields)
        fields["event"] = "access"
        fields["request_id"] = request_id
        fields["level"] = "info"
        fields["timestamp"] = self._timestamps()
        self._out.write(orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE))
        if not self._flush_scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a batch job, a test): at once
                self._out.flush()
                return
            self._flush_scheduled = True
            loop.call_later(self._flush_within, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        # The stream closed or broke meanwhile (shutdown, a reader gone): there is no one left
        # to tell, and a traceback per window from the event loop would not help.
        with contextlib.suppress(ValueError, OSError):
            self._out.flush()


def _structlog_access_line(fields: dict[str, Any], request_id: str) -> None:
    structlog.get_logger("gateway.access").info("access", **fields)


def _no_access_line(fields: dict[str, Any], request_id: str) -> None:
    return None


_access_line: AccessLine = _structlog_access_line


def access_line() -> AccessLine:
    """The access-line writer for the logging configured last (structlog's when none was)."""
    return _access_line


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
    shared: list[Processor] = [
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
    elif json_lines:
        _access_line = JsonAccessLine(out, redact)
    else:
        _access_line = _structlog_access_line  # readable console lines, as every other line
    if stdlib:
        _route_stdlib(shared, json_lines, numeric, stream)


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
