"""A/B of two source trees, interleaved in short chunks with both gateways up at once.

    git worktree add /tmp/base HEAD~1          # the tree to compare against
    PYTHONPATH=src python bench/ab_interleaved.py --base /tmp/base --contender prod_1w
    PYTHONPATH=src python bench/ab_interleaved.py --base /tmp/base --workload w2
    PYTHONPATH=src python bench/ab_interleaved.py --base /tmp/base --workload w3 --api claude

Both trees' gateways run at once (pinned to the proxy core, as in run.py), beside the upstream
and, when the contender needs it, nats-server. Chunks alternate in a rotating order, so that the
host's drift falls on both trees alike; each round pairs one chunk of each.

- w1 (default): one chunk of requests at a fixed rate (bench/loadgen.py, open loop) to the
  upstream directly, to the base tree's gateway and to this tree's. Prints each round's p50s,
  the added p50 / p99 over direct pooled over all rounds, and the median of the rounds' p50
  differences (this minus base). Added latency on this host is dominated by wake-ups.
- w2: `wrk` at 64 connections for `--seconds` against each tree's gateway. Prints each round's
  CPU µs per request (the gateway's process tree) and req/s, the medians and the median of the
  rounds' differences: steadier than restarting the whole bench per run (bench/ab.py).
- w3: W3's streams (64 deltas 20 ms apart, `--streams` at once) for `--seconds` against each
  tree's gateway. Prints each round's CPU µs per stream and TTFB p99, the medians and the
  median of the rounds' differences: what a change to the per-chunk path costs or saves; and
  each side's median TTFB p99, with the rounds in which this side's was lower.

`--python PATH` and `--base-python PATH` run each side's gateway with another interpreter:
`--base . --base-python /path/to/venv/bin/python` compares two builds of CPython
on the same code (the upstream and the load stay on the benchmark's own interpreter).

`--base-contender NAME` runs another contender on the base side (`--base` may then be this
tree): `--base . --base-contender floor_sanic --contender prod_1w --workload w2` measures the
issue's ratio to the Sanic floor with both up at once, and prints the median of the rounds'
req/s ratios beside the CPU figures.

A difference smaller than the rounds' spread is not a result. Nor is one smaller than the
difference between two processes of the same code: each process has its own memory layout and
hash seed, and its offset holds for as long as it runs (two A/A runs of W3 read +243 µs per
stream, 6 pairs of 8 on one side, and -193, 11 pairs of 12 on the other). `--restarts N`
starts both gateways N times, `--rounds` each, alternating which starts first, and prints the
median difference of each start beside the summary over all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "src")]

import ab  # noqa: E402
import contenders as cs  # noqa: E402
import procs  # noqa: E402
import run  # noqa: E402
import workloads as wl  # noqa: E402
from apis import api_request  # noqa: E402
from workloads import pct  # noqa: E402


@contextlib.contextmanager
def source_tree(tree: Path, python: str | None) -> Iterator[None]:
    """Child processes started inside import the gateway from `tree`, run by `python` (by
    default the interpreter that runs the benchmark's other processes)."""
    before = os.environ.get("PYTHONPATH")
    before_python = procs.PYTHON
    os.environ["PYTHONPATH"] = str(tree / "src")
    procs.PYTHON = python or before_python
    try:
        yield
    finally:
        procs.PYTHON = before_python
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def start_tree(
    contender: cs.Contender, env: cs.Environment, tree: Path, name: str, python: str | None
) -> cs.Running:
    work = env.work / name
    (work / "logs").mkdir(parents=True)
    with source_tree(tree, python):
        running = cs.start(contender, dataclasses.replace(env, work=work))
    try:
        cs.preflight(running)
    except BaseException:
        running.stop()  # or it outlives the benchmark
        raise
    return running


def _measure(
    args: argparse.Namespace,
    running: dict[str, cs.Running],
    env: cs.Environment,
    cpu: dict[str, list[float]],
    rps: dict[str, list[float]],
    ttfb: dict[str, list[float]],
    restart: int,
) -> None:
    """One start of both gateways: its rounds of the chosen workload."""
    if args.workload == "w1":
        ports = {"direct": env.upstream_port}
        keys = {"direct": "bench-key"}
        for name in ("base", "this"):
            ports[name], keys[name] = running[name].port, running[name].key
        _latency_rounds(args, ports, keys)
    elif args.workload == "w2":
        _cpu_rounds(args, running, env.work, cpu, rps, restart)
    else:
        _stream_rounds(args, running, cpu, ttfb, restart)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the tree to compare against")
    parser.add_argument("--contender", default="prod_1w")
    parser.add_argument(
        "--base-contender", default=None, help="the base side's contender (default: --contender)"
    )
    parser.add_argument("--api", default="openai")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--chunk", type=int, default=1000, help="requests per chunk")
    parser.add_argument("--rounds", type=int, default=10, help="rounds per start of the gateways")
    parser.add_argument("--workload", choices=("w1", "w2", "w3"), default="w1")
    parser.add_argument("--seconds", type=int, default=4, help="w2, w3: seconds per chunk")
    parser.add_argument("--streams", type=int, default=200, help="w3: concurrent streams")
    parser.add_argument(
        "--restarts",
        type=int,
        default=1,
        help="w2, w3: start both gateways this many times, --rounds each (see the docstring)",
    )
    parser.add_argument(
        "--python", default=None, help="this side's interpreter (default: the benchmark's own)"
    )
    parser.add_argument(
        "--base-python", default=None, help="the base side's interpreter (default: the same)"
    )
    args = parser.parse_args()
    if args.restarts > 1 and args.workload == "w1":
        parser.error("--restarts applies to w2 and w3")
    if args.workload == "w2":
        wl.require_wrk()
    os.sched_setaffinity(0, {int(cs.LOAD_CPUS)})
    pool = cs.CONTENDERS + cs.LADDER
    contenders = {
        "base": next(c for c in pool if c.name == (args.base_contender or args.contender)),
        "this": next(c for c in pool if c.name == args.contender),
    }
    work = Path(tempfile.mkdtemp(prefix="gateway-ab-latency-"))
    shared_args = argparse.Namespace(upstream="fast", sample_rate=0.1)
    env, shared = run._start_shared(shared_args, work, list(contenders.values()))
    trees = {"base": args.base.resolve(), "this": BENCH.parent}
    pythons = {"base": args.base_python, "this": args.python}
    cpu: dict[str, list[float]] = {"base": [], "this": []}
    rps: dict[str, list[float]] = {"base": [], "this": []}
    ttfb: dict[str, list[float]] = {"base": [], "this": []}  # w3: each round's TTFB p99
    try:
        for restart in range(args.restarts):
            # Which tree starts first alternates too: a process's own layout can favour it.
            names = list(trees) if restart % 2 == 0 else list(reversed(trees))
            started: list[cs.Running] = []
            try:
                for name in names:  # one by one: those started stop even if the next fails
                    work_name = f"{name}-{restart}"
                    started.append(
                        start_tree(contenders[name], env, trees[name], work_name, pythons[name])
                    )
                running = dict(zip(names, started, strict=True))
                _measure(args, running, env, cpu, rps, ttfb, restart)
            finally:
                for gateway in started:
                    gateway.stop()
        if args.workload != "w1":
            _cpu_summary(args, cpu)
        if args.workload == "w2":
            ratios = [b / a for a, b in zip(rps["base"], rps["this"], strict=True)]
            ratio = statistics.median(ratios)
            print(f"median of the rounds' req/s ratios (this / base): {ratio:.2f}")
        if args.workload == "w3":
            base, this = statistics.median(ttfb["base"]), statistics.median(ttfb["this"])
            lower = sum(b < a for a, b in zip(ttfb["base"], ttfb["this"], strict=True))
            print(
                f"median TTFB p99: base {base:.2f} ms, this {this:.2f} ms; "
                f"this lower in {lower} of {len(ttfb['this'])} rounds"
            )
    finally:
        for proc in reversed(shared):
            proc.stop()


def _cpu_summary(args: argparse.Namespace, cpu: dict[str, list[float]]) -> None:
    per = "req" if args.workload == "w2" else "stream"
    if args.restarts > 1:
        rounds = args.rounds
        starts = [
            statistics.median(
                b - a
                for a, b in zip(
                    cpu["base"][i * rounds : (i + 1) * rounds],
                    cpu["this"][i * rounds : (i + 1) * rounds],
                    strict=True,
                )
            )
            for i in range(args.restarts)
        ]
        print("median difference per start: " + ", ".join(f"{d:+.0f}" for d in starts))
    for line in ab.summary(cpu["base"], cpu["this"], per=per):  # medians, differences, wins
        print(line)


def _latency_rounds(args: argparse.Namespace, ports: dict[str, int], keys: dict[str, str]) -> None:
    names = list(ports)
    raws = {n: api_request(args.api, key=keys[n]).raw("127.0.0.1", ports[n]) for n in names}
    sides = {n: (ports[n], raws[n]) for n in names}
    latencies: dict[str, list[float]] = {n: [] for n in names}
    p50_differences: list[float] = []
    print(f"{'round':>5} " + " ".join(f"{n + ' p50':>12}" for n in names) + "   (ms)")
    # 100 unrecorded requests before each chunk wake the process and warm its connections.
    chunks = wl.interleaved_chunks(sides, args.rate, [args.chunk] * args.rounds, warm=100)
    for index, chunk in enumerate(chunks):
        p50: dict[str, float] = {}
        for name, (lat, errors) in chunk.items():
            if errors:
                raise SystemExit(f"{name}: {errors} failed requests in round {index + 1}")
            latencies[name] += lat
            p50[name] = pct(lat, 50)
        p50_differences.append(p50["this"] - p50["base"])
        print(f"{index + 1:>5} " + " ".join(f"{p50[n]:>12.3f}" for n in names))
    direct = latencies["direct"]
    for name in ("base", "this"):
        added50 = pct(latencies[name], 50) - pct(direct, 50)
        added99 = pct(latencies[name], 99) - pct(direct, 99)
        print(f"{name}: added p50 {added50:+.3f} ms, added p99 {added99:+.3f} ms (pooled)")
    wins = sum(d < 0 for d in p50_differences)
    print(
        f"median of the rounds' p50 differences (this - base): "
        f"{statistics.median(p50_differences) * 1000:+.0f} µs; "
        f"this tree faster in {wins} of {len(p50_differences)} rounds"
    )


def _cpu_rounds(
    args: argparse.Namespace,
    gateways: dict[str, cs.Running],
    work: Path,
    cpu: dict[str, list[float]],
    rps: dict[str, list[float]],
    restart: int,
) -> None:
    """W2 at 64 connections, one wrk run per tree per round; CPU of each gateway's tree."""
    plan = dataclasses.replace(run.FULL, wrk_seconds=args.seconds)

    def measure(gateway: cs.Running) -> tuple[float, float, str]:
        pid = gateway.proc.pid if gateway.proc else None
        figures = wl.wrk_run(gateway.port, args.api, gateway.key, plan, work, pid, 64)
        if figures["errors"] or "cpu_us" not in figures:
            return float("nan"), float("nan"), f"{figures['errors']:.0f} errors"
        return figures["cpu_us"], figures["rps"], ""

    _alternating_rounds(args, gateways, cpu, restart, ("CPU µs/req", "req/s"), measure, rps)


def _stream_rounds(
    args: argparse.Namespace,
    gateways: dict[str, cs.Running],
    cpu: dict[str, list[float]],
    ttfb: dict[str, list[float]],
    restart: int,
) -> None:
    """W3's streams, one chunk per tree per round; CPU of each gateway's tree per stream and
    the streams' TTFB p99 (kept in `ttfb`)."""
    for gateway in gateways.values():  # warm both: first streams pay set-up and first use
        wl.stream_exchanges(gateway.port, args.api, gateway.key, args.streams, 1.0)

    def measure(gateway: cs.Running) -> tuple[float, float, str]:
        assert gateway.proc is not None
        good, errors, used, _ = wl.streams_on_cpu(
            gateway.port, args.api, gateway.key, args.streams, args.seconds, gateway.proc.pid
        )
        if errors or not good:
            return float("nan"), float("nan"), f"{errors} failed streams"
        return used / len(good) * 1e6, pct(wl.ttfb_ms(good), 99), ""

    titles = ("CPU µs/stream", "TTFB p99 ms")
    _alternating_rounds(args, gateways, cpu, restart, titles, measure, ttfb)


def _alternating_rounds(
    args: argparse.Namespace,
    gateways: dict[str, cs.Running],
    cpu: dict[str, list[float]],
    restart: int,
    titles: tuple[str, str],
    measure: Callable[[cs.Running], tuple[float, float, str]],
    others: dict[str, list[float]] | None = None,
) -> None:
    """`--rounds` rounds of one chunk per tree, the order alternating; `measure` gives a chunk's
    CPU µs per unit, a second figure to print (kept in `others`, when given), and what failed
    (empty when nothing did)."""
    print(f"{'round':>7} {'tree':>5} {titles[0]:>14} {titles[1]:>12}")
    for position, name in enumerate(wl.alternating(("base", "this"), args.rounds)):
        index = position // 2
        used, other, failed = measure(gateways[name])
        if failed:
            raise SystemExit(f"{name}: {failed} in round {index + 1}")
        cpu[name].append(used)
        if others is not None:
            others[name].append(other)
        label = f"{restart + 1}.{index + 1}"
        print(f"{label:>7} {name:>5} {used:>14.1f} {other:>12.2f}")


if __name__ == "__main__":
    main()
