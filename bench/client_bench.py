"""CPU per request of the two upstream clients (http1, aiohttp) against the bench's fast upstream.

    PYTHONPATH=src python bench/client_bench.py [--requests 6000] [--repeats 3]

One request at a time, small JSON both ways (the OpenAI chat request of the bench), the client
on the first allowed core and the upstream on the second. Prints the client process's CPU µs
per request (from time.process_time) for each client, interleaved over repeats, and the ratio
of the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import uvloop

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH), str(BENCH.parent / "src")]

import procs  # noqa: E402
import run  # noqa: E402, F401 - sets PYTHONPATH for the child processes
from apis import api_request  # noqa: E402

from gateway.adapters.upstream.factory import upstream_for  # noqa: E402
from gateway.adapters.upstream.pool_settings import UpstreamPoolSettings  # noqa: E402
from gateway.devtools.loopback import free_port  # noqa: E402
from gateway.domain.ports.upstream import UpstreamRequest  # noqa: E402

CLIENTS = ("http1", "aiohttp")


async def cpu_per_request(client: str, request: UpstreamRequest, count: int) -> float:
    upstream = upstream_for(client, UpstreamPoolSettings(connect_timeout=5, read_timeout=30))
    await upstream.start()
    try:
        for _ in range(200):  # warm-up: connection open, caches filled
            response = await upstream.send(request)
            await response.read()
            response.release()
        began = time.process_time()
        for _ in range(count):
            response = await upstream.send(request)
            await response.read()
            response.release()
        return (time.process_time() - began) / count * 1e6
    finally:
        await upstream.close()


async def measure(port: int, count: int, repeats: int) -> dict[str, list[float]]:
    api = api_request("openai", stream=False, key="sk-bench")
    headers = [*api.headers, ("content-type", "application/json")]
    request = UpstreamRequest("POST", f"http://127.0.0.1:{port}{api.path}", headers, api.body)
    results: dict[str, list[float]] = {client: [] for client in CLIENTS}
    for _ in range(repeats):
        for client in CLIENTS:  # interleaved, so drift on a shared machine hits both alike
            results[client].append(await cpu_per_request(client, request, count))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    allowed = sorted(os.sched_getaffinity(0))
    client_cpu, upstream_cpu = allowed[0], allowed[1 % len(allowed)]
    os.sched_setaffinity(0, {client_cpu})
    work = Path(tempfile.mkdtemp(prefix="client-bench-"))
    port = free_port()
    argv = [procs.PYTHON, str(BENCH / "fast_upstream.py"), "--port", str(port)]
    upstream = procs.start("upstream", argv, str(upstream_cpu), work)
    try:
        if procs.wait_http(upstream, f"http://127.0.0.1:{port}/health"):
            raise SystemExit("the fast upstream did not start")
        results = uvloop.run(measure(port, args.requests, args.repeats))
    finally:
        upstream.stop()
    medians = {client: statistics.median(values) for client, values in results.items()}
    print(f"| client | CPU µs/request (median of {args.repeats}) | runs |")
    print("|---|---|---|")
    for client, values in results.items():
        runs = ", ".join(f"{v:.1f}" for v in values)
        print(f"| {client} | {medians[client]:.1f} | {runs} |")
    print(f"\naiohttp / http1: {medians['aiohttp'] / medians['http1']:.2f}x")


if __name__ == "__main__":
    main()
