"""Where W3's added time to first byte comes from: the proxy's event-loop turns, per contender.

    PYTHONPATH=src python bench/stream_tail.py [--contenders floor_sanic,relay_1w,prod_1w]
        [--api claude] [--streams 200] [--seconds 8] [--repeats 1] [--no-trace]

W3's shape at one concurrency (streams of 64 deltas 20 ms apart, starts staggered over one
stream's length, each slot reopening a stream as the last one ends), the upstream, NATS and the
load generator on core 1 and the proxy on core 0, as in run.py. Per contender and repeat:

1. An untraced run: the added TTFB p50 and p99 over direct (measured just before, same
   schedule), and the proxy's CPU time per stream and share of its core over the run.
2. A traced run (`perf trace` on the proxy's event-loop thread, `epoll_wait`/`epoll_pwait` only):
   the loop's turns, i.e. the time from one wait's return to the next wait, during which the
   loop runs callbacks and looks at nothing new. Printed: the share of time in turns, turn
   length p50/p99/p99.9/max, ready I/O events per turn (p99), and the *arrival wait* p99: how
   long an arrival at a random moment waits for the turn in progress to end (a turn of length
   b holds an arrival for what is left of it, so long turns weigh by their length twice).

A stream's first byte needs at least two hops through the loop (the request arrives; the
upstream's first chunk arrives), each behind the turn in progress and behind the ready events
ahead of it in the next, so the TTFB tail follows the long turns, and a turn's length follows
how many chunks arrived together and what each costs. perf trace slows every system call of
the traced thread: the traced run's own TTFB is printed to show by how much, and the untraced
run's figures are the ones to quote. Needs `perf` with permission to trace system calls (root
or perf_event_paranoid <= 1); without it, the trace columns read n/a.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "src")]

import contenders as cs  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import workloads as wl  # noqa: E402
from apis import API_NAMES  # noqa: E402
from loop_turns import Turns, parse_turns  # noqa: E402


def _ttfb(port: int, api: str, key: str, streams: int, seconds: float) -> tuple[list[float], int]:
    good, errors = wl.stream_exchanges(port, api, key, streams, seconds)
    return wl.ttfb_ms(good), errors


def perf_trace_problem() -> str | None:
    """Why `perf trace` cannot trace system calls here, or None when it can."""
    perf = shutil.which("perf")
    if perf is None:
        return "perf is not installed"
    probe = subprocess.run(
        [perf, "trace", "-e", "epoll_wait,epoll_pwait", "--", "sleep", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        return (probe.stderr.strip().splitlines() or ["perf trace failed"])[-1][:200]
    return None


def _traced_run(
    pid: int, port: int, args: argparse.Namespace, key: str, work: Path
) -> tuple[Turns, list[float]]:
    out = work / f"trace-{pid}.txt"
    tracer = subprocess.Popen(
        ["perf", "trace", "-e", "epoll_wait,epoll_pwait", "-p", str(pid), "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(1.0)  # perf attaches to every thread before the load starts
        ttfb, _ = _ttfb(port, args.api, key, args.streams, args.seconds)
    finally:
        os.killpg(tracer.pid, signal.SIGINT)
        tracer.wait(60)
    return parse_turns(out.read_text(errors="replace") if out.exists() else "", pid), ttfb


def _measure(
    running: cs.Running, env: cs.Environment, args: argparse.Namespace, trace: bool
) -> dict[str, float]:
    assert running.proc is not None
    pid, port, key = running.proc.pid, running.port, running.key
    _ttfb(port, args.api, key, args.streams, min(args.seconds, 3.0))  # warm-up
    direct, _ = _ttfb(env.upstream_port, args.api, key, args.streams, args.seconds)
    good, errors, cpu, wall = wl.streams_on_cpu(
        port, args.api, key, args.streams, args.seconds, pid
    )
    ttfb = wl.ttfb_ms(good)
    figures = {
        "ttfb_p50": wl.pct(ttfb, 50) - wl.pct(direct, 50),
        "ttfb_p99": wl.pct(ttfb, 99) - wl.pct(direct, 99),
        "cpu_per_stream": cpu / len(ttfb) * 1e6 if ttfb else float("nan"),
        "cpu_share": cpu / wall,
        "errors": float(errors),
    }
    if trace:
        turns, traced = _traced_run(pid, port, args, key, env.work)
        figures |= {
            "traced_ttfb_p99": wl.pct(traced, 99) - wl.pct(direct, 99),
            "busy": turns.busy_share(),
            "turn_p50": wl.pct(turns.lengths, 50),
            "turn_p99": wl.pct(turns.lengths, 99),
            "turn_p999": wl.pct(turns.lengths, 99.9),
            "turn_max": max(turns.lengths, default=float("nan")),
            "ready_p99": wl.pct([float(n) for n in turns.ready], 99),
            "arrival_wait_p99": turns.arrival_wait(0.01),
        }
    return figures


def _one(
    contender: cs.Contender, env: cs.Environment, args: argparse.Namespace, trace: bool
) -> dict[str, float]:
    running = cs.start(contender, env)
    try:
        baseline = cs.feature_baseline(env)
        cs.preflight(running)
        cs.verify_features(running, env, baseline)
        return _measure(running, env, args, trace)
    finally:
        running.stop()


def render(rows: dict[str, list[dict[str, float]]], trace: bool) -> str:
    """Medians over the repeats, one row per contender."""
    columns = [
        ("+TTFB p50 ms", "ttfb_p50", "{:.2f}"),
        ("+TTFB p99 ms", "ttfb_p99", "{:.2f}"),
        ("CPU µs/stream", "cpu_per_stream", "{:.0f}"),
        ("CPU % of core", "cpu_share", "{:.0%}"),
        ("errors", "errors", "{:.0f}"),
    ]
    if trace:
        columns += [
            ("traced +TTFB p99 ms", "traced_ttfb_p99", "{:.2f}"),
            ("loop busy", "busy", "{:.0%}"),
            ("turn p50 ms", "turn_p50", "{:.2f}"),
            ("turn p99 ms", "turn_p99", "{:.2f}"),
            ("turn p99.9 ms", "turn_p999", "{:.2f}"),
            ("turn max ms", "turn_max", "{:.2f}"),
            ("ready events/turn p99", "ready_p99", "{:.0f}"),
            ("arrival wait p99 ms", "arrival_wait_p99", "{:.2f}"),
        ]
    lines = [
        "| contender | " + " | ".join(title for title, _, _ in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for name, repeats in rows.items():
        cells = []
        for _, key, form in columns:
            values = [r[key] for r in repeats if key in r]
            cells.append(form.format(report.median(values)) if values else "n/a")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contenders", default="floor_aiohttp,floor_sanic,relay_1w,prod_1w")
    parser.add_argument("--api", default="claude", choices=API_NAMES)
    parser.add_argument("--streams", type=int, default=200, help="concurrent streams")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each run")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--no-trace", action="store_true", help="skip the perf-traced run")
    args = parser.parse_args()
    if not 1 <= args.streams <= 2000 or not 0.5 <= args.seconds <= 60 or args.repeats < 1:
        parser.error("--streams 1..2000, --seconds 0.5..60, --repeats >= 1")
    return args


def main() -> None:
    args = _args()
    names = [n for n in args.contenders.split(",") if n]
    pool = {c.name: c for c in cs.CONTENDERS + cs.LADDER}
    unknown = [n for n in names if n not in pool or pool[n].kind == "direct"]
    if unknown:
        raise SystemExit(f"stream_tail: not a proxy contender: {', '.join(unknown)}")
    several = [n for n in names if pool[n].workers > 1]
    if several:  # the trace follows one event loop, and the CPU share is of one core
        raise SystemExit(f"stream_tail: 1-worker contenders only: {', '.join(several)}")
    chosen = [pool[n] for n in names]
    problem = None if args.no_trace else perf_trace_problem()
    if problem:
        run.log(f"no loop trace: {problem}")
    trace = not args.no_trace and problem is None
    os.sched_setaffinity(0, {int(cs.LOAD_CPUS)})
    work = Path(tempfile.mkdtemp(prefix="gateway-stream-tail-"))
    shared_args = argparse.Namespace(upstream="fast", sample_rate=0.1)
    env, started = run._start_shared(shared_args, work, chosen)
    rows: dict[str, list[dict[str, float]]] = {c.label or c.name: [] for c in chosen}
    try:
        for repeat in range(args.repeats):
            for contender in chosen:
                run.log(f"repeat {repeat + 1}/{args.repeats}: {contender.name}")
                try:
                    rows[contender.label or contender.name].append(
                        _one(contender, env, args, trace)
                    )
                except cs.NotAvailable as exc:
                    run.log(f"{contender.name}: not available: {exc}")
    finally:
        for proc in reversed(started):
            proc.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{args.api}, {args.streams} streams of {wl.STREAM_DELTAS} deltas "
        f"{wl.STREAM_DELAY_MS} ms apart, {args.seconds:.0f} s per run, "
        f"medians of {args.repeats} repeat(s)"
    )
    print(render(rows, trace))


if __name__ == "__main__":
    main()
