"""A live gateway with the NATS publisher: one event per request, none lost, none doubled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from gateway.adapters.events.config import NatsPublisherConfig
from gateway.adapters.events.nats_publisher import NatsJetStreamPublisher
from gateway.devtools.fake_provider import FakeProvider
from gateway.devtools.loopback import NatsServer
from gateway.domain.events import RequestLogEvent
from tests.conftest import gateway_settings, running_gateway
from tests.fakes import MemoryEventPublisher
from tests.integration.events.conftest import StreamReader

pytestmark = pytest.mark.integration

# (provider, path, body, headers) for a JSON and a streamed request of each provider.
REQUESTS: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
    ("claude", "/v1/messages", {"model": "c", "max_tokens": 8, "messages": []}, {"x-api-key": "k"}),
    (
        "claude",
        "/v1/messages",
        {"model": "c", "max_tokens": 8, "messages": [], "stream": True},
        {"x-api-key": "k"},
    ),
    (
        "openai",
        "/v1/chat/completions",
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        {"authorization": "Bearer k"},
    ),
    (
        "openai",
        "/v1/chat/completions",
        {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        {"authorization": "Bearer k"},
    ),
    (
        "gemini",
        "/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": []},
        {"x-goog-api-key": "k"},
    ),
    (
        "gemini",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        {"contents": []},
        {"x-goog-api-key": "k"},
    ),
]


class Tee:
    """Hands each event to the publisher under test and keeps a copy, to compare with the stream."""

    def __init__(self, publisher: NatsJetStreamPublisher) -> None:
        self.publisher = publisher
        self.memory = MemoryEventPublisher()

    def publish(self, event: RequestLogEvent) -> None:
        self.memory.publish(event)
        self.publisher.publish(event)


@asynccontextmanager
async def gateway_with_nats(
    fake_provider: FakeProvider, config: NatsPublisherConfig
) -> AsyncIterator[tuple[str, Tee]]:
    publisher = NatsJetStreamPublisher(config)
    await publisher.start()
    tee = Tee(publisher)
    try:
        async with running_gateway(gateway_settings(fake_provider.url), events=tee) as gw:
            yield gw.url, tee
    finally:
        await publisher.close()


async def send(http: aiohttp.ClientSession, url: str, index: int) -> None:
    _, path, body, headers = REQUESTS[index % len(REQUESTS)]
    async with http.post(url + path, json=body, headers=headers) as response:
        assert response.status == 200
        await response.read()


async def send_many(url: str, count: int, concurrency: int = 16) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with limit:
            await send(http, url, index)

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(one(i) for i in range(count)))


async def test_every_request_gives_exactly_one_event_with_its_fields(
    fake_provider: FakeProvider, publisher_config: NatsPublisherConfig, stream: StreamReader
) -> None:
    async with gateway_with_nats(fake_provider, publisher_config) as (url, tee):
        async with aiohttp.ClientSession() as http:
            for index in range(len(REQUESTS)):
                await send(http, url, index)
        await tee.memory.wait_for(len(REQUESTS))
        stored = await stream.wait_for_count(len(REQUESTS))
    assert len(stored) == len(REQUESTS)
    by_id = {e["id"]: e for e in stored}
    for index, (event, request) in enumerate(zip(tee.memory.events, REQUESTS, strict=True)):
        assert by_id[event.id] == event.to_dict()
        assert event.provider.value == request[0]
        assert event.stream == (index % 2 == 1)  # REQUESTS alternate JSON and streamed
        assert event.status == 200 and event.outcome == "ok"
        assert event.usage.total_tokens > 0
    messages = await stream.messages()
    subjects = {m[2]["id"]: m[0] for m in messages}
    for event in tee.memory.events:
        assert subjects[event.id] == f"{publisher_config.subject_prefix}.{event.provider.value}"


async def test_nats_down_during_a_run_then_back_gives_exactly_n_events(
    fake_provider: FakeProvider,
    nats_server: NatsServer,
    publisher_config: NatsPublisherConfig,
    stream: StreamReader,
) -> None:
    nats_server.stop()
    n = 120
    async with gateway_with_nats(fake_provider, publisher_config) as (url, tee):
        await send_many(url, n)
        await tee.memory.wait_for(n)
        assert tee.publisher.state == "spooling"
        nats_server.start()
        stored = await stream.wait_for_count(n)
    assert len(stored) == n
    assert sorted(e["id"] for e in stored) == sorted(e.id for e in tee.memory.events)


async def test_nats_killed_in_the_middle_of_a_burst_gives_exactly_n_events(
    fake_provider: FakeProvider,
    nats_server: NatsServer,
    publisher_config: NatsPublisherConfig,
    stream: StreamReader,
) -> None:
    n = 600

    async def kill_and_restart(tee: Tee) -> None:
        while tee.publisher.published < 100:  # bounded by the burst's own duration
            await asyncio.sleep(0.005)
        nats_server.stop(kill=True)
        # Longer than a publish may wait for its ack: a shorter outage can pass unfelt, the
        # batches in flight buffered by nats-py and flushed on reconnect within their timeout.
        await asyncio.sleep(publisher_config.publish_timeout + 0.5)
        nats_server.start()

    async with gateway_with_nats(fake_provider, publisher_config) as (url, tee):
        chaos = asyncio.create_task(kill_and_restart(tee))
        await send_many(url, n)
        await asyncio.wait_for(chaos, 10)
        await tee.memory.wait_for(n)
        stored = await stream.wait_for_count(n)
        assert tee.publisher.spooled > 0 or tee.publisher.counters.failed_publishes > 0
    ids = [e["id"] for e in stored]
    assert len(ids) == n and len(set(ids)) == n
    assert set(ids) == {e.id for e in tee.memory.events}
