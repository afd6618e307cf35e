"""The batch use-case over the real RelayService, with in-memory fakes of the relay's ports."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
import pytest

from gateway.application.background import BackgroundTasks
from gateway.application.batch_input import BatchRequest, parse_line
from gateway.application.batch_job import BatchJob, BatchSettings
from gateway.application.batch_progress import BatchProgress
from gateway.application.batch_retry import RetryPolicy
from gateway.application.relay import RelayService
from gateway.application.relay_command import RelaySettings, UpstreamTarget
from gateway.domain.errors import QuotaExceeded, Unauthenticated, UpstreamUnreachable
from gateway.domain.ports.upstream import UpstreamRequest, UpstreamResponse
from gateway.domain.provider import Provider
from gateway.domain.secrets import Secret
from tests.fakes import MemoryBilling, MemoryEventPublisher, ScriptedResponse, ScriptedUpstream

DIRECT = RelaySettings(
    new_api=None,
    direct={
        p: UpstreamTarget(f"https://{p.value}.test", Secret(f"{p.value}-key")) for p in Provider
    },
)
PASS_THROUGH = RelaySettings(new_api=UpstreamTarget("http://newapi.test"), direct=DIRECT.direct)
CHAT_BODY = b'{"id":"c1","usage":{"prompt_tokens":13,"completion_tokens":4,"total_tokens":17}}'


class MemorySink:
    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def write(self, line: bytes) -> None:
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        self.lines.append(line)

    def documents(self) -> list[dict[str, object]]:
        return [orjson.loads(line) for line in self.lines]


def chat(custom_id: str, url: str = "/v1/chat/completions") -> BatchRequest:
    raw = {"custom_id": custom_id, "method": "POST", "url": url, "body": {"model": "gpt-4o-mini"}}
    return parse_line(1, orjson.dumps(raw))


@dataclass
class Harness:
    upstream: object
    settings: RelaySettings = DIRECT
    billing: MemoryBilling = field(default_factory=MemoryBilling)
    events: MemoryEventPublisher = field(default_factory=MemoryEventPublisher)
    sink: MemorySink = field(default_factory=MemorySink)
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def job(self, progress: BatchProgress | None = None, **settings: object) -> BatchJob:
        relay = RelayService(
            upstream=self.upstream,  # type: ignore[arg-type]
            billing=self.billing,
            events=self.events,
            settings=self.settings,
            background=BackgroundTasks(),
        )
        options = BatchSettings(**{"concurrency": 1, **settings})  # type: ignore[arg-type]
        return BatchJob(
            relay=relay, sink=self.sink, settings=options, sleep=self.sleep, progress=progress
        )


def ok(body: bytes = CHAT_BODY, headers: Sequence[tuple[str, str]] = ()) -> ScriptedResponse:
    return ScriptedResponse(
        headers=(("content-type", "application/json"), *headers), body_chunks=[body]
    )


def status(code: int, *headers: tuple[str, str]) -> ScriptedResponse:
    return ScriptedResponse(
        status=code,
        headers=(("content-type", "application/json"), *headers),
        body_chunks=[b'{"error":{"message":"slow down"}}'],
    )


async def test_each_request_gets_one_result_line_an_event_and_a_usage_record() -> None:
    harness = Harness(ScriptedUpstream(ok(), ok()))
    job = harness.job()

    summary = await job.run([chat("a"), chat("b")])

    documents = harness.sink.documents()
    assert [d["custom_id"] for d in documents] == ["a", "b"]
    response = documents[0]["response"]
    assert isinstance(response, dict)
    assert response["status_code"] == 200
    assert response["body"] == orjson.loads(CHAT_BODY)
    assert documents[0]["error"] is None
    assert documents[0]["id"] == f"batch_req_{response['request_id']}"
    assert [e.id for e in harness.events.events] == [
        d["response"]["request_id"]  # type: ignore[index]
        for d in documents
    ]
    await asyncio.sleep(0)  # usage records are written in the background
    assert len(harness.billing.records) == 2
    assert (summary.succeeded, summary.failed, summary.tokens) == (2, 0, 34)
    assert not summary.interrupted


async def test_a_429_is_retried_after_the_wait_the_upstream_asked_for() -> None:
    harness = Harness(ScriptedUpstream(status(429, ("retry-after", "2")), ok()))

    summary = await harness.job().run([chat("a")])

    assert harness.sleeps == [2.0]
    [document] = harness.sink.documents()
    assert document["response"]["status_code"] == 200  # type: ignore[index]
    assert [e.status for e in harness.events.events] == [429, 200]
    assert (summary.retries, summary.succeeded) == (1, 1)


async def test_retry_after_ms_wins_over_retry_after() -> None:
    harness = Harness(
        ScriptedUpstream(status(503, ("retry-after", "9"), ("retry-after-ms", "120")), ok())
    )

    await harness.job().run([chat("a")])

    assert harness.sleeps == [0.12]


async def test_gives_up_after_max_attempts_and_writes_the_last_answer() -> None:
    harness = Harness(ScriptedUpstream(status(503), status(502), status(500)))
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=10.0)

    summary = await harness.job(retry=policy).run([chat("a")])

    assert len(harness.sleeps) == 2
    assert 0.5 <= harness.sleeps[0] <= 1.0 and 1.0 <= harness.sleeps[1] <= 2.0
    [document] = harness.sink.documents()
    assert document["response"]["status_code"] == 500  # type: ignore[index]
    assert (summary.failed, summary.retries) == (1, 2)


async def test_an_unreachable_upstream_is_retried_then_written_as_an_error() -> None:
    harness = Harness(ScriptedUpstream(UpstreamUnreachable(), UpstreamUnreachable()))

    await harness.job(retry=RetryPolicy(max_attempts=2)).run([chat("a")])

    [document] = harness.sink.documents()
    assert document["response"] is None
    assert document["error"] == {
        "code": "upstream_unreachable",
        "message": "the upstream could not be reached",
    }


async def test_a_client_error_answer_is_written_at_once() -> None:
    harness = Harness(ScriptedUpstream(status(400)))

    summary = await harness.job().run([chat("a")])

    assert harness.sleeps == []
    assert harness.sink.documents()[0]["response"]["status_code"] == 400  # type: ignore[index]
    assert summary.failed == 1


@pytest.mark.parametrize("denial", [QuotaExceeded(), Unauthenticated()])
async def test_a_billing_refusal_stops_the_job_and_writes_nothing(denial: Exception) -> None:
    harness = Harness(ScriptedUpstream(), billing=MemoryBilling(deny=denial))  # type: ignore[arg-type]

    summary = await harness.job().run([chat("a"), chat("b")])

    assert harness.sink.lines == []
    assert summary.halted is not None and summary.halted.startswith(denial.kind)  # type: ignore[attr-defined]
    assert summary.not_run == 2


async def test_an_upstream_401_stops_the_job_rather_than_failing_every_line() -> None:
    harness = Harness(ScriptedUpstream(status(401), ok()))

    summary = await harness.job().run([chat("a"), chat("b")])

    assert harness.sink.lines == []
    assert summary.halted == "the upstream refused the credential (401)"
    assert len(harness.events.events) == 1


async def test_the_operator_credential_goes_in_each_providers_native_header() -> None:
    upstream = ScriptedUpstream(ok(), ok(b'{"content":[]}'), ok(b'{"candidates":[]}'))
    harness = Harness(upstream, settings=PASS_THROUGH)
    requests = [
        chat("o"),
        parse_line(
            2,
            orjson.dumps(
                {
                    "custom_id": "c",
                    "method": "POST",
                    "url": "/v1/messages",
                    "body": {"model": "claude-x", "max_tokens": 1},
                }
            ),
        ),
        parse_line(
            3,
            orjson.dumps(
                {
                    "custom_id": "g",
                    "method": "POST",
                    "url": "/v1beta/models/gemini-2.5-flash:generateContent",
                    "body": {"contents": []},
                }
            ),
        ),
    ]

    await harness.job(credential=Secret("operator-key")).run(requests)

    sent = [dict(r.headers) for r in upstream.requests]
    assert sent[0]["authorization"] == "Bearer operator-key"
    assert sent[1]["x-api-key"] == "operator-key"
    assert sent[1]["anthropic-version"] == "2023-06-01"
    assert sent[2]["x-goog-api-key"] == "operator-key"
    fingerprints = {a.caller.fingerprint for a in harness.billing.authorizations}
    assert len(fingerprints) == 1 and None not in fingerprints


async def test_a_body_the_relay_streams_is_read_whole() -> None:
    upstream = ScriptedUpstream(ScriptedResponse(body_chunks=[b'{"a":', b'"b"}']))
    small_buffer = RelaySettings(new_api=None, direct=DIRECT.direct, buffer_limit=2)
    harness = Harness(upstream, settings=small_buffer)

    await harness.job().run([chat("a")])

    assert harness.sink.documents()[0]["response"]["body"] == {"a": "b"}  # type: ignore[index]


async def test_a_response_over_the_size_limit_is_an_error_line() -> None:
    upstream = ScriptedUpstream(ScriptedResponse(body_chunks=[b"x" * 10] * 10))
    small_buffer = RelaySettings(new_api=None, direct=DIRECT.direct, buffer_limit=2)
    harness = Harness(upstream, settings=small_buffer)

    await harness.job(max_response_bytes=50).run([chat("a")])

    assert harness.sink.documents()[0]["error"]["code"] == "response_too_large"  # type: ignore[index]


class GatedUpstream:
    """Answers every request once `gate` opens; counts how many wait at once."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.waiting = 0
        self.most_waiting = 0
        self.arrived = asyncio.Event()

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        self.arrived.set()
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
        return ok()


