"""Redaction, the JSON access line and the GenAI span attributes of a request-log event."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import use_span

from gateway.adapters.observability.logging_setup import (
    JsonAccessLine,
    UtcTimestamps,
    access_line,
    configure_logging,
)
from gateway.adapters.observability.observed_events import ObservedEventPublisher
from gateway.adapters.observability.redaction import Redactor
from tests.fakes import MemoryEventPublisher
from tests.unit.observability.helpers import make_event
from tests.waiting import wait_until

CONFIGURED = "upstream-configured-key-123"


def test_redactor_masks_keys_configured_secrets_and_key_shapes() -> None:
    redact = Redactor([CONFIGURED, "short"])
    line = redact(
        None,
        "info",
        {
            "event": "x",
            "authorization": "Bearer abc",
            "headers": {"x-api-key": "anything", "accept": "json"},
            "note": f"called with {CONFIGURED} and sk-ant-api03-abcdefghijkl",
            "url": "/v1beta/models/m:generateContent?key=AIzaSyA1234567890abcdefghijk",
            "auth": "bearer eyJhbGciOiJIUzI1NiJ9.payload",
            "words": "a short text stays",
            "status": 200,
        },
    )
    text = repr(line)
    assert CONFIGURED not in text and "sk-ant" not in text and "AIza" not in text
    assert "eyJ" not in text and "anything" not in text and "Bearer abc" not in text
    assert line["words"] == "a short text stays" and line["status"] == 200
    assert line["headers"]["accept"] == "json"


def _configure(stream: io.BytesIO) -> None:
    configure_logging(json_lines=True, level="info", secrets=[CONFIGURED], stream=stream)


def test_json_lines_with_bound_request_id_and_redacted_stdlib_lines() -> None:
    out = io.BytesIO()
    _configure(out)
    try:
        structlog.contextvars.bind_contextvars(request_id="rid-1")
        structlog.get_logger("t").info("hello", detail=f"key {CONFIGURED}")
        logging.getLogger("sanic.error").error("stdlib says %s", CONFIGURED)
    finally:
        structlog.contextvars.clear_contextvars()
        configure_logging(json_lines=False, stdlib=False)
        logging.getLogger().handlers.clear()
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["event"] == "hello" and lines[0]["request_id"] == "rid-1"
    assert lines[0]["level"] == "info" and "timestamp" in lines[0]
    assert lines[1]["logger"] == "sanic.error" and lines[1]["request_id"] == "rid-1"
    assert CONFIGURED not in out.getvalue().decode()


def test_observed_event_writes_access_line_span_attributes_and_forwards() -> None:
    out = io.BytesIO()
    _configure(out)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    inner = MemoryEventPublisher()
    publisher = ObservedEventPublisher(inner, metrics=None, tracing=True, access_log=True)
    event = make_event(stream=True, ttft_ms=80.0)
    with use_span(provider.get_tracer("t").start_span("server"), end_on_exit=True):
        publisher.publish(event)
    configure_logging(json_lines=False, stdlib=False)
    assert inner.events == [event]
    access = orjson.loads(out.getvalue().splitlines()[0])
    assert access["event"] == "access" and access["outcome"] == "ok"
    assert access["overhead_ms"] == 20.0 and access["input_tokens"] == 10
    attributes = exporter.get_finished_spans()[0].attributes or {}
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "gpt-4o"
    assert attributes["gen_ai.usage.input_tokens"] == 13  # cache reads included
    assert attributes["gen_ai.usage.output_tokens"] == 4
    assert attributes["gen_ai.response.id"] == "req_up_1"


def _access_line_of(level: str, model: str) -> bytes:
    out = io.BytesIO()
    configure_logging(json_lines=True, level=level, secrets=[CONFIGURED], stream=out, stdlib=False)
    try:
        publisher = ObservedEventPublisher(
            MemoryEventPublisher(), metrics=None, tracing=False, access_log=True
        )
        publisher.publish(make_event(model=model))
    finally:
        configure_logging(json_lines=False, stdlib=False)
    return out.getvalue()


def test_json_access_line_has_structlogs_shape_and_redaction() -> None:
    written = _access_line_of("info", f"gpt-4o {CONFIGURED}")
    assert written.endswith(b"\n") and written.count(b"\n") == 1
    line = orjson.loads(written)
    keys = list(line)
    assert keys[-4:] == ["event", "request_id", "level", "timestamp"]
    assert line["event"] == "access" and line["request_id"] == "req1" and line["level"] == "info"
    assert line["timestamp"].endswith("Z") and "+00:00" not in line["timestamp"]
    assert line["model"] == "gpt-4o ***" and CONFIGURED not in written.decode()


def test_access_line_follows_the_log_level() -> None:
    assert _access_line_of("warning", "gpt-4o") == b""


def test_access_line_redacts_every_field_that_can_hold_text() -> None:
    """Its fast path skips numbers and the gateway's own fields, nothing else."""
    out = io.BytesIO()
    line = JsonAccessLine(out, Redactor([CONFIGURED]))
    for _ in range(2):  # the second time, the model's scrubbed form comes from memory
        line(
            {
                "model": f"m {CONFIGURED}",
                "note": "sk-ant-api03-abcdefghijkl",
                "token": "anything",
                "extra": {"x-api-key": "k", "list": [CONFIGURED]},
                "status": 200,
                "latency_ms": 1.5,
                "stream": True,
                "ttft_ms": None,
            },
            "req1",
        )
    lines = [orjson.loads(raw) for raw in out.getvalue().splitlines()]
    assert len(lines) == 2 and lines[0] == lines[1] | {"timestamp": lines[0]["timestamp"]}
    first = lines[0]
    assert first["model"] == "m ***" and first["note"] == "***" and first["token"] == "***"
    assert first["extra"] == {"x-api-key": "***", "list": ["***"]}
    assert first["status"] == 200 and first["latency_ms"] == 1.5 and first["ttft_ms"] is None
    assert CONFIGURED not in out.getvalue().decode()


