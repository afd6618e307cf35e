"""A live gateway whose observability writes to memory: spans, JSON log lines, metrics."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.adapters.observability.logging_setup import configure_logging
from gateway.adapters.observability.observability import Observability
from gateway.devtools.fake_provider import FakeProvider
from tests.conftest import LiveGateway, gateway_settings, running_gateway


@dataclass
class Observed:
    live: LiveGateway
    spans: InMemorySpanExporter
    logs: io.BytesIO
    observability: Observability

    def log_lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.logs.getvalue().splitlines()]


ObservedGateway = Callable[..., AbstractAsyncContextManager[Observed]]


@pytest.fixture
def observed_gateway(fake_provider: FakeProvider) -> ObservedGateway:
    @asynccontextmanager
    async def start(
        upstream: str | None = None,
        stall_threshold: float = 30.0,
        overrides: dict[str, Any] | None = None,
        **sections: Any,
    ) -> AsyncIterator[Observed]:
        sections.setdefault("tracing", {"enabled": True, "sample_rate": 1.0})
        sections.setdefault("server", {"mode": "production"})
        settings = gateway_settings(upstream or fake_provider.url, **sections)
        spans, logs = InMemorySpanExporter(), io.BytesIO()
        observability = Observability(
            settings, span_exporter=spans, log_stream=logs, stall_threshold=stall_threshold
        )
        try:
            async with running_gateway(
                settings, observability=observability, **(overrides or {})
            ) as live:
                yield Observed(live, spans, logs, observability)
        finally:
            # Back to quiet defaults: the next test must not write into this BytesIO.
            configure_logging(json_lines=False, stdlib=False)
            root = logging.getLogger()
            for handler in list(root.handlers):
                if type(handler).__name__ == "_OurHandler":
                    root.removeHandler(handler)

    return start
