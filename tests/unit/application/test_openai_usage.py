"""Asking OpenAI streams for usage on the client's behalf, and hiding what was added."""

from __future__ import annotations

import orjson
import pytest

from gateway.application.openai_usage_filter import OpenAIUsageChunkFilter
from gateway.application.request_intent import with_include_usage

STREAM = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}\n\n'
    b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
    b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":10}}\n\n'
    b"data: [DONE]\n\n"
)
EXPECTED = (
    b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


# Event ends as OpenAI sends them (LF) and the other SSE framings.
FRAMINGS = {"lf": b"\n\n", "crlf": b"\r\n\r\n", "cr": b"\r\r"}


@pytest.mark.parametrize("framing", FRAMINGS)
@pytest.mark.parametrize("size", [1, 2, 7, 64, len(STREAM)])
def test_filter_gives_the_stream_the_client_asked_for_whatever_the_chunking(
    size: int, framing: str
) -> None:
    stream = STREAM.replace(b"\n\n", FRAMINGS[framing])
    stream_filter = OpenAIUsageChunkFilter()
    out = b"".join(stream_filter.feed(stream[i : i + size]) for i in range(0, len(stream), size))
    assert out + stream_filter.flush() == EXPECTED.replace(b"\n\n", FRAMINGS[framing])


@pytest.mark.parametrize("framing", FRAMINGS)
def test_filter_passes_one_event_per_chunk_at_once(framing: str) -> None:
    # The usual chunking: each event comes whole, and leaves filtered, without waiting.
    end = FRAMINGS[framing]
    events = [event + end for event in STREAM.split(b"\n\n") if event]
    expected = [event + end for event in EXPECTED.split(b"\n\n") if event]
    stream_filter = OpenAIUsageChunkFilter()
    out = [stream_filter.feed(event) for event in events]
    assert [piece for piece in out if piece] == expected
    assert stream_filter.flush() == b""


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_stray_blank_lines_keep_the_events_whatever_the_chunking(size: int) -> None:
    # A blank line too many after each event: the bytes between events may differ (the blank
    # line after a removed event stays), the events the client parses may not.
    stream = STREAM.replace(b"\n\n", b"\n\n\n")
    stream_filter = OpenAIUsageChunkFilter()
    out = b"".join(stream_filter.feed(stream[i : i + size]) for i in range(0, len(stream), size))
    out += stream_filter.flush()
    events = [event.strip(b"\n") for event in out.split(b"\n\n") if event.strip(b"\n")]
    assert events == [event for event in EXPECTED.split(b"\n\n") if event]


def test_filter_leaves_text_that_mentions_usage_alone() -> None:
    event = b'data: {"choices":[{"delta":{"content":"the \\"usage\\":null field"}}]}\n\n'
    assert OpenAIUsageChunkFilter().feed(event) == event


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"model":"m","stream":true}', {"include_usage": True}),
        (b'  {"model":"m"}', {"include_usage": True}),
        (
            b'{"model":"m","stream_options":{"include_obfuscation":false}}',
            {"include_obfuscation": False, "include_usage": True},
        ),
        (b'{"model":"m","stream_options":{"include_usage":false}}', {"include_usage": True}),
        (b'{"model":"m","stream_options":null}', {"include_usage": True}),
    ],
)
def test_include_usage_is_added_exactly_once(body: bytes, expected: dict[str, bool]) -> None:
    amended = with_include_usage(body, orjson.loads(body))
    assert amended is not None
    document = orjson.loads(amended)
    assert document["stream_options"] == expected and document["model"] == "m"


def test_a_client_that_asked_already_keeps_its_body() -> None:
    body = b'{"stream_options":{"include_usage":true}}'
    assert with_include_usage(body, orjson.loads(body)) is None


def test_empty_object_gets_a_valid_body() -> None:
    amended = with_include_usage(b"{}", {})
    assert amended is not None and orjson.loads(amended) == {
        "stream_options": {"include_usage": True}
    }
