"""The `gateway` command as users run it: a real process, several workers, SIGTERM draining."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    with contextlib.suppress(ProcessLookupError):  # workers may outlive a failed test's main
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


async def _wait_ready(gateway: GatewayProcess, workers: int) -> None:
    """Every worker has started: the stream below must reach a worker that is serving."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if gateway.log.read_bytes().count(b"Worker ready") >= workers:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the gateway did not start")


def _slow_stream(http: aiohttp.ClientSession, url: str, chunks: int) -> Any:
    """A chat stream of `chunks` deltas 150 ms apart: long enough to stop the gateway mid-way."""
    headers = {"authorization": "Bearer k", "x-fake-chunks": str(chunks)}
    headers["x-fake-chunk-delay-ms"] = "150"
    body = {"model": "m", "stream": True, "messages": []}
    return http.post(url + "/v1/chat/completions", json=body, headers=headers)


@pytest.mark.parametrize(
    ("gateway_process", "stop", "to_group"),
    [
        (1, signal.SIGTERM, False),
        (2, signal.SIGTERM, False),
        (1, signal.SIGINT, True),
        (2, signal.SIGINT, True),
        (2, signal.SIGTERM, True),
    ],
    indirect=["gateway_process"],
    ids=["1-worker", "2-workers", "1-worker-ctrl-c", "2-workers-ctrl-c", "2-workers-group-sigterm"],
)
async def test_a_stop_lets_in_flight_streams_finish(
    gateway_process: GatewayProcess, stop: signal.Signals, to_group: bool
) -> None:
    """SIGTERM to the gateway, as docker and Kubernetes send it; or a signal to its whole process
    group, as Ctrl-C and systemd's default stop (KillMode=control-group) send it: each worker
    gets it, and then the manager's own stop order too."""
    process, url = gateway_process.process, gateway_process.url
    await _wait_ready(gateway_process, gateway_process.workers)
    async with aiohttp.ClientSession() as http, _slow_stream(http, url, 10) as r:
        first = await r.content.readany()
        if to_group:
            os.killpg(process.pid, stop)  # mid-stream
        else:
            process.send_signal(stop)
        rest = await r.read()
    stream = first + rest
    assert stream.count(b'"content":"tok') == 10 and stream.endswith(b"data: [DONE]\n\n")
    assert await asyncio.to_thread(process.wait, 20) == 0  # the fake provider lives in this loop
    log = gateway_process.log.read_text()
    assert "SECRET" not in log
    assert "Traceback" not in log, log
    deadline = time.monotonic() + 5
    while _group(process.pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _group(process.pid), "a process outlived the gateway"


@pytest.mark.parametrize("gateway_process", [1], indirect=True, ids=["1-worker"])
async def test_a_stop_takes_no_new_request_on_a_kept_alive_connection(
    gateway_process: GatewayProcess,
) -> None:
    """A busy client keeps sending on its keep-alive connection: the request in flight at the
    stop finishes, and no other is served, so the gateway ends with it rather than serving on
    until the graceful stop's limit (write_timeout, 300 s) and then cutting streams."""
    process, url = gateway_process.process, gateway_process.url
    await _wait_ready(gateway_process, 1)
    connector = aiohttp.TCPConnector(limit=1)  # one connection, kept alive between requests
    async with aiohttp.ClientSession(connector=connector) as http:
        async with _slow_stream(http, url, 6) as r:
            await r.content.readany()
            process.send_signal(signal.SIGTERM)
            rest = await r.read()
        assert rest.endswith(b"data: [DONE]\n\n")
        served_after_stop = 0
        for _ in range(10):  # bounded: without the fix each is served, 0.3 s apiece
            try:
                async with _slow_stream(http, url, 2) as again:
                    await again.read()
                served_after_stop += 1
            except aiohttp.ClientError:
                break
    assert served_after_stop == 0
    assert await asyncio.to_thread(process.wait, 20) == 0


@pytest.mark.parametrize("gateway_process", [1], indirect=True, ids=["1-worker"])
async def test_a_second_stop_ends_a_single_process_at_once(gateway_process: GatewayProcess) -> None:
    """The first stop drains; whoever sends a second one wants the process gone now."""
    process, url = gateway_process.process, gateway_process.url
    await _wait_ready(gateway_process, 1)
    async with aiohttp.ClientSession() as http, _slow_stream(http, url, 40) as r:
        await r.content.readany()
        process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)  # draining: the stream has 6 s to go
        process.send_signal(signal.SIGTERM)
        status = await asyncio.to_thread(process.wait, 20)
    assert status == -signal.SIGTERM  # ended by the signal, not by a drain (which exits 0)


@pytest.mark.parametrize("gateway_process", [2], indirect=True, ids=["2-workers"])
async def test_workers_drain_and_end_when_the_main_process_is_killed(
    gateway_process: GatewayProcess,
) -> None:
    """The OOM killer or a `kill -9` ends the main process alone: its workers went on serving,
    unsupervised, holding the port a restarted gateway needs."""
    process, url = gateway_process.process, gateway_process.url
    await _wait_ready(gateway_process, 2)
    async with aiohttp.ClientSession() as http, _slow_stream(http, url, 10) as r:
        first = await r.content.readany()
        process.kill()
        rest = await r.read()
    stream = first + rest
    assert stream.count(b'"content":"tok') == 10 and stream.endswith(b"data: [DONE]\n\n")
    deadline = time.monotonic() + 10
    while _group(process.pid) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not _group(process.pid), "a worker outlived the killed gateway"
    assert "Traceback" not in gateway_process.log.read_text()


