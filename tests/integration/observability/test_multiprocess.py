"""Two Sanic workers in a real `gateway` process share their metrics (multiprocess mode)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import orjson
import pytest

from gateway.devtools.loopback import free_port
from tests.unit.observability.helpers import value

CONFIG = """
server:
  mode: production
  http: {{addr: "127.0.0.1:{port}"}}
  workers: 2
features: {{new_api_enabled: false, async_logging: false}}
upstreams:
  claude: {{base_url: "{upstream}"}}
  openai: {{base_url: "{upstream}", api_key: "sk-openai-CONFIGURED-0123456789"}}
  gemini: {{base_url: "{upstream}"}}
metrics: {{enabled: true, multiproc_dir: "{metrics_dir}"}}
"""
CLIENT_KEY = "sk-client-PRIVATE-0123456789abcdef"
REQUESTS = 20  # at least
BATCH = 5
MAX_REQUESTS = 400


def _spawn(*args: str, output: bool = False) -> subprocess.Popen[bytes]:
    out = subprocess.PIPE if output else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    upstream_port, port = free_port(), free_port()
    metrics_dir = tmp_path / "metrics"
    config = tmp_path / "config.yaml"
    config.write_text(
        CONFIG.format(
            port=port, upstream=f"http://127.0.0.1:{upstream_port}", metrics_dir=metrics_dir
        )
    )
    fake = _spawn("gateway.devtools.fake_provider", "--port", str(upstream_port))
    gateway = _spawn("gateway", "-conf", str(config), output=True)
    try:
        yield f"http://127.0.0.1:{port}", metrics_dir, gateway
    finally:
        for process in (gateway, fake):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (gateway, fake):
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate(timeout=5)


def _pids(metrics_dir: Path, kind: str) -> set[str]:
    return {p.stem.rsplit("_", 1)[1] for p in metrics_dir.glob(f"{kind}_*.db")}


async def _wait_ready(http: aiohttp.ClientSession, url: str, metrics_dir: Path) -> None:
    """Ready, and both workers started (each has created its in-flight gauge file)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            async with http.get(url + "/ready") as r:
                if r.status == 200 and len(_pids(metrics_dir, "gauge_livesum")) >= 2:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the gateway's two workers did not become ready")


async def _chat(http: aiohttp.ClientSession, url: str) -> None:
    body = orjson.dumps({"model": "gpt-4o", "messages": []})
    auth = {"authorization": f"Bearer {CLIENT_KEY}"}
    async with http.post(url + "/v1/chat/completions", data=body, headers=auth) as r:
        assert r.status == 200


async def test_two_workers_report_the_same_totals(
    processes: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    url, metrics_dir, gateway = processes
    # A new connection per request, so that both workers serve some.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        await _wait_ready(http, url, metrics_dir)
        # Concurrent batches until both workers have served some. Which worker accepts a
        # connection is the kernel's choice, and a fast worker can win every race for a while:
        # a fixed number of requests made this test flaky. Bounded in count and time.
        sent, deadline = 0, time.monotonic() + 20
        while sent < MAX_REQUESTS and time.monotonic() < deadline:
            await asyncio.gather(*(_chat(http, url) for _ in range(BATCH)))
            sent += BATCH
            if sent >= REQUESTS and len(_pids(metrics_dir, "counter")) >= 2:
                break
        scrapes = []
        for _ in range(6):
            async with http.get(url + "/metrics") as r:
                scrapes.append(await r.read())
    for text in scrapes:  # whichever worker answers, it reports every worker's counts
        assert value(text, "gateway_requests_total", provider="openai", status="200") == sent
        assert value(text, "gateway_tokens_total", type="output") == 4 * sent
        assert value(text, "gateway_request_duration_seconds_count") == sent
    assert len(_pids(metrics_dir, "counter")) >= 2  # both workers counted some requests
    gateway.send_signal(signal.SIGTERM)
    output, _ = gateway.communicate(timeout=15)
    assert CLIENT_KEY.encode() not in output and b"CONFIGURED" not in output
    access = [
        orjson.loads(line)
        for line in output.splitlines()
        if line.startswith(b"{") and b'"access"' in line
    ]
    relayed = [line for line in access if line.get("provider") == "openai"]
    assert len(relayed) == sent and len({line["request_id"] for line in relayed}) == sent
