"""The benchmark scripts still start: imports resolve and the smallest run prints its table.

The bench is not run by CI for its figures (they need a quiet machine), but a script that no
longer starts is found here rather than by the next person who needs it.
"""

from __future__ import annotations

import contextlib
import cProfile
import dataclasses
import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from pytest_mock import MockerFixture

from gateway.devtools.loopback import free_port

pytestmark = pytest.mark.integration

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize(
    "script",
    [
        "run.py",
        "profile_gateway.py",
        "profile_diff.py",
        "ab.py",
        "ab_interleaved.py",
        "client_bench.py",
        "paced_bench.py",
        "response_headers_bench.py",
        "stream_tail.py",
        "stall_levels.py",
    ],
)
def test_bench_script_starts(script: str) -> None:
    done = _bench(script, "--help", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


def test_ab_interleaved_w1_pairs_direct_and_both_trees() -> None:
    # This tree against itself: one short round of each, on loopback.
    tree = str(BENCH.parent)
    options = ("--contender", "relay_1w", "--rounds", "1", "--chunk", "50", "--rate", "200")
    done = _bench("ab_interleaved.py", "--base", tree, *options, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "base: added p50" in done.stdout and "this: added p50" in done.stdout
    assert "median of the rounds' p50 differences" in done.stdout


def test_ab_interleaved_runs_each_side_on_its_own_interpreter(tmp_path: Path) -> None:
    # A wrapper that logs each start, then runs this interpreter: this side's gateway only.
    started = tmp_path / "started.log"
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {started}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    tree = str(BENCH.parent)
    options = ("--contender", "relay_1w", "--rounds", "1", "--chunk", "50", "--rate", "200")
    done = _bench(
        "ab_interleaved.py", "--base", tree, "--python", str(wrapper), *options, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "this: added p50" in done.stdout
    serves = [line for line in started.read_text().splitlines() if "-m gateway -conf" in line]
    assert len(serves) == 1 and "/this-0/" in serves[0], serves


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (bench only)")
def test_ab_interleaved_w2_measures_cpu_per_request_of_both_sides() -> None:
    # The Sanic floor on the base side (--base-contender), the relay on this side, one round.
    tree = str(BENCH.parent)
    options = ("--base-contender", "floor_sanic", "--contender", "relay_1w", "--rounds", "1")
    done = _bench("ab_interleaved.py", "--base", tree, "--workload", "w2", *options, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "median CPU µs/req: base" in done.stdout
    assert "cheaper in" in done.stdout
    ratio = done.stdout.split("req/s ratios (this / base): ")[1].split()[0]
    assert float(ratio) > 0


def test_ab_interleaved_w3_measures_cpu_per_stream_of_both_trees() -> None:
    tree = str(BENCH.parent)
    options = ("--contender", "relay_billing", "--rounds", "1", "--seconds", "1")
    done = _bench(
        "ab_interleaved.py",
        "--base",
        tree,
        "--workload",
        "w3",
        "--api",
        "claude",
        "--streams",
        "10",
        "--restarts",
        "2",
        *options,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # One round per start, two starts: two pairs, and each start's own difference.
    assert "median difference per start: " in done.stdout
    assert "median CPU µs/stream: base" in done.stdout
    assert "this tree cheaper in" in done.stdout and " of 2 pairs" in done.stdout
    assert "median TTFB p99: base " in done.stdout and " of 2 rounds" in done.stdout


def test_stall_levels_runs_every_side_at_every_level() -> None:
    # This tree as the base too, and the Sanic floor: 2 levels, 1 run each, on loopback.
    tree = str(BENCH.parent)
    options = ("--contender", "relay_1w", "--levels", "4,8", "--repeats", "1", "--seconds", "1")
    done = _bench("stall_levels.py", "--base", tree, *options, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    for side in ("this", "base", "floor"):
        for level in ("4", "8"):
            assert f"{level:>5} streams, run 1, {side:5s}: stalled " in done.stdout
        assert f"  {side}: 4: " in done.stdout and ", 8: " in done.stdout
    assert "runs within the tolerance" in done.stdout


def test_client_bench_measures_both_clients() -> None:
    done = _bench("client_bench.py", "--requests", "50", "--repeats", "1")
    assert done.returncode == 0, done.stderr
    assert "| http1 |" in done.stdout and "| aiohttp |" in done.stdout
    assert "aiohttp / http1:" in done.stdout


def test_response_headers_bench_times_both_encoders() -> None:
    done = _bench("response_headers_bench.py", "--rounds", "1", "--number", "100")
    assert done.returncode == 0, done.stderr
    assert "Sanic HTTPResponse" in done.stdout and "gateway RelayedResponse" in done.stdout
    assert "ratio Sanic / gateway" in done.stdout


def test_paced_bench_measures_every_feature_at_every_setting() -> None:
    done = _bench("paced_bench.py", "--requests", "100", "--rounds", "1")
    assert done.returncode == 0, done.stderr
    for title in ("events to JetStream", "ledger record", "the access line"):
        assert title in done.stdout
    assert done.stdout.count("5ms") == 3 and "2ms" in done.stdout and "0ms" in done.stdout


def test_stream_tail_measures_streams_through_a_contender() -> None:
    # The smallest run, untraced: the trace needs perf and the right to trace system calls.
    options = ("--contenders", "relay_1w", "--streams", "10", "--seconds", "1", "--no-trace")
    done = _bench("stream_tail.py", *options, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    row = next(line for line in done.stdout.splitlines() if "gateway relay only" in line)
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    # +TTFB p50, +TTFB p99, CPU µs/stream, CPU %, errors: measured, and no stream failed.
    assert len(cells) == 6 and "n/a" not in cells, row
    assert float(cells[3]) > 0 and cells[5] == "0", row


def test_w1_interleaves_its_sides_in_chunks_and_pools_every_request(tmp_path: Path) -> None:
    # Both "sides" are the fast upstream itself: what is checked is the chunking (50 requests
    # in 3 chunks are 17 + 17 + 16 per side) and that every answer is pooled, with no error.
    workloads, apis = _bench_module("workloads"), _bench_module("apis")
    with _fast_upstream(tmp_path) as (port, _):
        raw = apis.api_request("openai", key="k").raw("127.0.0.1", port)
        sides = {"direct": (port, raw), "proxy": (port, raw)}
        latencies, errors = workloads.interleaved_open_loop(sides, 400.0, 50, 3)
    assert errors == {"direct": 0, "proxy": 0}
    assert [len(latencies["direct"]), len(latencies["proxy"])] == [50, 50]
    assert all(0 < ms < 10_000 for ms in latencies["direct"] + latencies["proxy"])


def test_w3_runs_direct_and_the_proxy_twice_each_and_pools_their_streams(
    tmp_path: Path, mocker: MockerFixture
) -> None:
    # Two fast upstreams, one as "direct", one as the proxy: the runs go direct, proxy, proxy,
    # direct, and none fails. (Whether a stream stalls depends on the machine's load: a timing
    # figure, for the bench, not for a test.)
    workloads, run = _bench_module("workloads"), _bench_module("run")
    runs = mocker.spy(workloads, "stream_exchanges")
    plan = dataclasses.replace(run.QUICK, stream_seconds=1.0, search_apis=())
    with (
        _fast_upstream(tmp_path / "direct") as (direct, _),
        _fast_upstream(tmp_path / "proxy") as (proxy, _),
    ):
        figures = workloads.w3(proxy, direct, "claude", "k", plan)
    assert [call.args[0] for call in runs.call_args_list] == [direct, proxy, proxy, direct]
    assert all(good for good, _ in runs.spy_return_list)
    assert figures["w3_errors"] == 0
    assert abs(figures["w3_ttfb_p99"]) < 1_000 and abs(figures["w3_gap_p99"]) < 1_000
    assert "w3_max_streams" not in figures


def test_w2_pools_its_chunks_per_level() -> None:
    workloads = _bench_module("workloads")
    chunks = [
        {"rps": 1000.0, "p99": 5.0, "errors": 0.0, "requests": 2000.0, "cpu_s": 0.4},
        {"rps": 500.0, "p99": 9.0, "errors": 1.0, "requests": 1000.0, "cpu_s": 0.3},
        {"rps": 2000.0, "p99": 4.0, "errors": 0.0, "requests": 2000.0, "cpu_s": 0.3},
    ]
    pooled = workloads.pool_wrk(chunks)
    # 5,000 requests in 2 + 2 + 1 s; CPU 1.0 s over 5,000 requests; the middle p99.
    assert pooled == {"rps": 1000.0, "p99": 5.0, "errors": 1.0, "cpu_us": 200.0}


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (bench only)")
def test_w2_alternates_its_levels_in_chunks(tmp_path: Path) -> None:
    # Against the fast upstream itself: both levels answered, in 2 chunks each, without error.
    workloads, run = _bench_module("workloads"), _bench_module("run")
    plan = dataclasses.replace(run.QUICK, wrk_seconds=2, w2_chunks=2)
    with _fast_upstream(tmp_path) as (port, pid):
        figures = workloads.w2(port, "openai", "k", plan, tmp_path, pid)
    for conns in (16, 64):
        assert figures[f"w2_{conns}_errors"] == 0
        assert figures[f"w2_{conns}_rps"] > 0 and figures[f"w2_{conns}_cpu_us"] > 0


@contextlib.contextmanager
def _fast_upstream(work: Path) -> Iterator[tuple[int, int]]:
    """bench/fast_upstream.py on a free loopback port: (port, pid), stopped at the end."""
    procs = _bench_module("procs")
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    upstream = procs.start(
        "upstream",
        [sys.executable, str(BENCH / "fast_upstream.py"), "--port", str(port)],
        "0,1",
        work,
    )
    try:
        assert procs.wait_http(upstream, f"http://127.0.0.1:{port}/health") is None
        yield port, upstream.pid
    finally:
        upstream.stop()


def _bench_module(name: str) -> ModuleType:
    """A module of bench/ (its scripts import each other by bare name)."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def _loop_turns() -> ModuleType:
    return _bench_module("loop_turns")


def test_loop_turns_are_the_gaps_between_one_wait_and_the_next() -> None:
    # perf trace lines of two threads; only the loop's (4242) count. Turns: 2.0 ms after the
    # first wait (10.0 + 1.0 -> 13.0), 0.5 ms after the second (13.0 + 4.0 -> 17.5).
    trace = "\n".join(
        [
            "    10.000 ( 1.000 ms): python/4242 epoll_pwait(epfd: 4, maxevents: 1024) = 3",
            "    11.000 ( 5.000 ms): python/4243 epoll_wait(epfd: 9, maxevents: 8) = 1",
            "         ? (         ): python/4242  ... [continued]: epoll_pwait()) = 1",
            "    13.000 ( 4.000 ms): python/4242 epoll_pwait(epfd: 4, maxevents: 1024) = 7",
            "    17.500 ( 0.100 ms): python/4242 epoll_pwait(epfd: 4, maxevents: 1024) = 0",
        ]
    )
    turns = _loop_turns().parse_turns(trace, 4242)
    assert turns.lengths == [2.0, 0.5] and turns.ready == [3, 7]
    assert turns.span == 6.5  # from 11.0 to 17.5
    assert turns.busy_share() == 2.5 / 6.5
    # A single-threaded process: perf names no thread.
    lone = "  0.316 ( 0.023 ms): epoll_pwait(epfd: 4) = 1\n  1.000 ( 0.2 ms): epoll_wait() = 2"
    assert _loop_turns().parse_turns(lone, 1).lengths == [pytest.approx(0.661)]


def test_arrival_wait_weighs_long_turns_by_their_length() -> None:
    turns = _loop_turns().Turns(lengths=[1.0] * 90 + [10.0], ready=[1] * 91, span=1000.0)
    # An arrival waits for what is left of the turn in progress: x is exceeded by
    # sum(max(0, b - x)) / span of arrivals. 1 % of arrivals wait over 1.0 ms (only the
    # 10 ms turn has more left: (10 - 1) / 1000 = 0.9 %, so x is just below 1.0).
    wait = turns.arrival_wait(0.01)
    assert 0.98 < wait < 1.0
    assert turns.arrival_wait(0.005) == pytest.approx(5.0)  # (10 - 5) / 1000
    assert turns.arrival_wait(0.5) == 0.0  # half of the time the loop is waiting


def _bench(script: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _busy(n: int) -> int:
    return sum(i * i for i in range(n))


def _extra_work(n: int) -> int:
    return sum(i * 3 for i in range(n))


def test_profile_diff_ranks_what_the_second_profile_adds(tmp_path: Path) -> None:
    base, other = cProfile.Profile(), cProfile.Profile()
    base.runcall(_busy, 20_000)
    other.runcall(_busy, 20_000)
    for _ in range(50):
        other.runcall(_extra_work, 20_000)
    base.dump_stats(tmp_path / "base.prof")
    other.dump_stats(tmp_path / "other.prof")
    profiles = (str(tmp_path / "base.prof"), "10", str(tmp_path / "other.prof"), "10")
    done = subprocess.run(
        [sys.executable, str(BENCH / "profile_diff.py"), *profiles, "--top", "20"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ranked = done.stdout.split("\n\n")[0].splitlines()[1:]
    # 50 calls over 10 requests: +5.00 calls per request for the added function, which grew.
    added = [line for line in ranked if "_extra_work" in line]
    assert len(added) == 1 and added[0].split()[1] == "+5.00", done.stdout
    assert float(added[0].split()[0]) > 0
    # The function both profiles ran alike did not grow by a call.
    same = [line for line in ranked if "_busy" in line]
    assert all(line.split()[1] == "+0.00" for line in same), done.stdout


def _ab() -> ModuleType:
    return _bench_module("ab")


def test_ab_reads_the_w2_figures_of_a_run_table() -> None:
    ab = _ab()
    table = """## Results

### openai

| contender | W2 req/s @16 | W2 req/s @64 | W2 p99 @64 ms | CPU µs/req @64 | W2 errors |
|---|---|---|---|---|---|
| gateway production, tracing off, 1w | 3349 | 3018 | 38.45 | 337 | 0 |
"""
    assert ab.read_figures(table) == (337.0, 3018.0)
    with pytest.raises(ValueError, match="no W2 figures"):
        ab.read_figures("| no | table |")


def test_ab_summarises_pairs_by_their_differences() -> None:
    # The first four pairs of the fourth round's third A/B.
    lines = _ab().summary([304.0, 293.0, 296.0, 367.0], [286.0, 284.0, 364.0, 288.0])
    assert lines == [
        "median CPU µs/req: base 300, this 287 (-13)",
        "median of the pairs' differences: -14 µs/req",
        "this tree cheaper in 3 of 4 pairs",
    ]
