"""Stalled streams at each level of concurrency, with every side's gateway up at once.

    git worktree add /tmp/base HEAD~1          # optional: a tree to compare against
    PYTHONPATH=src python bench/stall_levels.py --base /tmp/base --levels 400,700,1000 --repeats 3

W3's stall-free search (run.py) measures one side at a time and stops at the first level where
more than the tolerance of streams stalled, so one neighbour's burst ends a side's search. Here
every side runs every level `--repeats` times, the sides taking turns, and every run is printed
(stalled streams, gap p99 and max, TTFB p99), then how many runs of each level stayed within the
tolerance. A stall is W3's: a gap over twice the paced 20 ms.

Sides: this tree's `--contender`; the same contender from the `--base` tree, when given; and the
`--floor` contender from this tree (floor_sanic by default; `--floor ""` for none; `--floor
direct` for the load side alone). The load generator, the upstream and nats-server share one
core (see docs/performance.md, Pinning): `direct` tells whether a level is within what that
core serves (run 36: 1,000 streams with no stall). `--python` and `--base-python` run a side's
gateway with another interpreter (`--base .` then compares two builds of CPython).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "src")]

import contenders as cs  # noqa: E402
import run  # noqa: E402
import workloads as wl  # noqa: E402
from ab_interleaved import start_tree  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender", default="prod_1w")
    parser.add_argument("--base", type=Path, help="another tree, run with the same contender")
    parser.add_argument("--floor", default="floor_sanic", help='a floor contender, "" for none')
    parser.add_argument("--api", default="claude")
    parser.add_argument("--levels", default="200,400,700,1000", help="comma list of streams")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per run")
    parser.add_argument("--python", default=None, help="this side's interpreter")
    parser.add_argument("--base-python", default=None, help="the base side's interpreter")
    parser.add_argument("--tolerance", type=float, default=0.01, help="share allowed to stall")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    os.sched_setaffinity(0, {int(cs.LOAD_CPUS)})
    pool = {c.name: c for c in cs.CONTENDERS + cs.LADDER}
    sides = {"this": (pool[args.contender], BENCH.parent, args.python)}
    if args.base is not None:
        sides["base"] = (pool[args.contender], args.base.resolve(), args.base_python)
    if args.floor:
        sides["floor"] = (pool[args.floor], BENCH.parent, None)
    work = Path(tempfile.mkdtemp(prefix="gateway-stall-levels-"))
    shared_args = argparse.Namespace(upstream="fast", sample_rate=0.1)
    env, shared = run._start_shared(shared_args, work, [c for c, _, _ in sides.values()])
    running: dict[str, cs.Running] = {}
    within: dict[tuple[str, int], int] = {}
    try:
        for name, (contender, tree, python) in sides.items():
            running[name] = start_tree(contender, env, tree, name, python)
        for level in levels:
            for repeat in range(args.repeats):
                # Which side goes first rotates, so that a side is not always after the same one.
                names = list(running)
                turn = repeat % len(names)
                for name in names[turn:] + names[:turn]:
                    f = _streams(running[name], args.api, level, args.seconds)
                    ok = _within(f, args.tolerance)
                    within[name, level] = within.get((name, level), 0) + ok
                    print(
                        f"{level:5d} streams, run {repeat + 1}, {name:5s}: "
                        f"stalled {f['stalls']:.0f} of {f['streams']:.0f}, "
                        f"gap p99 {f['gap_p99']:.2f} max {f['gap_max']:.2f} ms, "
                        f"TTFB p99 {f['ttfb_p99']:.2f} ms, errors {f['errors']:.0f}",
                        flush=True,
                    )
        print(f"runs within the tolerance ({args.tolerance:.0%} of streams stalled, no error):")
        for name in running:
            counts = ", ".join(
                f"{level}: {within[name, level]} of {args.repeats}" for level in levels
            )
            print(f"  {name}: {counts}")
    finally:
        for gateway in running.values():
            gateway.stop()
        for proc in reversed(shared):
            proc.stop()


def _streams(gateway: cs.Running, api: str, level: int, seconds: float) -> dict[str, float]:
    exchanges = wl.stream_exchanges(gateway.port, api, gateway.key, level, seconds)
    return wl.stream_figures(*exchanges)


def _within(figures: dict[str, float], tolerance: float) -> bool:
    """W3's stall-free rule (workloads.search_streams): no error, at most `tolerance` stalled."""
    streams = figures["streams"]
    return not figures["errors"] and streams > 0 and figures["stalls"] <= streams * tolerance


if __name__ == "__main__":
    main()
