"""Use the gateway's relay use-case from a plain asyncio script: no server, no HTTP hop.

The container is the one the server builds, with this script's own event publisher: every
request below is relayed to the configured upstream, authorized and recorded by the configured
billing, and logged as one request-log event in a JSON-lines file.

    python examples/relay_from_script.py                      # against configs/config.yaml
    python examples/relay_from_script.py -conf my.yaml
    python examples/relay_from_script.py --fake-provider      # self-contained, offline

GATEWAY_API_KEY, when set, is the caller's key (billing identity; the upstream key when the
gateway passes the caller's credential through).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from pathlib import Path

import orjson

from gateway.adapters.events.jsonl_publisher import JsonlEventPublisher
from gateway.application.batch_input import plan_batch
from gateway.application.batch_job import BatchJob, BatchSettings
from gateway.application.relay import RelayService
from gateway.application.relay_command import RelayCommand
from gateway.container import ContainerRuntime, build_container
from gateway.devtools.fake_provider import start_fake_provider
from gateway.domain.route_resolver import resolve_route
from gateway.domain.secrets import Secret
from gateway.settings import Settings, load_settings, parse_settings


async def one_request(relay: RelayService, key: str) -> None:
    """The relay use-case by hand: open, read, and always finish exactly once."""
    route, route_name = resolve_route("POST", "/v1/chat/completions")
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}
    command = RelayCommand(
        route=route,
        route_name=route_name,
        method="POST",
        query="",
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
        body=orjson.dumps(body),
        request_id=uuid.uuid4().hex,
    )
    exchange = await relay.open(command)  # raises GatewayError when there is no response
    try:
        if exchange.streaming:
            answer = b"".join([chunk async for chunk in exchange])
        else:
            answer = await exchange.read_body()
    except BaseException as exc:
        exchange.finish(exc)
        raise
    exchange.finish()
    print(f"{exchange.status} {answer[:120]!r}")
    print(f"usage: {exchange.trace.report.usage}")


class PrintSink:
    """Where a BatchJob writes its result lines: here, the terminal."""

    def write(self, line: bytes) -> None:
        print(line.decode().rstrip()[:160])


async def a_small_batch(relay: RelayService, key: str) -> None:
    """The batch use-case: OpenAI Batch lines in, result lines out, retries included."""
    lines = [
        {
            "custom_id": "claude-1",
            "method": "POST",
            "url": "/v1/messages",
            "body": {
                "model": "claude-sonnet-4-5",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": "Hi"}],
            },
        },
        {
            "custom_id": "gemini-1",
            "method": "POST",
            "url": "/v1beta/models/gemini-2.5-flash:generateContent",
            "body": {"contents": [{"parts": [{"text": "Hi"}]}]},
        },
    ]
    plan = plan_batch([orjson.dumps(line) for line in lines], set())
    settings = BatchSettings(concurrency=4, credential=Secret(key) if key else None)
    summary = await BatchJob(relay=relay, sink=PrintSink(), settings=settings).run(plan.requests)
    print(f"batch: {summary.succeeded} succeeded, {summary.failed} failed, {summary.tokens} tokens")


async def run(settings: Settings, events_path: Path) -> None:
    key = os.environ.get("GATEWAY_API_KEY", "")
    events = JsonlEventPublisher(events_path)
    await events.start()
    runtime = ContainerRuntime(build_container(settings, events=events))
    await runtime.start()
    try:
        relay = runtime.relay_service()
        await one_request(relay, key)
        await a_small_batch(relay, key)
    finally:
        await runtime.stop()  # waits for pending usage records
        await events.close()  # writes the last events
    print(f"events in {events_path}")


def fake_settings(url: str) -> Settings:
    upstreams = {p: {"base_url": url, "api_key": "fake"} for p in ("claude", "openai", "gemini")}
    return parse_settings({"features": {"new_api_enabled": False}, "upstreams": upstreams}, env={})


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-conf", "--conf", default="configs/config.yaml")
    parser.add_argument("--fake-provider", action="store_true", help="run offline")
    parser.add_argument("--events", default="data/example-events.jsonl")
    args = parser.parse_args()
    if not args.fake_provider:
        await run(load_settings(args.conf), Path(args.events))
        return
    async with await start_fake_provider() as fake:
        await run(fake_settings(fake.url), Path(args.events))


if __name__ == "__main__":
    asyncio.run(main())
