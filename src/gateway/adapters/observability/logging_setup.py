"""structlog for the gateway: JSON lines in production, readable console lines in development.

Our own lines go straight to a bytes stream (the fast path). Standard-library loggers (Sanic,
aiohttp, parts of the gateway) are routed through the same processors, redaction included.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
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