def test_a_gateway_with_sanics_inspector_stops_on_one_sigterm(tmp_path: Path) -> None:
    """Sanic's inspector (SANIC_INSPECTOR=true) is a process of the manager's too. Spawned with
    the workers' blocked stop signals, it never unblocked them: the manager waited on it
    forever after a SIGTERM."""
    path, _ = _write_config(tmp_path, "http://127.0.0.1:9", 2)
    log = tmp_path / "gateway.log"
    inspector = {"SANIC_INSPECTOR": "true", "SANIC_INSPECTOR_HOST": "127.0.0.1"}
    inspector["SANIC_INSPECTOR_PORT"] = str(free_port())
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "-conf", str(path)],
            env={**os.environ, "TEST_CLAUDE_KEY": "k", **inspector},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while log.read_bytes().count(b"Worker ready") < 2:
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0, log.read_text()
        deadline = time.monotonic() + 5
        while _group(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _group(process.pid), "a process outlived the gateway"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _group(pgid: int) -> set[int]:
    """The live processes of a process group (Linux /proc), zombies excluded."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # pid (comm) state ppid pgrp ...; comm may hold spaces, so split after its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                members.add(int(stat.parent.name))
    return members


# What a supervisor or a shell script does: start the gateway as a child. In the launcher's
# process group, or (a shell's job control) in a group of its own, which Ctrl-C signals whole.
LAUNCHER = """
import subprocess, sys
own_group = sys.argv[1] == "own-group"
gateway = subprocess.Popen(sys.argv[2:], stdout=sys.stderr, process_group=0 if own_group else None)
print(gateway.pid, flush=True)
print(gateway.wait(), flush=True)
"""


@pytest.mark.parametrize(
    ("workers", "delay", "signals", "stop"),
    [
        (1, 0.0, 1, signal.SIGTERM),
        (2, 0.0, 1, signal.SIGTERM),
        (2, 0.3, 1, signal.SIGTERM),
        (2, 0.3, 2, signal.SIGTERM),
        (2, 0.3, 1, "ctrl-c"),
    ],
    ids=[
        "1-worker-at-once",
        "2-workers-at-once",
        "2-workers-sigterm",
        "2-workers-sigterm-twice",
        "2-workers-ctrl-c",
    ],
)
def test_a_gateway_stopped_while_it_starts_exits(
    tmp_path: Path, workers: int, delay: float, signals: int, stop: signal.Signals | str
) -> None:
    """Stopped as it starts, the gateway exits cleanly (a SIGTERM before Sanic took over used to
    kill it by the signal). Sanic's manager, signalled before its workers acknowledged their
    start-up, spun forever; signalled again, it SIGKILLed its process group, and so the process
    that launched it. Ctrl-C (SIGINT to the gateway's whole group) reached workers still
    importing, which died with a KeyboardInterrupt traceback."""
    group = stop == "ctrl-c"
    path, _ = _write_config(tmp_path, "http://127.0.0.1:9", workers)
    log = tmp_path / "gateway.log"
    gateway_command = [sys.executable, "-m", "gateway", "-conf", str(path)]
    where = "own-group" if group else "same-group"
    with log.open("wb") as output:
        launcher = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, where, *gateway_command],
            env={**os.environ, "TEST_CLAUDE_KEY": "k"},
            stdout=subprocess.PIPE,
            stderr=output,
            start_new_session=True,
        )
    groups = {launcher.pid}
    try:
        assert launcher.stdout is not None
        gateway = int(launcher.stdout.readline())
        if group:
            groups.add(gateway)  # the leader of its own group
        deadline = time.monotonic() + 30
        while b"gateway listening" not in log.read_bytes():
            assert time.monotonic() < deadline and launcher.poll() is None, log.read_text()
            time.sleep(0.01)
        time.sleep(delay)  # at 0.3 s the manager waits for its workers, which are still importing
        for _ in range(signals):
            if group:
                os.killpg(gateway, signal.SIGINT)
            else:
                os.kill(gateway, signal.SIGTERM)
            time.sleep(0.1)
        out, _ = launcher.communicate(timeout=15)
        assert launcher.returncode == 0, "the gateway killed the process that launched it"
        if signals == 1:
            assert out.strip() == b"0", log.read_text()  # the gateway's own exit status
            # Nor did a worker stopped mid-import print a KeyboardInterrupt traceback.
            assert "Traceback" not in log.read_text(), log.read_text()
        else:
            assert out.strip().lstrip(b"-").isdigit()  # the launcher saw the gateway end
        deadline = time.monotonic() + 5  # a SIGKILLed worker takes a moment to go
        while any(_group(pgid) for pgid in groups) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_group(pgid) for pgid in groups), "a worker outlived the gateway"
    finally:
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        launcher.communicate(timeout=10)


STOPPED_WHILE_LOADING = """
import signal, sys
from gateway.cli import stop_signals
stop_signals.hold(second_kills=True)  # as `gateway` does first
from gateway.cli.serve import main
signal.raise_signal(signal.SIGTERM)  # while it loads
main(sys.argv[1:])
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_a_gateway_stopped_while_it_loads_starts_nothing(tmp_path: Path, workers: int) -> None:
    path, _ = _write_config(tmp_path, "http://127.0.0.1:9", workers)
    result = subprocess.run(
        [sys.executable, "-c", STOPPED_WHILE_LOADING, "-conf", str(path)],
        env={**os.environ, "TEST_CLAUDE_KEY": "k"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stop signal came before it started serving" in result.stdout
    assert "Worker" not in result.stdout + result.stderr  # no worker started, none to stop