def test_redactor_memory_of_short_texts_is_bounded() -> None:
    redact = Redactor([CONFIGURED])
    for i in range(3000):
        assert redact.scrub_short(f"model-{i}") == f"model-{i}"
    assert redact.scrub_short(f"x{CONFIGURED}") == "x***"
    assert len(redact._cache) <= 1024


def test_timestamps_are_rfc3339_utc_with_microseconds() -> None:
    stamps = UtcTimestamps()
    for turn in range(2):  # the second turn is in the next second: the cached date moves on
        before = datetime.now(UTC)
        stamp = stamps()
        after = datetime.now(UTC)
        assert len(stamp) == len("2026-11-26T19:00:00.123456Z") and stamp.endswith("Z")
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        assert before - timedelta(microseconds=1) <= parsed <= after
        if turn == 0:
            time.sleep(1.01 - after.microsecond / 1e6)


class _RecordingRaw(io.RawIOBase):
    """A raw stream that keeps each write it receives (each would be one system call)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        chunk = bytes(data)
        self.writes.append(chunk)
        return len(chunk)


async def test_access_lines_within_the_flush_window_leave_in_one_write_at_its_end() -> None:
    raw = _RecordingRaw()
    # A window wide enough that a stalled test host cannot end it before the first check.
    line = JsonAccessLine(io.BufferedWriter(raw), Redactor(), flush_within=0.3)
    line({"status": 200}, "req1")
    await asyncio.sleep(0)  # another loop turn, inside the window
    line({"status": 201}, "req2")
    await asyncio.sleep(0.01)
    assert raw.writes == []  # held until the window ends
    await wait_until(lambda: bool(raw.writes))  # the window's end writes them, no close needed
    assert len(raw.writes) == 1 and raw.writes[0].count(b"\n") == 2
    line({"status": 202}, "req3")
    await wait_until(lambda: len(raw.writes) == 2)
    assert b'"req3"' in raw.writes[1]


async def test_a_line_logged_meanwhile_flushes_the_waiting_access_lines_first() -> None:
    raw = _RecordingRaw()
    configure_logging(json_lines=True, level="info", stream=io.BufferedWriter(raw), stdlib=False)
    try:
        access_line()({"status": 200}, "req1")
        structlog.get_logger("t").info("other")
    finally:
        configure_logging(json_lines=False, stdlib=False)
    assert len(raw.writes) == 1  # the other line did not wait for the access line's window
    assert raw.writes[0].index(b'"req1"') < raw.writes[0].index(b'"other"')


async def test_a_stdlib_line_logged_meanwhile_writes_the_waiting_access_lines_first() -> None:
    raw = _RecordingRaw()
    out = io.BufferedWriter(raw)
    configure_logging(json_lines=True, level="info", stream=out)
    try:
        access_line()({"status": 200}, "req1")
        logging.getLogger("sanic.error").warning("stdlib line")
        written = b"".join(raw.writes)
    finally:
        configure_logging(json_lines=False, stdlib=False)
        logging.getLogger().handlers.clear()
    assert written.index(b'"req1"') < written.index(b"stdlib line")


async def test_an_access_line_carries_the_time_it_was_made_not_written() -> None:
    raw = _RecordingRaw()
    line = JsonAccessLine(io.BufferedWriter(raw), Redactor(), flush_within=0.3)
    before = datetime.now(UTC)
    line({"status": 200}, "req1")
    after = datetime.now(UTC)
    await asyncio.sleep(0.4)
    stamp = orjson.loads(raw.writes[0])["timestamp"]
    made = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert before - timedelta(microseconds=1) <= made <= after


async def test_a_stream_closed_before_the_window_ends_is_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = io.BufferedWriter(_RecordingRaw())
    JsonAccessLine(out, Redactor(), flush_within=0.01)({"status": 200}, "req1")
    out.close()
    await asyncio.sleep(0.05)  # the window's flush runs on a closed stream
    assert "Exception in callback" not in caplog.text


def test_an_access_line_without_a_loop_is_written_at_once() -> None:
    raw = _RecordingRaw()
    JsonAccessLine(io.BufferedWriter(raw), Redactor())({"status": 200}, "req1")
    assert len(raw.writes) == 1
