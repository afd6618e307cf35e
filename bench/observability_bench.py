"""What observability costs per request: metrics, the access line, tracing on/off.

Part 1 (micro): the per-request observability work alone, in a bounded loop, in µs/request.
Part 2 (macro): a live in-process gateway relaying buffered OpenAI chat requests to the fake
provider (a subprocess), sequential over one keep-alive connection, per configuration.
Bounded: fixed request counts, each run under a time cap.

Run: PYTHONPATH=src python bench/observability_bench.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, use_span

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import gateway_settings, running_gateway
from tests.unit.observability.helpers import make_event

from gateway.adapters.events.disabled import DisabledEventPublisher
from gateway.adapters.observability.event_metrics import EventMetrics
from gateway.adapters.observability.metrics import GatewayMetrics
from gateway.adapters.observability.observability import Observability
from gateway.adapters.observability.observed_events import ObservedEventPublisher
from gateway.devtools.loopback import free_port

DEVNULL = open("/dev/null", "wb")  # noqa: SIM115 - lives as long as the bench


class DiscardingExporter(SpanExporter):
    """Spans are built and handed over (the SDK's full cost), then dropped."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _per_call_us(fn: Callable[[], None], loops: int) -> float:
    for _ in range(min(loops, 1000)):
        fn()
    started = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - started) / loops * 1e6


def _in_flight(metrics: GatewayMetrics) -> None:
    metrics.request_started()
    metrics.request_ended()


def micro(loops: int) -> list[tuple[str, float]]:
    event = make_event(stream=True, ttft_ms=80.0)
    metrics = GatewayMetrics()
    observe = EventMetrics(metrics).observe
    production = gateway_settings("http://127.0.0.1:1", server={"mode": "production"})
    Observability(production, log_stream=DEVNULL)  # JSON lines to /dev/null
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(DiscardingExporter()))
    tracer = provider.get_tracer("bench")
    quiet = ObservedEventPublisher(
        DisabledEventPublisher(), metrics=None, tracing=False, access_log=False
    )
    logged = ObservedEventPublisher(
        DisabledEventPublisher(), metrics=None, tracing=False, access_log=True
    )

    def spans() -> None:
        with use_span(tracer.start_span("POST /v1/chat/completions", kind=SpanKind.SERVER)):
            tracer.start_span("POST", kind=SpanKind.CLIENT).end()
        # use_span ends the server span on exit

    gap_observer = metrics.stream_gap_observer("openai")
    return [
        ("event wrapper, everything off", _per_call_us(lambda: quiet.publish(event), loops)),
        ("metrics from one event", _per_call_us(lambda: observe(event), loops)),
        (
            "in-flight inc+dec",
            _per_call_us(lambda: _in_flight(metrics), loops),
        ),
        ("one stream chunk gap", _per_call_us(lambda: gap_observer(0.02), loops)),
        ("access line (JSON, redacted)", _per_call_us(lambda: logged.publish(event), loops)),
        ("server+client span, sampled", _per_call_us(spans, loops)),
    ]


CONFIGS: dict[str, dict[str, Any]] = {
    "all off": {"metrics": {"enabled": False}, "logging": {"access_log": False}},
    "metrics": {"metrics": {"enabled": True}, "logging": {"access_log": False}},
    "metrics+access log": {"metrics": {"enabled": True}, "logging": {"access_log": True}},
    "+tracing rate 0": {"tracing": {"enabled": True, "sample_rate": 0.0}},
    "+tracing rate 1": {"tracing": {"enabled": True, "sample_rate": 1.0}},
}


async def _one_run(upstream: str, sections: dict[str, Any], requests: int) -> float:
    settings = gateway_settings(upstream, server={"mode": "production"}, **sections)
    observability = Observability(settings, log_stream=DEVNULL, span_exporter=DiscardingExporter())
    body = orjson.dumps({"model": "gpt-4o", "messages": []})
    async with running_gateway(settings, observability=observability) as live:
        url = live.url + "/v1/chat/completions"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # warm-up
                async with http.post(url, data=body) as r:
                    await r.read()
            started = time.perf_counter()
            async with asyncio.timeout(120):
                for _ in range(requests):
                    async with http.post(url, data=body) as r:
                        await r.read()
            return (time.perf_counter() - started) / requests * 1e6


async def macro(requests: int, rounds: int) -> list[tuple[str, float]]:
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "gateway.devtools.fake_provider", "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    try:
        await asyncio.sleep(1.5)
        upstream = f"http://127.0.0.1:{port}"
        merged: dict[str, Any] = {}
        results: dict[str, list[float]] = {name: [] for name in CONFIGS}
        for _ in range(rounds):  # interleaved rounds: drift hits every config alike
            merged = {}
            for name, sections in CONFIGS.items():
                merged = {**merged, **sections} if name.startswith("+") else dict(sections)
                results[name].append(await _one_run(upstream, merged, requests))
        return [(name, statistics.median(values)) for name, values in results.items()]
    finally:
        fake.terminate()
        fake.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loops", type=int, default=20000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'micro: per-request work':40} {'µs':>8}")
    for name, us in micro(args.loops):
        print(f"{name:40} {us:8.2f}")
    print(f"\n{'macro: relayed buffered chat (sequential)':40} {'µs/req':>8} {'vs off':>8}")
    rows = asyncio.run(macro(args.requests, args.rounds))
    base = rows[0][1]
    for name, us in rows:
        print(f"{name:40} {us:8.1f} {us / base:8.3f}")


if __name__ == "__main__":
    main()
