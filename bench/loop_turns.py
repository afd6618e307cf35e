"""An event loop's turns, read from `perf trace` output of its epoll waits (stream_tail.py).

A turn is the time from one wait's return to the next wait's start: the loop runs callbacks and
looks at no new I/O meanwhile, so whatever arrives then waits for the turn to end.
"""

from __future__ import annotations

import bisect
import itertools
import re
from dataclasses import dataclass

# "   12.345 ( 0.023 ms): python/4242 epoll_pwait(epfd: 4, ...) = 3"; the thread is named only
# when the process has several. Interrupted calls ("... [continued]") have no start time.
_WAIT = re.compile(
    r"^\s*(?P<start>[\d.]+) \(\s*(?P<took>[\d.]+) ms\): (?:\S*?/?(?P<tid>\d+) )?"
    r"epoll_p?wait\(.*\) += (?P<ready>\d+)"
)


@dataclass(frozen=True)
class Turns:
    """The event loop's turns over a traced run (milliseconds)."""

    lengths: list[float]
    ready: list[int]  # I/O events each turn started with
    span: float  # from the first wait's return to the last wait's start

    def busy_share(self) -> float:
        return sum(self.lengths) / self.span if self.span > 0 else float("nan")

    def arrival_wait(self, share: float) -> float:
        """The wait exceeded by `share` of arrivals at uniformly random moments: the x with
        sum(max(0, b - x)) / span = share, over the turn lengths b."""
        ordered = sorted(self.lengths)
        if not ordered or self.span <= 0:
            return float("nan")
        suffix = [0.0] * (len(ordered) + 1)  # suffix[i]: sum of ordered[i:]
        for i in range(len(ordered) - 1, -1, -1):
            suffix[i] = suffix[i + 1] + ordered[i]

        def over(x: float) -> float:
            i = bisect.bisect_right(ordered, x)
            return (suffix[i] - x * (len(ordered) - i)) / self.span

        if over(0.0) <= share:
            return 0.0
        low, high = 0.0, ordered[-1]
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if over(middle) > share else (low, middle)
        return high


def parse_turns(trace: str, tid: int) -> Turns:
    """Turns of thread `tid` from `perf trace` output: each wait's end to the next wait's start."""
    waits: list[tuple[float, float, int]] = []
    for line in trace.splitlines():
        match = _WAIT.match(line)
        if match is None or (match["tid"] is not None and int(match["tid"]) != tid):
            continue
        waits.append((float(match["start"]), float(match["took"]), int(match["ready"])))
    lengths, ready = [], []
    for (start, took, events), (next_start, _, _) in itertools.pairwise(waits):
        lengths.append(max(next_start - (start + took), 0.0))
        ready.append(events)
    span = waits[-1][0] - (waits[0][0] + waits[0][1]) if len(waits) > 1 else 0.0
    return Turns(lengths, ready, span)
