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
  median of the rounds' differences: what a change to the per-chunk path costs or saves.

A difference smaller than the rounds' spread is not a result.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator
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
def source_tree(tree: Path) -> Iterator[None]:
    """Child processes started inside import the gateway from `tree`."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(tree / "src")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before


def start_tree(contender: cs.Contender, env: cs.Environment, tree: Path, name: str) -> cs.Running:
    work = env.work / name
    (work / "logs").mkdir(parents=True)
    with source_tree(tree):
        running = cs.start(contender, dataclasses.replace(env, work=work))
    cs.preflight(running)
    return running


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="the tree to compare against")
    parser.add_argument("--contender", default="prod_1w")
    parser.add_argument("--api", default="openai")
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second")
    parser.add_argument("--chunk", type=int, default=1000, help="requests per chunk")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--workload", choices=("w1", "w2", "w3"), default="w1")
    parser.add_argument("--seconds", type=int, default=4, help="w2, w3: seconds per chunk")
    parser.add_argument("--streams", type=int, default=200, help="w3: concurrent streams")
    args = parser.parse_args()
    if args.workload == "w2":
        wl.require_wrk()
    os.sched_setaffinity(0, {int(cs.LOAD_CPUS)})
    contender = next(c for c in cs.CONTENDERS + cs.LADDER if c.name == args.contender)
    work = Path(tempfile.mkdtemp(prefix="gateway-ab-latency-"))
    shared_args = argparse.Namespace(upstream="fast", sample_rate=0.1)
    env, shared = run._start_shared(shared_args, work, [contender])
    running: list[cs.Running] = []
    try:
        trees = {"base": args.base.resolve(), "this": BENCH.parent}
        ports = {"direct": env.upstream_port}
        keys = {"direct": "bench-key"}
        for name, tree in trees.items():
            gateway = start_tree(contender, env, tree, name)
            running.append(gateway)
            ports[name], keys[name] = gateway.port, gateway.key
        if args.workload == "w1":
            _latency_rounds(args, ports, keys)
        elif args.workload == "w2":
            _cpu_rounds(args, running, env.work)
        else:
            _stream_rounds(args, running)
    finally:
        for gateway in running:
            gateway.stop()
        for proc in reversed(shared):
            proc.stop()


def _latency_rounds(args: argparse.Namespace, ports: dict[str, int], keys: dict[str, str]) -> None:
    names = list(ports)
    raws = {n: api_request(args.api, key=keys[n]).raw("127.0.0.1", ports[n]) for n in names}
    latencies: dict[str, list[float]] = {n: [] for n in names}
    p50_differences: list[float] = []
    print(f"{'round':>5} " + " ".join(f"{n + ' p50':>12}" for n in names) + "   (ms)")
    for index in range(args.rounds):
        order = names[index % 3 :] + names[: index % 3]
        p50: dict[str, float] = {}
        for name in order:
            wl._open_loop(ports[name], raws[name], args.rate, 100)  # wake it, warm connections
            lat, errors = wl._open_loop(ports[name], raws[name], args.rate, args.chunk)
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


def _cpu_rounds(args: argparse.Namespace, running: list[cs.Running], work: Path) -> None:
    """W2 at 64 connections, one wrk run per tree per round; CPU of each gateway's tree."""
    gateways = dict(zip(("base", "this"), running, strict=True))
    plan = dataclasses.replace(run.FULL, wrk_seconds=args.seconds)
    cpu: dict[str, list[float]] = {"base": [], "this": []}
    print(f"{'round':>5} {'tree':>5} {'CPU µs/req':>11} {'req/s':>8}")
    for index in range(args.rounds):
        order = ("base", "this") if index % 2 == 0 else ("this", "base")
        for name in order:
            gateway = gateways[name]
            pid = gateway.proc.pid if gateway.proc else None
            figures = wl.wrk_run(gateway.port, args.api, gateway.key, plan, work, pid, 64)
            if figures["errors"]:
                raise SystemExit(f"{name}: {figures['errors']:.0f} errors in round {index + 1}")
            cpu[name].append(figures["cpu_us"])
            print(f"{index + 1:>5} {name:>5} {figures['cpu_us']:>11.1f} {figures['rps']:>8.0f}")
    for line in ab.summary(cpu["base"], cpu["this"]):  # medians, pairs' differences, wins
        print(line)


def _stream_rounds(args: argparse.Namespace, running: list[cs.Running]) -> None:
    """W3's streams, one chunk per tree per round; CPU of each gateway's tree per stream."""
    gateways = dict(zip(("base", "this"), running, strict=True))
    cpu: dict[str, list[float]] = {"base": [], "this": []}
    for gateway in running:  # warm both: first streams pay connection set-up and first use
        wl.stream_exchanges(gateway.port, args.api, gateway.key, args.streams, 1.0)
    print(f"{'round':>5} {'tree':>5} {'CPU µs/stream':>14} {'TTFB p99 ms':>12}")
    for index in range(args.rounds):
        order = ("base", "this") if index % 2 == 0 else ("this", "base")
        for name in order:
            gateway = gateways[name]
            assert gateway.proc is not None
            before = procs.cpu_seconds(gateway.proc.pid)
            good, errors = wl.stream_exchanges(
                gateway.port, args.api, gateway.key, args.streams, args.seconds
            )
            used = procs.cpu_seconds(gateway.proc.pid) - before
            if errors or not good:
                raise SystemExit(f"{name}: {errors} failed streams in round {index + 1}")
            cpu[name].append(used / len(good) * 1e6)
            ttfb99 = pct(wl.ttfb_ms(good), 99)
            print(f"{index + 1:>5} {name:>5} {cpu[name][-1]:>14.0f} {ttfb99:>12.2f}")
    for line in ab.summary(cpu["base"], cpu["this"], per="stream"):
        print(line)


if __name__ == "__main__":
    main()
