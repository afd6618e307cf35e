"""`gateway batch run` as a real process against fake upstreams on loopback."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import orjson
import pytest

from gateway.devtools.fake_provider import FakeProvider
from tests.conftest import UPSTREAM_KEYS
from tests.integration.batch.flaky_upstream import FlakyUpstream
from tests.integration.batch.helpers import (
    batch_env,
    chat_line,
    read_results,
    run_batch,
    start_batch,
    write_config,
    write_lines,
)

pytestmark = pytest.mark.integration

MIXED = [
    chat_line("openai-chat"),
    {
        "custom_id": "openai-responses",
        "method": "POST",
        "url": "/v1/responses",
        "body": {"model": "gpt-4o-mini", "input": "hi"},
    },
    {
        "custom_id": "openai-embeddings",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": "text-embedding-3-small", "input": ["a", "b"]},
    },
    {"custom_id": "openai-models", "method": "GET", "url": "/v1/models"},
    {
        "custom_id": "claude-messages",
        "method": "POST",
        "url": "/v1/messages?beta=true",
        "body": {
            "model": "claude-sonnet-4-5",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}],
        },
    },
    {
        "custom_id": "claude-count",
        "method": "POST",
        "url": "/v1/messages/count_tokens",
        "body": {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]},
    },
    {
        "custom_id": "gemini-generate",
        "method": "POST",
        "url": "/v1beta/models/gemini-2.5-flash:generateContent",
        "body": {"contents": [{"parts": [{"text": "hi"}]}]},
    },
    {
        "custom_id": "gemini-v1-count",
        "method": "POST",
        "url": "/v1/models/gemini-2.5-flash:countTokens",
        "body": {"contents": [{"parts": [{"text": "hi"}]}]},
    },
]
BAD = [
    b"{not json",  # line 9
    orjson.dumps({"custom_id": "no-url", "method": "POST", "body": {}}),  # 10
    orjson.dumps({"custom_id": "unknown", "method": "POST", "url": "/v1/nope", "body": {}}),  # 11
    orjson.dumps({**chat_line("openai-chat")}),  # 12: duplicate
    orjson.dumps({**chat_line("streamed"), "body": {"model": "m", "stream": True}}),  # 13
    orjson.dumps(  # 14: a body over server.http.max_body_size (1 KiB here)
        {**chat_line("huge"), "body": {"model": "m", "messages": [], "pad": "x" * 2048}}
    ),
]


async def test_mixed_providers_in_one_file_and_bad_lines_reported(
    fake_provider: FakeProvider, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "config.yaml", fake_provider.url)
    config.write_text(config.read_text() + "server:\n  http: {max_body_size: 1KiB}\n")
    source = write_lines(tmp_path / "in.jsonl", [*MIXED, *BAD])
    output = tmp_path / "out.jsonl"

    done = await run_batch(
        str(source),
        "--output",
        str(output),
        "-conf",
        str(config),
        GATEWAY_BATCH_API_KEY="operator-key",
    )

    results = {r["custom_id"]: r for r in read_results(output)}
    assert sorted(results) == sorted(line["custom_id"] for line in MIXED)  # type: ignore[index]
    assert {r["response"]["status_code"] for r in results.values()} == {200}
    assert results["claude-messages"]["response"]["body"]["type"] == "message"
    assert results["claude-count"]["response"]["body"] == {"input_tokens": 10}
    assert results["gemini-v1-count"]["response"]["body"] == {"totalTokens": 13}
    assert "candidates" in results["gemini-generate"]["response"]["body"]
    assert results["openai-chat"]["response"]["body"]["usage"]["total_tokens"] == 17
    for number, why in [
        (9, "invalid JSON"),
        (10, "url must be a path"),
        (11, "unknown url"),
        (12, "duplicate custom_id 'openai-chat'"),
        (13, "streaming is not"),
        (14, "body is larger than server.http.max_body_size (1024 bytes)"),
    ]:
        assert f"in.jsonl:{number}: {why}" in done.stderr
    assert done.code == 1  # bad lines were skipped
    assert "8 succeeded, 0 failed, 0 not run, 6 bad input lines" in done.stdout
    # stdout is the summary's; each try's access line went to stderr with the other logs.
    assert done.stdout.startswith("batch finished") and done.stdout.count("\n") == 1
    assert '"access"' in done.stderr or "access" in done.stderr
    # Nothing streamed; the configured upstream keys replaced the operator's; the query kept.
    sent = fake_provider.requests
    assert len(sent) == len(MIXED)
    assert all(b'"stream":true' not in r.body for r in sent)
    claude = next(r for r in sent if r.path == "/v1/messages")
    assert claude.headers["x-api-key"] == UPSTREAM_KEYS["claude"]
    assert claude.query_string == "beta=true"
    assert claude.headers["anthropic-version"] == "2023-06-01"
    assert "operator-key" not in done.stdout + done.stderr


async def test_injected_429s_are_retried_after_retry_after(tmp_path: Path) -> None:
    upstream = await FlakyUpstream(failures=2, retry_headers={"retry-after": "1"}).start()
    try:
        config = write_config(tmp_path / "config.yaml", upstream.url)
        source = write_lines(tmp_path / "in.jsonl", [chat_line(f"r{i}") for i in range(6)])
        output = tmp_path / "out.jsonl"
        started = time.monotonic()

        done = await run_batch(
            str(source), "--output", str(output), "-conf", str(config), "--concurrency", "6"
        )

        elapsed = time.monotonic() - started
    finally:
        await upstream.close()
    assert done.code == 0, done.stderr
    assert elapsed >= 2.0  # two waits of retry-after: 1 second
    assert all(upstream.calls[f"r{i}"] == 3 for i in range(6))
    assert {r["response"]["status_code"] for r in read_results(output)} == {200}
    assert "12 retries" in done.stdout


async def test_retries_stop_at_max_attempts_and_the_last_answer_is_written(tmp_path: Path) -> None:
    upstream = await FlakyUpstream(
        failures=99, status=503, retry_headers={"retry-after-ms": "10"}
    ).start()
    try:
        config = write_config(tmp_path / "config.yaml", upstream.url)
        source = write_lines(tmp_path / "in.jsonl", [chat_line("r0")])
        output = tmp_path / "out.jsonl"

        done = await run_batch(
            str(source), "--output", str(output), "-conf", str(config), "--max-attempts", "3"
        )
    finally:
        await upstream.close()
    assert upstream.calls["r0"] == 3
    [result] = read_results(output)
    assert result["response"]["status_code"] == 503
    assert done.code == 1 and "0 succeeded, 1 failed" in done.stdout


async def wait_for_lines(path: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} did not reach {count} lines")


async def test_ctrl_c_then_rerun_gives_each_custom_id_exactly_once(tmp_path: Path) -> None:
    upstream = await FlakyUpstream(delay=0.05).start()
    ids = [f"r{i:03d}" for i in range(120)]
    try:
        config = write_config(tmp_path / "config.yaml", upstream.url)
        source = write_lines(tmp_path / "in.jsonl", [chat_line(i) for i in ids])
        output = tmp_path / "out.jsonl"
        args = (str(source), "--output", str(output), "-conf", str(config), "-n", "4")

        process = await start_batch(*args)
        await wait_for_lines(output, 10, timeout=20)
        process.send_signal(signal.SIGINT)
        stdout, _ = await asyncio.wait_for(process.communicate(), 20)
        first = read_results(output)
        # A crash in the middle of a write leaves a cut line: the rerun must repair it.
        with output.open("ab") as file:
            file.write(b'{"id":"batch_req_x","custom_id":"r1')

        done = await run_batch(*args)
    finally:
        await upstream.close()
    assert process.returncode == 130
    assert b"interrupted" in stdout
    assert output.read_bytes().endswith(b"\n")
    assert 10 <= len(first) < len(ids)
    assert "cut off an incomplete last line" in done.stderr
    assert f"resuming: {len(first)} request(s) already" in done.stderr
    assert done.code == 0, done.stderr
    results = read_results(output)
    assert sorted(r["custom_id"] for r in results) == ids  # each exactly once
    assert all(r["response"]["status_code"] == 200 for r in results)
    # Only requests cancelled in flight were sent twice.
    assert sum(upstream.calls.values()) - len(ids) <= 4


async def test_a_claude_batch_through_a_batch_run(
    fake_provider: FakeProvider, tmp_path: Path
) -> None:
    """Its results_url points at server.public_url, as the server's answers do, and its results
    are JSON Lines text, one result or many."""
    config = write_config(tmp_path / "config.yaml", fake_provider.url)
    config.write_text(config.read_text() + 'server:\n  public_url: "https://gw.example"\n')
    params = {"model": "c", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
    create = {
        "custom_id": "create",
        "method": "POST",
        "url": "/v1/messages/batches",
        "body": {"requests": [{"custom_id": "only", "params": params}]},
    }
    output = tmp_path / "out.jsonl"
    args = ("--output", str(output), "-conf", str(config))
    done = await run_batch(str(write_lines(tmp_path / "create.jsonl", [create])), *args)
    assert done.code == 0, done.stderr
    batch_id = read_results(output)[0]["response"]["body"]["id"]
    url = f"/v1/messages/batches/{batch_id}"
    follow = [
        {"custom_id": "get", "method": "GET", "url": url},
        {"custom_id": "results", "method": "GET", "url": f"{url}/results"},
    ]
    done = await run_batch(str(write_lines(tmp_path / "follow.jsonl", follow)), *args)
    assert done.code == 0, done.stderr
    results = {r["custom_id"]: r["response"]["body"] for r in read_results(output)}
    assert results["get"]["results_url"] == (
        f"https://gw.example/v1/messages/batches/{batch_id}/results"
    )
    assert isinstance(results["results"], str)  # one line of JSONL, not an object
    assert orjson.loads(results["results"])["custom_id"] == "only"


async def test_a_bad_command_line_or_a_missing_input_exits_2_and_makes_nothing(
    fake_provider: FakeProvider, tmp_path: Path
) -> None:
    for argv in (["batch"], ["batch", "runn", "in.jsonl", "-o", "o.jsonl"]):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", *argv, cwd=tmp_path, env=batch_env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 2 and b"usage: gateway batch run" in stderr
    config = write_config(tmp_path / "config.yaml", fake_provider.url)
    output = tmp_path / "never.jsonl"
    done = await run_batch(str(tmp_path / "missing.jsonl"), "-o", str(output), "-conf", str(config))
    assert done.code == 2 and "missing.jsonl" in done.stderr
    assert not output.exists()


async def test_a_busy_or_bad_invocation_exits_2(tmp_path: Path) -> None:
    done = await run_batch(
        str(tmp_path / "missing.jsonl"),
        "--output",
        str(tmp_path / "o"),
        "-conf",
        str(tmp_path / "no-config.yaml"),
    )

    assert done.code == 2
