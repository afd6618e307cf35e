"""The batch use-case on the container the server uses: same relay, billing and events."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from gateway.application.batch_input import plan_batch
from gateway.application.batch_job import BatchJob, BatchSettings
from gateway.application.batch_retry import RetryPolicy
from gateway.container import ContainerRuntime, build_container
from gateway.devtools.fake_provider import FakeProvider
from gateway.domain.route_resolver import resolve_route
from gateway.domain.secrets import Secret
from tests.conftest import LiveGateway, gateway_settings, raw_request
from tests.fakes import MemoryBilling, MemoryEventPublisher
from tests.integration.batch.flaky_upstream import FlakyUpstream
from tests.integration.batch.helpers import chat_line
from tests.unit.batch.test_batch_job import MemorySink
from tests.unit.batch.test_route_resolver import CONTRACT

pytestmark = pytest.mark.integration

LINES = [
    chat_line("o"),
    {
        "custom_id": "c",
        "method": "POST",
        "url": "/v1/messages",
        "body": {"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": []},
    },
    {
        "custom_id": "g",
        "method": "POST",
        "url": "/v1beta/models/gemini-2.5-flash:generateContent",
        "body": {"contents": [{"parts": [{"text": "hi"}]}]},
    },
]


async def test_events_usage_records_and_tokens_come_from_the_configured_adapters(
    fake_provider: FakeProvider,
) -> None:
    events, billing = MemoryEventPublisher(), MemoryBilling()
    container = build_container(gateway_settings(fake_provider.url), events=events, billing=billing)
    runtime = ContainerRuntime(container, shutdown_timeout=5)
    plan = plan_batch([orjson.dumps(line) for line in LINES], set())
    sink = MemorySink()
    await runtime.start()
    try:
        job = BatchJob(
            relay=runtime.relay_service(),
            sink=sink,
            settings=BatchSettings(concurrency=3, credential=Secret("operator-key")),
        )
        summary = await job.run(plan.requests)
    finally:
        await runtime.stop()

    assert summary.succeeded == 3
    by_provider = {e.provider.value: e for e in events.events}
    assert sorted(by_provider) == ["claude", "gemini", "openai"]
    assert by_provider["openai"].usage.total_tokens == 17
    assert by_provider["claude"].usage.total_tokens == 10 + 3 + 2 + 4
    assert by_provider["gemini"].usage.total_tokens == 10 + 3 + 4 + 2
    assert summary.tokens == sum(e.usage.total_tokens for e in events.events)
    assert set(billing.records) == {e.id for e in events.events}
    request_ids = {d["response"]["request_id"] for d in sink.documents()}  # type: ignore[index]
    assert request_ids == set(billing.records)
    assert {e.caller for e in events.events} == {by_provider["openai"].caller}
    assert all(e.route and e.stream is False for e in events.events)


async def test_every_attempt_of_a_retried_request_is_one_event(tmp_path: object) -> None:
    upstream = await FlakyUpstream(failures=1, retry_headers={"retry-after-ms": "20"}).start()
    events = MemoryEventPublisher()
    container = build_container(gateway_settings(upstream.url), events=events)
    runtime = ContainerRuntime(container, shutdown_timeout=5)
    plan = plan_batch([orjson.dumps(chat_line("r"))], set())
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    await runtime.start()
    try:
        job = BatchJob(
            relay=runtime.relay_service(),
            sink=MemorySink(),
            settings=BatchSettings(retry=RetryPolicy(max_attempts=3)),
            sleep=sleep,
        )
        await job.run(plan.requests)
    finally:
        await runtime.stop()
        await upstream.close()

    assert waits == [0.02]
    assert [(e.status, e.outcome) for e in events.events] == [(429, "upstream_error"), (200, "ok")]


async def test_the_resolver_sends_each_contract_route_where_the_server_does(
    gateway: LiveGateway, fake_provider: FakeProvider
) -> None:
    for method, path in CONTRACT:
        route, _ = resolve_route(method, path)
        body = b'{"contents": []}' if method == "POST" else b""
        before = len(fake_provider.requests)

        await raw_request(gateway.url, method, path, body)

        assert len(fake_provider.requests) == before + 1, path
        assert fake_provider.requests[-1].path == route.upstream_path, path
