"""Benchmark of the NATS JetStream event publisher against a real nats-server.

Run: PYTHONPATH=src python bench/events_bench.py [events]

Prints:
1. sustained events/s from publish() to JetStream acks, for several in-flight batch sizes;
2. the hot-path cost of publish() in µs per call: NATS up, NATS down (spooling), queue full
   (straight to the spool buffer);
3. request latency through a live gateway (fake upstream, loopback) with the publisher
   disabled, NATS up and NATS down: the request path must not notice the outage.
All loops are bounded; the nats-server runs on a free loopback port with a temp store.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sanic import Sanic

from gateway.adapters.events.config import NatsPublisherConfig
from gateway.adapters.events.managed import ManagedDisabledPublisher, ManagedEventPublisher
from gateway.adapters.events.nats_publisher import NatsJetStreamPublisher
from gateway.container import ContainerRuntime, build_container
from gateway.devtools.fake_provider import start_fake_provider
from gateway.devtools.loopback import NatsServer, serving
from gateway.domain.events import RequestLogEvent
from gateway.domain.outcome import Outcome
from gateway.domain.provider import Provider
from gateway.entrypoints.http.app import create_app
from gateway.settings import parse_settings

Sanic.test_mode = True  # several apps in one process, as in the tests


def event(i: int) -> RequestLogEvent:
    return RequestLogEvent(
        id=str(uuid.uuid4()), ts=datetime.now(UTC), provider=list(Provider)[i % 3],
        operation="chat_completions", route="/v1/chat/completions", method="POST",
        model="gpt-4o", stream=True, status=200, outcome=Outcome.OK, latency_ms=12.5,
        ttft_ms=3.1, caller="fp_0123456789abcdef", upstream="direct",
        upstream_request_id="req_0123456789", client_ip="127.0.0.1", user_agent="bench/1.0",
        bytes_in=420, bytes_out=2310,
    )  # fmt: skip


def config(nats: NatsServer, tmp: Path, name: str, **changes: object) -> NatsPublisherConfig:
    base = NatsPublisherConfig(
        url=nats.url, stream=f"BENCH_{name}",
        subject_prefix=f"bench.{name.lower()}", duplicate_window=120.0, max_age=3600.0,
        max_bytes=2**30, queue_size=10000, spool_dir=tmp / f"spool-{name}",
        spool_max_bytes=2**30, connect_timeout=0.5, publish_timeout=5.0,
    )  # fmt: skip
    return replace(base, **changes)  # type: ignore[arg-type]


async def sustained(nats: NatsServer, tmp: Path, in_flight: int, total: int) -> float:
    publisher = NatsJetStreamPublisher(config(nats, tmp, f"T{in_flight}", max_in_flight=in_flight))
    await publisher.start()
    events = [event(i) for i in range(total)]
    began = time.perf_counter()
    sent = 0
    deadline = began + 60
    while publisher.published < total and time.perf_counter() < deadline:
        while sent < total and publisher.queue_depth < 5000:  # keep the queue fed, never full
            publisher.publish(events[sent])
            sent += 1
        await asyncio.sleep(0.001)
    elapsed = time.perf_counter() - began
    assert publisher.published == total and publisher.spooled == 0, publisher.counters
    await publisher.close()
    return total / elapsed


async def hot_path_cost(publisher: NatsJetStreamPublisher, calls: int) -> float:
    events = [event(i) for i in range(calls)]
    best = float("inf")
    for chunk in range(5):  # best of 5 rounds of `calls / 5` back-to-back calls
        part = events[chunk::5]
        began = time.perf_counter_ns()
        for e in part:
            publisher.publish(e)
        best = min(best, (time.perf_counter_ns() - began) / len(part) / 1000)
        await asyncio.sleep(0.3)  # let the pump take them
    return best


async def hot_paths(nats: NatsServer, tmp: Path) -> dict[str, float]:
    up = NatsJetStreamPublisher(config(nats, tmp, "UP"))
    await up.start()
    costs = {"NATS up (queue)": await hot_path_cost(up, 5000)}
    await up.close()
    nats.stop()
    down = NatsJetStreamPublisher(config(nats, tmp, "DOWN"))
    await down.start()
    costs["NATS down (queue, pump spools)"] = await hot_path_cost(down, 5000)
    await down.close()
    full = NatsJetStreamPublisher(config(nats, tmp, "FULL", queue_size=1))
    await full.start()
    costs["queue full (spool buffer)"] = await hot_path_cost(full, 5000)
    await full.close()
    nats.start()
    return costs


async def request_latencies(
    upstream: str, events: ManagedEventPublisher, requests: int
) -> tuple[float, float]:
    settings = parse_settings(
        {
            "server": {"mode": "development", "http": {"addr": "127.0.0.1:0"}},
            "features": {"new_api_enabled": False, "async_logging": False},
            "upstreams": {p: {"base_url": upstream} for p in ("claude", "openai", "gemini")},
        },
        env={},
    )
    await events.start()
    container = build_container(settings, events=events)
    app = create_app(settings, ContainerRuntime(container, shutdown_timeout=5))
    body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    samples: list[float] = []
    async with serving(app) as url, aiohttp.ClientSession() as http:
        for i in range(requests + 50):
            began = time.perf_counter()
            async with http.post(
                f"{url}/v1/chat/completions",
                json=body,
                headers={"authorization": "Bearer k"},
            ) as r:
                await r.read()
            if i >= 50:  # warm-up excluded
                samples.append((time.perf_counter() - began) * 1000)
    await events.close()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


async def main(total: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        nats = NatsServer(tmp / "js")
        nats.start()
        try:
            print(f"sustained publish -> JetStream ack ({total} events, 1 publisher, 1 core)")
            print(f"{'in flight':>10} {'events/s':>10}")
            for in_flight in (64, 256, 512, 1024):
                rate = await sustained(nats, tmp, in_flight, total)
                print(f"{in_flight:>10} {rate:>10.0f}")
            print("\nhot path: publish() per call (best of 5 x 1000 calls)")
            for name, cost in (await hot_paths(nats, tmp)).items():
                print(f"{name:>32} {cost:>6.2f} µs")
            print("\nrequest latency through the gateway (500 sequential streamed chats)")
            print(f"{'events':>10} {'p50 ms':>8} {'p99 ms':>8}")
            fake = await start_fake_provider()
            try:
                runs: list[tuple[str, ManagedEventPublisher]] = [
                    ("disabled", ManagedDisabledPublisher()),
                    ("NATS up", NatsJetStreamPublisher(config(nats, tmp, "GW_UP"))),
                ]
                for name, publisher in runs:
                    p50, p99 = await request_latencies(fake.url, publisher, 500)
                    print(f"{name:>10} {p50:>8.2f} {p99:>8.2f}")
                nats.stop()
                down = NatsJetStreamPublisher(config(nats, tmp, "GW_DOWN"))
                p50, p99 = await request_latencies(fake.url, down, 500)
                print(f"{'NATS down':>10} {p50:>8.2f} {p99:>8.2f}")
            finally:
                await fake.close()
        finally:
            nats.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000))
