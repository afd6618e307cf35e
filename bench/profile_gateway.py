"""Profile a gateway contender under closed-loop load with py-spy; print the top costs.

    PYTHONPATH=src python bench/profile_gateway.py [--contender relay_1w] [--api claude]
                                                   [--seconds 15] [--connections 16] [--stream]

Starts the fast upstream, NATS and the OTLP sink as run.py does (core 1) and the contender
(core 0, config generated as in run.py), drives it with wrk (core 1), records with
`py-spy record --format raw` (collapsed stacks, --nonblocking so the sampled process is not
paused), and prints the functions with the most self time and the src/gateway functions with
the most inclusive time, as % of samples.
Needs py-spy (`pip install py-spy`) and wrk.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
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
    parser.add_argument("--output", type=Path, default=None, help="keep the collapsed stacks")
    parser.add_argument("--sample-rate", type=float, default=0.1, help="tracing contenders")
    parser.add_argument("--native", action="store_true", help="include C frames (py-spy --native)")
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
    try:
        running = cs.start(contender, env)
        cs.preflight(running)
        assert running.proc is not None
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
