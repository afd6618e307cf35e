"""Counters, histograms and a gauge that count in plain Python and hand their counts to the
prometheus-client children they front in batches.

prometheus-client takes a lock and checks that the metric is observable on every value update,
and a histogram walks its buckets in Python: a request made 16 such updates. Here an update is
an addition (a bisect first, for a histogram), and the counts reach prometheus-client when the
`Flusher` flushes: before every scrape, so a scrape of one worker is exact, and, when several
workers share metrics files (multiprocess mode, where any worker may serve the scrape), at the
end of the event-loop turn that made them, so each file is current by the time a client could
ask.

Event-loop thread only: no locks, by design.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from gateway.adapters.tasks import BatchWindow

log = logging.getLogger(__name__)


class _Flushable(Protocol):
    def flush(self) -> None: ...


class Flusher:
    """The children updated since the last flush, and when to flush them.

    `eager`: flush at the end of the loop turn that made the first update (multiprocess mode);
    otherwise only when `flush()` is called (before a scrape).
    """

    __slots__ = ("_dirty", "_turn_end")

    def __init__(self, *, eager: bool) -> None:
        self._dirty: list[_Flushable] = []
        self._turn_end = BatchWindow(self.flush, 0.0) if eager else None

    def dirty(self, child: _Flushable) -> None:
        self._dirty.append(child)
        if self._turn_end is not None:
            self._turn_end.request()

    def flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for child in dirty:
            child.flush()


class _BufferedChild:
    """What every buffered child keeps: the prometheus-client child it fronts, the flusher,
    and whether it has counts the flusher has not taken yet."""

    __slots__ = ("_dirty", "_flusher", "_sink")

    def __init__(self, sink: Any, flusher: Flusher) -> None:
        self._sink = sink
        self._flusher = flusher
        self._dirty = False


class BufferedCounter(_BufferedChild):
    """A labelled prometheus-client counter child, updated in batches."""

    __slots__ = ("_pending",)

    def __init__(self, sink: Any, flusher: Flusher) -> None:
        super().__init__(sink, flusher)
        self._pending = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("counters can only be incremented by non-negative amounts")
        self._pending += amount
        if not self._dirty:
            self._dirty = True
            self._flusher.dirty(self)

    def flush(self) -> None:
        self._dirty = False
        pending, self._pending = self._pending, 0.0
        if pending:
            self._sink.inc(pending)


class Observer(Protocol):
    def observe(self, amount: float) -> None: ...


class BufferedHistogram(_BufferedChild):
    """A labelled prometheus-client histogram child, updated in batches.

    It adds its counts to the child's own per-bucket values and sum (`_buckets`, `_sum`,
    `_upper_bounds`: not public API, but stable since prometheus-client 0.4). `histogram_child`
    checks them before building one, and a unit test compares the two paths' output.
    """

    __slots__ = ("_bounds", "_buckets", "_counts", "_sum", "_sum_value")

    def __init__(self, sink: Any, flusher: Flusher) -> None:
        super().__init__(sink, flusher)
        self._bounds: list[float] = list(sink._upper_bounds)  # ends with +Inf
        self._buckets: list[Any] = sink._buckets
        self._sum_value: Any = sink._sum
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0

    def observe(self, amount: float) -> None:
        # The first bucket whose upper bound is >= amount, as prometheus-client's `le` buckets.
        self._counts[bisect_left(self._bounds, amount)] += 1
        self._sum += amount
        if not self._dirty:
            self._dirty = True
            self._flusher.dirty(self)

    def flush(self) -> None:
        self._dirty = False
        counts, self._counts = self._counts, [0] * len(self._bounds)
        total, self._sum = self._sum, 0.0
        for bucket, count in zip(self._buckets, counts, strict=True):
            if count:
                bucket.inc(count)
        self._sum_value.inc(total)


def readable_histogram(sink: Any) -> bool:
    """Whether prometheus-client still keeps a histogram child's values as BufferedHistogram
    reads them."""
    bounds = getattr(sink, "_upper_bounds", None)
    buckets = getattr(sink, "_buckets", None)
    return (
        isinstance(bounds, list)
        and isinstance(buckets, list)
        and len(bounds) == len(buckets) > 0
        and bounds[-1] == float("inf")
        and hasattr(getattr(sink, "_sum", None), "inc")
    )


_warned_unreadable = False


def histogram_child(sink: Any, flusher: Flusher) -> Observer:
    """A BufferedHistogram in front of `sink`; `sink` itself (unbuffered, prometheus-client's
    own `observe`) if this prometheus-client release keeps its values differently: slower,
    never wrong, and said once in the log."""
    if readable_histogram(sink):
        return BufferedHistogram(sink, flusher)
    global _warned_unreadable
    if not _warned_unreadable:
        _warned_unreadable = True
        log.warning("prometheus-client keeps histogram values differently: histograms unbuffered")
    observer: Observer = sink
    return observer


class BufferedGauge(_BufferedChild):
    """A gauge kept as a plain number; a flush sets the prometheus-client gauge to it."""

    __slots__ = ("value",)

    def __init__(self, sink: Any, flusher: Flusher) -> None:
        super().__init__(sink, flusher)
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount
        if not self._dirty:
            self._dirty = True
            self._flusher.dirty(self)

    def dec(self, amount: float = 1.0) -> None:
        self.inc(-amount)

    def flush(self) -> None:
        self._dirty = False
        self._sink.set(self.value)


C = TypeVar("C")


class _Labelled(Protocol):
    def labels(self, *values: str) -> Any: ...


class Family(Generic[C]):
    """`family("openai", "chat")` is the buffered child for those label values, built once
    (`metric.labels(...)` validates and locks on every call)."""

    __slots__ = ("_children", "_flusher", "_make", "_metric")

    def __init__(
        self, metric: _Labelled, make: Callable[[Any, Flusher], C], flusher: Flusher
    ) -> None:
        self._metric = metric
        self._make: Callable[[Any, Flusher], C] = make
        self._flusher = flusher
        self._children: dict[tuple[str, ...], C] = {}

    def __call__(self, *values: str) -> C:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._make(self._metric.labels(*values), self._flusher)
        return child
