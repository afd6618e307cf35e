"""Throughput of `gateway batch run`: a 10,000-line batch against the fake provider.

Run: PYTHONPATH=src python bench/batch_bench.py [lines] [concurrency ...]
     (defaults: 10000 lines at concurrency 1, 8, 32, 128)

The fake provider runs as its own process (no request recording); the batch is the real command
(`python -m gateway batch run`) in another process, with events off and billing disabled, so
the figure is the relay use-case, retries machinery, result writing and the progress counters.
Lines mix the three providers (chat completions, Messages, generateContent). Each run has a
fresh output file; the table shows the command's own rate (job only) and the wall time (process
start, config, input parsing and shutdown included). Every run is bounded by a timeout.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from gateway.devtools.loopback import free_port

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 600.0
_RATE = re.compile(rb"([0-9.]+) req/s")


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def start_fake(port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gateway", "fake-provider", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env(), stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    process.kill()
    raise SystemExit("the fake provider did not start")


def write_input(path: Path, count: int) -> None:
    templates = [
        ("/v1/chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user"}]}),
        ("/v1/messages", {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": []}),
        ("/v1beta/models/gemini-2.5-flash:generateContent", {"contents": []}),
    ]
    with path.open("wb") as file:
        for i in range(count):
            url, body = templates[i % len(templates)]
            line = {"custom_id": f"req-{i}", "method": "POST", "url": url, "body": body}
            file.write(orjson.dumps(line) + b"\n")


def write_config(path: Path, port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    providers = "".join(
        f'  {name}: {{base_url: "{url}", api_key: "bench"}}\n'
        for name in ("claude", "openai", "gemini")
    )
    path.write_text(
        "features: {new_api_enabled: false, async_logging: false}\n"
        "upstreams:\n  read_timeout: 30s\n" + providers
    )


def run_batch(work: Path, concurrency: int, lines: int) -> tuple[float, float]:
    output = work / f"out-{concurrency}.jsonl"
    command = [
        sys.executable, "-m", "gateway", "batch", "run", str(work / "in.jsonl"),
        "--output", str(output), "-conf", str(work / "config.yaml"),
        "--concurrency", str(concurrency), "--quiet",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=ROOT, env=env(), capture_output=True, timeout=RUN_TIMEOUT, check=False
    )
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"batch failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    written = output.read_bytes().count(b"\n")
    if written != lines:
        raise SystemExit(f"expected {lines} result lines, got {written}")
    match = _RATE.search(done.stdout)
    return (float(match.group(1)) if match else 0.0), wall


def main() -> None:
    args = [int(a) for a in sys.argv[1:]]
    lines = args[0] if args else 10_000
    levels = args[1:] or [1, 8, 32, 128]
    port = free_port()
    fake = start_fake(port)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            write_input(work / "in.jsonl", lines)
            write_config(work / "config.yaml", port)
            print(f"{lines} lines, fake provider on 127.0.0.1:{port}, {os.cpu_count()} CPUs")
            print(f"{'concurrency':>11} | {'job req/s':>9} | {'wall s':>7} | {'wall req/s':>10}")
            print(f"{'-' * 11}-+-{'-' * 9}-+-{'-' * 7}-+-{'-' * 10}")
            for concurrency in levels:
                rate, wall = run_batch(work, concurrency, lines)
                print(f"{concurrency:>11} | {rate:>9.0f} | {wall:>7.2f} | {lines / wall:>10.0f}")
    finally:
        fake.send_signal(signal.SIGTERM)
        try:
            fake.wait(10)
        except subprocess.TimeoutExpired:
            fake.kill()


if __name__ == "__main__":
    main()