async def test_concurrency_is_bounded() -> None:
    upstream = GatedUpstream()
    harness = Harness(upstream)
    job = harness.job(concurrency=3)
    task = asyncio.create_task(job.run([chat(str(i)) for i in range(10)]))
    await asyncio.wait_for(upstream.arrived.wait(), 2)
    await asyncio.sleep(0.01)
    upstream.gate.set()

    summary = await asyncio.wait_for(task, 2)

    assert upstream.most_waiting == 3
    assert summary.succeeded == 10


async def test_stop_cancels_requests_in_flight_and_writes_no_line_for_them() -> None:
    upstream = GatedUpstream()
    harness = Harness(upstream)
    job = harness.job(concurrency=2)
    task = asyncio.create_task(job.run([chat(str(i)) for i in range(5)]))
    await asyncio.wait_for(upstream.arrived.wait(), 2)
    await asyncio.sleep(0.01)

    job.stop()
    summary = await asyncio.wait_for(task, 2)

    assert harness.sink.lines == []
    assert summary.interrupted and summary.not_run == 5
    assert [e.outcome for e in harness.events.events] == ["client_cancelled"] * 2


async def test_progress_counts_while_running() -> None:
    harness = Harness(ScriptedUpstream(ok(), status(404)))
    progress = BatchProgress(total=2)

    await harness.job(progress).run([chat("a"), chat("b")])

    assert (progress.done, progress.succeeded, progress.failed, progress.in_flight) == (2, 1, 1, 0)
