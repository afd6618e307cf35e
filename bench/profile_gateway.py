"""Profile a gateway contender under closed-loop load with py-spy; print the top costs.

    PYTHONPATH=src python bench/profile_gateway.py [--contender relay_1w] [--api claude]
                                                   [--seconds 15] [--connections 16] [--stream]
                                                   [--paced [--streams 200]]

Starts the fast upstream, NATS and the OTLP sink as run.py does (core 1) and the contender
(core 0, config generated as in run.py), drives it with wrk (core 1), records with
`py-spy record --format raw` (collapsed stacks, --nonblocking so the sampled process is not
paused), and prints the functions with the most self time and the src/gateway functions with
the most inclusive time, as % of samples. py-spy misplaces the time of coroutines; two other
modes cross-check it: `--perf` (Linux perf's software clock: interpreter, kernel and native
libraries, context switches; no Python frames) and `--cprofile FILE` (every call of the main
thread, inflated; compare two contenders with bench/profile_diff.py). `--paced` replaces wrk
with W3's streams (64 deltas 20 ms apart, `--streams` at once, from this process on the load
core): the per-chunk path as the stream tail sees it, one chunk per loop turn and stream;
figures are then per stream.
Needs py-spy (`pip install py-spy`) and wrk.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "src")]

import contenders as cs  # noqa: E402
import procs  # noqa: E402
import run  # noqa: E402 - also sets PYTHONPATH for the child processes
import workloads as wl  # noqa: E402
from apis import api_request, stream_headers  # noqa: E402


def _frame_name(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)": group by function.
    return re.sub(r":\d+\)$", ")", frame.strip())


def summarize(collapsed: str, top: int = 25) -> str:
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(frame) for frame in stack.split(";")]
        self_time[frames[-1]] += count
        for frame in set(frames):
            if "gateway/" in frame and "site-packages" not in frame:
                inclusive[frame] += count
    if not total:
        return "no samples"
    idle = sum(n for name, n in self_time.items() if name.startswith("_run_server_forever"))
    lines = [f"samples: {total} ({idle / total:.1%} idle in the event loop)", "", "top self time:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in self_time.most_common(top)]
    lines += ["", "top inclusive time in src/gateway:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contender", default="relay_1w")
    parser.add_argument("--api", default="claude")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--stream", action="store_true", help="streams of 64 deltas, no pacing")
    parser.add_argument("--paced", action="store_true", help="W3's paced streams, not wrk")
    parser.add_argument("--streams", type=int, default=200, help="--paced: concurrent streams")
    parser.add_argument("--output", type=Path, default=None, help="keep the collapsed stacks")
    parser.add_argument("--sample-rate", type=float, default=0.1, help="tracing contenders")
    parser.add_argument("--native", action="store_true", help="include C frames (py-spy --native)")
    parser.add_argument(
        "--cprofile",
        type=Path,
        default=None,
        help="run the gateway under cProfile, write its pstats here (every call, main thread only)",
    )
    parser.add_argument(
        "--perf",
        action="store_true",
        help="Linux perf instead of py-spy: CPU by library and by C symbol, context switches",
    )
    args = parser.parse_args()
    wrk = wl.require_wrk()
    py_spy = shutil.which("py-spy") or str(Path(procs.PYTHON).parent / "py-spy")
    contender = next(c for c in cs.CONTENDERS + cs.LADDER if c.name == args.contender)
    work = Path(tempfile.mkdtemp(prefix="gateway-profile-"))
    # The same shared processes as run.py: upstream, NATS when the contender publishes events,
    # the OTLP sink when it traces (a production profile without NATS would profile the spool).
    shared_args = argparse.Namespace(upstream="fast", sample_rate=args.sample_rate)
    env, started = run._start_shared(shared_args, work, [contender])
    running = None
    if args.cprofile is not None:
        _under_cprofile(args.cprofile.resolve())
    try:
        running = cs.start(contender, env)
        cs.preflight(running)
        assert running.proc is not None
        if args.paced:
            _profile_paced(args, running, work, py_spy)
            return
        script = _script(args, running.key, work)
        path = api_request(args.api, stream=args.stream, key=running.key).path
        url = f"http://127.0.0.1:{running.port}{path}"
        load = subprocess.Popen(
            [
                *("taskset", "-c", cs.LOAD_CPUS, wrk, "-t1", f"-c{args.connections}"),
                *(f"-d{args.seconds + 2}s", "-s", str(script), url),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        if args.cprofile is not None:
            wrk_out, _ = load.communicate(timeout=args.seconds + 60)
            figures = wl.parse_wrk(wrk_out)
            running.stop()  # a graceful stop: cProfile writes its file as the process exits
            print(f"wrk: {figures}")
            print(_cprofile_top(args.cprofile, int(figures["requests"])))
            return
        if args.perf:
            print(_perf_profile(running.proc.pid, args.seconds, work))
            wrk_out, _ = load.communicate(timeout=args.seconds + 60)
            print(f"wrk: {wl.parse_wrk(wrk_out)}")
            return
        out = work / "profile.txt"
        subprocess.run(
            [
                *(py_spy, "record", "--format", "raw", "--nonblocking", "-r", "250"),
                *(("--native",) if args.native else ()),
                *("-d", str(args.seconds), "-o", str(out), "-p", str(running.proc.pid)),
            ],
            check=False,
            timeout=args.seconds + 60,
            capture_output=True,
        )
        wrk_out, _ = load.communicate(timeout=args.seconds + 60)
        print(f"wrk: {wl.parse_wrk(wrk_out)}")
        collapsed = out.read_text() if out.exists() else ""
        if args.output:
            args.output.write_text(collapsed)
        print(summarize(collapsed))
    finally:
        if running is not None:
            running.stop()
        for proc in reversed(started):
            proc.stop()
        shutil.rmtree(work, ignore_errors=True)


def _profile_paced(args: argparse.Namespace, running: cs.Running, work: Path, py_spy: str) -> None:
    """W3's paced streams for `--seconds` from this process (pinned to the load core), under
    cProfile or py-spy; cProfile's figures per stream."""
    assert running.proc is not None
    os.sched_setaffinity(0, {int(cs.LOAD_CPUS)})
    out = work / "profile.txt"
    spy = None
    perf: list[str] = []
    perf_thread = None
    if args.perf:  # alongside the streams, from a thread: perf runs as its own process
        pid = running.proc.pid
        perf_thread = threading.Thread(
            target=lambda: perf.append(_perf_profile(pid, args.seconds, work))
        )
        perf_thread.start()
    elif args.cprofile is None:
        spy = subprocess.Popen(
            [
                *(py_spy, "record", "--format", "raw", "--nonblocking", "-r", "250"),
                *(("--native",) if args.native else ()),
                *("-d", str(args.seconds), "-o", str(out), "-p", str(running.proc.pid)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    good, errors = wl.stream_exchanges(
        running.port, args.api, running.key, args.streams, args.seconds
    )
    print(f"streams: {len(good)} ({errors} errors)")
    if perf_thread is not None:
        perf_thread.join(timeout=args.seconds + 180)
        print("\n".join(perf))
        return
    if spy is not None:
        spy.wait(timeout=args.seconds + 60)
        print(summarize(out.read_text() if out.exists() else ""))
        return
    running.stop()  # a graceful stop: cProfile writes its file as the process exits
    print(_cprofile_top(args.cprofile, len(good), unit="stream"))


def _under_cprofile(out: Path) -> None:
    """Make contenders start as `python -m cProfile -o OUT -m gateway ...` (or `... floor.py`)."""
    start = procs.start

    def start_profiled(
        name: str, argv: list[str], cpus: str, log_dir: Path, env: dict[str, str] | None = None
    ) -> procs.Proc:
        if argv[1:3] == ["-m", "gateway"] or argv[1].endswith(".py"):
            argv = [argv[0], "-m", "cProfile", "-o", str(out), *argv[1:]]
        return start(name, argv, cpus, log_dir, env)

    cs.procs.start = start_profiled  # type: ignore[assignment]


def _cprofile_top(path: Path, requests: int, top: int = 30, unit: str = "request") -> str:
    """Own time per request of the costliest functions (cProfile inflates every call)."""
    import pstats

    if not path.exists() or requests <= 0:
        return "no profile written"
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = sorted(
        ((tottime, calls, func) for func, (_, calls, tottime, _, _) in stats.items()),
        reverse=True,
    )[:top]
    lines = [f"{unit}s: {requests}; own time per {unit} (µs), calls per {unit}:"]
    for tottime, calls, (file, line, name) in rows:
        where = file.split("site-packages/")[-1]
        per_request = f"{tottime / requests * 1e6:8.2f}  {calls / requests:6.2f}"
        lines.append(f"  {per_request}  {name} {where}:{line}")
    return "\n".join(lines)


def _perf_profile(pid: int, seconds: int, work: Path) -> str:
    """perf's software clock over every thread of `pid`: no Python frames (3.11 has no perf
    trampolines), but the split between the interpreter, the kernel (system calls, context
    switches), uvloop, SQLite and the parsers, without pausing or slowing the process."""
    data = work / "perf.data"
    target = ("-p", str(pid), "--", "sleep", str(seconds))
    stat = subprocess.run(
        ["perf", "stat", "-e", "task-clock,context-switches,cpu-migrations", *target],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    subprocess.run(
        ["perf", "record", "-e", "cpu-clock", "-F", "999", "-o", str(data), *target],
        capture_output=True,
        timeout=seconds + 60,
        check=False,
    )
    report = []
    for sort in ("dso", "dso,sym"):
        result = subprocess.run(
            ["perf", "report", "-i", str(data), "--sort", sort, "--stdio", "--percent-limit", "1"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        report += [line for line in result.stdout.splitlines() if line and not line.startswith("#")]
    return stat.stderr.strip() + "\n\n" + "\n".join(report)


def _script(args: argparse.Namespace, key: str, work: Path) -> Path:
    request = api_request(args.api, stream=args.stream, key=key)
    headers = list(request.headers)
    if args.stream:
        headers += list(stream_headers(64, 0))
    lines = ['wrk.method = "POST"', f"wrk.body = {wl._lua_string(request.body.decode())}"]
    lines.append('wrk.headers["Content-Type"] = "application/json"')
    lines += [f"wrk.headers[{wl._lua_string(n)}] = {wl._lua_string(v)}" for n, v in headers]
    path = work / "profile.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    main()
