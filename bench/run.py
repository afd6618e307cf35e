"""The benchmark: every contender on the same workloads, one invocation, a Markdown table.

    PYTHONPATH=src python bench/run.py [--quick] [--repeats N] [--soak SECONDS] [--ladder]
                                        [--contenders a,b] [--workloads w1,w2,w3,w4]

Pinning (2 cores): the proxy under test on core 0 (`taskset -c 0`); the upstream, this process
(the open-loop generator), wrk, nats-server and the OTLP sink on core 1. 2-worker gateways get
`taskset -c 0,1`: there is no core left to keep the load off them, so their ratio is a lower
bound. Figures are medians over --repeats; ratios are computed inside this one run. See
docs/performance.md for the method.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "src")]
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(BENCH.parent / "src"), os.environ.get("PYTHONPATH", "")])
)

import contenders as cs  # noqa: E402
import procs  # noqa: E402
import report  # noqa: E402
import workloads as wl  # noqa: E402
from apis import API_NAMES  # noqa: E402

from gateway.devtools.loopback import free_port  # noqa: E402

FULL = wl.Plan(100, 2000, 500, 2000, 10, 6.0, 4.0, API_NAMES, 1000, 600, 200)
QUICK = wl.Plan(
    100, 300, 500, 1000, 3, 3.0, 3.0, ("claude",), 1000, 60, 200, w1_chunks=5, w2_chunks=2
)
Results = dict[str, dict[str, dict[str, list[float]]]]  # contender -> api -> metric -> values


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Gateway vs floors benchmark")
    parser.add_argument("--quick", action="store_true", help="short runs, 1 repeat, 1 min soak")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (1 with --quick)")
    parser.add_argument("--soak", type=float, default=None, help="soak seconds (600; quick 60)")
    parser.add_argument("--contenders", default="", help="comma list of names (default: all)")
    parser.add_argument("--ladder", action="store_true", help="add one-feature-at-a-time rows")
    parser.add_argument("--workloads", default="w1,w2,w3,w4")
    parser.add_argument("--apis", default=",".join(API_NAMES))
    parser.add_argument("--upstream", choices=("fast", "fake"), default="fast")
    parser.add_argument("--sample-rate", type=float, default=0.1, help="tracing sample rate")
    parser.add_argument(
        "--stall-tolerance", type=float, default=0.01, help="share of streams allowed a stall"
    )
    parser.add_argument("--output", type=Path, default=None, help="also write the table here")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (configs, logs)")
    return parser.parse_args()


def _plan(args: argparse.Namespace) -> wl.Plan:
    plan = QUICK if args.quick else FULL
    if args.soak is not None:
        plan = wl.Plan(**{**plan.__dict__, "soak_seconds": args.soak})
    return plan


def _start_shared(
    args: argparse.Namespace, work: Path, chosen: list[cs.Contender]
) -> tuple[cs.Environment, list[procs.Proc]]:
    (work / "logs").mkdir(parents=True)
    started: list[procs.Proc] = []
    port = free_port()
    if args.upstream == "fast":
        argv = [procs.PYTHON, str(BENCH / "fast_upstream.py"), "--port", str(port)]
    else:
        argv = [procs.PYTHON, "-m", "gateway.devtools.fake_provider", "--port", str(port)]
        argv += ["--record-limit", "0"]
    upstream = procs.start("upstream", argv, cs.LOAD_CPUS, work / "logs")
    started.append(upstream)
    error = procs.wait_http(upstream, f"http://127.0.0.1:{port}/health")
    if error:
        raise SystemExit(f"bench: upstream did not start: {error}")
    env = cs.Environment(work=work, upstream_port=port, tracing_sample_rate=args.sample_rate)
    if any(c.events for c in chosen):
        env.nats_url, nats = _start_nats(work)
        started.append(nats)
    if any(c.tracing for c in chosen):
        env.otlp_port, env.span_file = free_port(), work / "spans.count"
        argv = [procs.PYTHON, str(BENCH / "otlp_sink.py"), "--port", str(env.otlp_port)]
        argv += ["--count-file", str(env.span_file)]
        started.append(procs.start("otlp_sink", argv, cs.LOAD_CPUS, work / "logs"))
    return env, started


def _start_nats(work: Path) -> tuple[str, procs.Proc]:
    binary = str(Path(procs.PYTHON).parent / "nats-server")
    port, monitor = free_port(), free_port()
    argv = [binary, "-js", "-sd", str(work / "jetstream"), "-a", "127.0.0.1", "-p", str(port)]
    argv += ["-m", str(monitor)]
    nats = procs.start("nats", argv, cs.LOAD_CPUS, work / "logs", {"GOMAXPROCS": "1"})
    error = procs.wait_http(nats, f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true")
    if error:
        raise SystemExit(f"bench: nats-server did not start: {error}")
    return f"nats://127.0.0.1:{port}", nats


def _measure(
    running: cs.Running,
    env: cs.Environment,
    plan: wl.Plan,
    todo: set[str],
    apis: tuple[str, ...],
    first_repeat: bool,
    into: dict[str, dict[str, list[float]]],
) -> None:
    contender, port = running.contender, running.port
    pid = running.proc.pid if running.proc else None
    direct = env.upstream_port
    for api in apis:
        figures: dict[str, float] = {}
        if "w1" in todo and contender.kind != "direct":
            log(f"{contender.name} {api} W1")
            figures |= wl.w1(port, direct, api, running.key, plan)
        if "w2" in todo:
            log(f"{contender.name} {api} W2")
            figures |= wl.w2(port, api, running.key, plan, env.work, pid)
        if "w3" in todo:
            log(f"{contender.name} {api} W3")
            if contender.kind == "direct":
                if api in plan.search_apis:
                    figures["w3_max_streams"] = wl.search_streams(port, api, running.key, plan)
            else:
                figures |= wl.w3(port, direct, api, running.key, plan)
        if "w4" in todo and pid is not None and api == apis[0]:
            log(f"{contender.name} W4 idle streams")
            figures |= wl.w4_idle(port, api, running.key, plan, pid)
            if first_repeat and plan.soak_seconds > 0:
                log(f"{contender.name} W4 soak {plan.soak_seconds:.0f} s")
                figures |= wl.w4_soak(port, apis, running.key, plan, pid, log)
        for name, value in figures.items():
            into[api][name].append(value)


def main() -> None:
    args = _args()
    wl.require_wrk()
    os.sched_setaffinity(0, {int(cs.LOAD_CPUS)})
    plan = _plan(args)
    wl.STALL_TOLERANCE[0] = args.stall_tolerance
    repeats = args.repeats or (1 if args.quick else 3)
    names = set(filter(None, args.contenders.split(",")))
    pool = cs.CONTENDERS + (cs.LADDER if args.ladder else ())
    chosen = [c for c in pool if not names or c.name in names]
    apis = tuple(a for a in args.apis.split(",") if a in API_NAMES)
    todo = set(args.workloads.split(","))
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    log(f"work dir {work}; plan {plan}; repeats {repeats}")
    env, shared = _start_shared(args, work, chosen)
    results: Results = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    unavailable: dict[str, str] = {}
    try:
        for repeat in range(repeats):
            for contender in chosen:
                if contender.name in unavailable:
                    continue
                log(f"repeat {repeat + 1}/{repeats}: {contender.name}")
                _run_one(contender, env, plan, todo, apis, repeat == 0, results, unavailable)
    finally:
        for proc in reversed(shared):
            proc.stop()
    table = report.render(chosen, apis, results, unavailable, plan, repeats, args)
    print(table)
    if args.output:
        args.output.write_text(table)
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def _run_one(
    contender: cs.Contender,
    env: cs.Environment,
    plan: wl.Plan,
    todo: set[str],
    apis: tuple[str, ...],
    first: bool,
    results: Results,
    unavailable: dict[str, str],
) -> None:
    try:
        running = cs.start(contender, env)
    except cs.NotAvailable as exc:
        unavailable[contender.name] = str(exc)
        log(f"{contender.name}: not available: {exc}")
        return
    try:
        baseline = cs.feature_baseline(env)
        cs.preflight(running)
        cs.verify_features(running, env, baseline)
        _measure(running, env, plan, todo, apis, first, results[contender.name])
    except cs.NotAvailable as exc:
        unavailable[contender.name] = str(exc)
        log(f"{contender.name}: not available: {exc}")
    finally:
        running.stop()


if __name__ == "__main__":
    main()
