"""What the HTTP layer needs from observability, provided by the composition root per worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from opentelemetry.trace import Tracer


class HttpMetrics(Protocol):
    """Metrics only the HTTP layer can see: requests in flight and the cadence of streams."""

    @property
    def stall_threshold(self) -> float:
        """Seconds of silence after which a stream counts as stalled."""
        ...

    def request_started(self) -> None: ...

    def request_ended(self) -> None: ...

    def stream_gap_observer(self, provider: str) -> Callable[[float], None]:
        """Records one chunk's gap (seconds of silence before it) for `provider`; a stream takes
        it once and calls it for every chunk."""
        ...

    def stream_stalled(self, provider: str) -> None: ...

    def prepare_scrape(self) -> None:
        """Bring the exposition up to date; called on the event loop, before `render`."""
        ...

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every worker's metrics, and its content type.
        Blocking IO with several workers (it reads their files), so called in a thread."""
        ...


class HttpObservability(Protocol):
    @property
    def tracer(self) -> Tracer | None:
        """None when tracing is off: then no span is ever started."""
        ...

    @property
    def http_metrics(self) -> HttpMetrics | None:
        """None when metrics are off."""
        ...

    def scrub(self, text: str) -> str:
        """`text` with configured keys and key-shaped parts masked, for what a span copies from
        a client (its path)."""
        ...
