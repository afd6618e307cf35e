"""A batch's running counts, rendered as a terminal bar or as plain periodic lines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.domain.usage import Usage

_BAR_WIDTH = 24


@dataclass(slots=True)
class BatchProgress:
    total: int  # requests this run will send (input lines minus problems and resumed ones)
    started: float = field(default_factory=time.monotonic)
    succeeded: int = 0
    failed: int = 0  # an error line or a non-2xx response, after retries
    retries: int = 0
    in_flight: int = 0
    tokens: int = 0
    usage: Usage = field(default_factory=Usage)

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    def finished(self, ok: bool, usage: Usage) -> None:
        if ok:
            self.succeeded += 1
        else:
            self.failed += 1
        self.usage = self.usage + usage
        self.tokens = self.usage.total_tokens


def _duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _tokens(count: int) -> str:
    if count >= 1_000_000:
        return f"{count / 1_000_000:.1f}M"
    if count >= 10_000:
        return f"{count / 1000:.1f}k"
    return str(count)


def _rate_and_eta(progress: BatchProgress, now: float) -> tuple[float, str]:
    elapsed = max(now - progress.started, 1e-9)
    rate = progress.done / elapsed
    remaining = progress.total - progress.done
    eta = _duration(remaining / rate) if rate > 0 else "--:--"
    return rate, eta


def status_line(progress: BatchProgress, now: float) -> str:
    """Plain text, for logs: one self-contained line."""
    rate, eta = _rate_and_eta(progress, now)
    return (
        f"batch: {progress.done}/{progress.total} done, {progress.failed} failed, "
        f"{progress.retries} retries, {progress.tokens} tokens, {rate:.1f} req/s, "
        f"elapsed {_duration(now - progress.started)}, eta {eta}"
    )


def bar_line(progress: BatchProgress, now: float) -> str:
    """For a terminal: redrawn in place."""
    rate, eta = _rate_and_eta(progress, now)
    share = progress.done / progress.total if progress.total else 1.0
    filled = int(share * _BAR_WIDTH)
    bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
    return (
        f"[{bar}] {share:6.1%} {progress.done}/{progress.total} "
        f"failed {progress.failed} tokens {_tokens(progress.tokens)} "
        f"{rate:.1f} req/s eta {eta}"
    )


async def report_progress(
    progress: BatchProgress,
    write: Callable[[str], None],
    *,
    terminal: bool,
    interval: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Writes the progress every `interval` seconds until cancelled (the job's end)."""
    while True:
        await asyncio.sleep(interval)
        if terminal:
            write("\r\x1b[2K" + bar_line(progress, clock()))
        else:
            write(status_line(progress, clock()) + "\n")
