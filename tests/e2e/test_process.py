"""The `gateway` command as users run it: a real process, several workers, SIGTERM draining."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from gateway.devtools.fake_provider import FakeProvider
from gateway.devtools.loopback import free_port

CONFIG = """
server:
  mode: development
  http: {{addr: "127.0.0.1:{port}"}}
  workers: {workers}
features: {{new_api_enabled: false, async_logging: false}}
upstreams:
  claude: {{base_url: "{upstream}", api_key: "${{TEST_CLAUDE_KEY}}"}}
  openai: {{base_url: "{upstream}", api_key: "sk-openai-SECRET-VALUE"}}
  gemini: {{base_url: "{upstream}"}}
"""


def _write_config(tmp_path: Path, upstream: str, workers: int) -> tuple[Path, int]:
    port = free_port()
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(port=port, workers=workers, upstream=upstream))
    return path, port


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_check_config_masks_secrets_and_names_bad_keys(tmp_path: Path) -> None:
    path, _ = _write_config(tmp_path, "http://127.0.0.1:1", 1)
    result = _run("check-config", "-conf", str(path), env={"TEST_CLAUDE_KEY": "sk-ant-SECRET"})
    assert result.returncode == 0, result.stderr
    assert "SECRET" not in result.stdout and "api_key: '***'" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("features:\n  new_api_enabeld: true\n")
    result = _run("check-config", "--conf", str(bad))
    assert result.returncode == 2 and "features.new_api_enabeld" in result.stderr


@dataclass
class GatewayProcess:
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    workers: int


@pytest.fixture
def gateway_process(
    request: pytest.FixtureRequest, tmp_path: Path, fake_provider: FakeProvider
) -> Iterator[GatewayProcess]:
    path, port = _write_config(tmp_path, fake_provider.url, request.param)
    log = tmp_path / "gateway.log"
    with log.open("wb") as output:
        # Its own session: teardown can end the whole group, workers included.
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "-conf", str(path)],
            env={**os.environ, "TEST_CLAUDE_KEY": "k"},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    yield GatewayProcess(process, f"http://127.0.0.1:{port}", log, request.param)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


async def _wait_ready(gateway: GatewayProcess, workers: int) -> None:
    """Every worker has started (a signal during a worker's start-up is another matter)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if gateway.log.read_bytes().count(b"Worker ready") >= workers:
            # Sanic's manager finishes its own start-up just after the workers report ready;
            # a SIGTERM inside that window can leave it waiting (seen 1 in ~6 runs). Users do
            # not stop a gateway 20 ms after starting it; this test is about draining.
            await asyncio.sleep(1.0)
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the gateway did not start")


@pytest.mark.parametrize("gateway_process", [1, 2], indirect=True, ids=["1-worker", "2-workers"])
async def test_sigterm_lets_in_flight_streams_finish(gateway_process: GatewayProcess) -> None:
    process, url = gateway_process.process, gateway_process.url
    await _wait_ready(gateway_process, gateway_process.workers)
    async with aiohttp.ClientSession() as http:
        headers = {
            "authorization": "Bearer k",
            "x-fake-chunks": "10",
            "x-fake-chunk-delay-ms": "150",
        }
        body = {"model": "m", "stream": True, "messages": []}
        async with http.post(url + "/v1/chat/completions", json=body, headers=headers) as r:
            first = await r.content.readany()
            process.send_signal(signal.SIGTERM)  # mid-stream
            rest = await r.read()
    stream = first + rest
    assert stream.count(b'"content":"tok') == 10 and stream.endswith(b"data: [DONE]\n\n")
    assert await asyncio.to_thread(process.wait, 20) == 0  # the fake provider lives in this loop
    assert b"SECRET" not in gateway_process.log.read_bytes()
