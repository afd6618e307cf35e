"""Per-request behaviour switches, read from `x-fake-*` request headers.

An unparsable value is ignored (the default applies) so a typo never turns into a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_CHUNKS = 4
MAX_CHUNKS = 100_000
_MAX_MS = 3_600_000
_RESPONSES_ENDS = frozenset({"incomplete", "failed"})
_TRUE = frozenset({"1", "true", "yes"})


@dataclass(frozen=True, slots=True)
class Controls:
    chunks: int = DEFAULT_CHUNKS
    status: int | None = None
    delay_ms: int = 0
    chunk_delay_ms: int = 0
    cut_after: int | None = None
    stall_after: int | None = None
    stream_error: bool = False
    responses_end: str = "completed"
    gzip: bool = False
    echo: bool = False

    @property
    def frame_limit(self) -> int | None:
        """How many frames to send before cutting or stalling, or None to send them all."""
        limits = [k for k in (self.cut_after, self.stall_after) if k is not None]
        return min(limits) if limits else None


def _int(headers: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return min(max(value, low), high)


def _status(headers: Mapping[str, str]) -> int | None:
    status = _int(headers, "x-fake-status", 0, 999)
    return status if status is not None and 400 <= status <= 599 else None


def parse_controls(headers: Mapping[str, str]) -> Controls:
    end = headers.get("x-fake-responses-end", "completed")
    return Controls(
        chunks=_int(headers, "x-fake-chunks", 1, MAX_CHUNKS) or DEFAULT_CHUNKS,
        status=_status(headers),
        delay_ms=_int(headers, "x-fake-delay-ms", 0, _MAX_MS) or 0,
        chunk_delay_ms=_int(headers, "x-fake-chunk-delay-ms", 0, _MAX_MS) or 0,
        cut_after=_int(headers, "x-fake-cut-after", 0, MAX_CHUNKS + 16),
        stall_after=_int(headers, "x-fake-stall-after", 0, MAX_CHUNKS + 16),
        stream_error=headers.get("x-fake-stream-error", "").lower() in _TRUE,
        responses_end=end if end in _RESPONSES_ENDS else "completed",
        gzip=headers.get("x-fake-gzip", "").lower() in _TRUE,
        echo=headers.get("x-fake-echo", "").lower() in _TRUE,
    )
