from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

import pytest

from gateway.domain.provider import Operation, Provider
from gateway.domain.usage import Usage
from gateway.domain.usage_readers import BodyFraming, UsageReader, UsageReport, usage_reader_for
from gateway.domain.usage_readers.base import StreamError

ReadEveryWay = Callable[[Callable[[], UsageReader], bytes], UsageReport]
Read = Callable[[Callable[[], UsageReader], Iterable[bytes]], UsageReport]

sse_reader = partial(usage_reader_for, Provider.CLAUDE, Operation.MESSAGES, BodyFraming.SSE)
json_reader = partial(usage_reader_for, Provider.CLAUDE, Operation.MESSAGES, BodyFraming.JSON)
batch_reader = partial(
    usage_reader_for, Provider.CLAUDE, Operation.BATCH_RESULTS, BodyFraming.JSONL
)

STREAM_USAGE = Usage(
    input_tokens=2095,
    cache_write_tokens=1200,  # from message_start: message_delta restated it as null
    cache_read_tokens=8000,
    output_tokens=89,  # message_delta's cumulative count replaces message_start's 3
    reasoning_tokens=41,
)
# thinking 23 + "Café \"quoted\"\n" 15 + "{braces} [and] \\ backé" 23 + partial_json 0 + 13 + 4;
# the signature delta is not text.
STREAM_TEXT_BYTES = 78


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_stream_usage_text_and_status(
    ending: bytes,
    read_every_way: ReadEveryWay,
    fixture_bytes: Callable[[str], bytes],
    line_endings: Callable[[bytes, bytes], bytes],
) -> None:
    body = line_endings(fixture_bytes("claude_messages_stream.txt"), ending)
    report = read_every_way(sse_reader, body)
    assert report == UsageReport(
        usage=STREAM_USAGE,
        final=True,
        terminal_status="tool_use",
        output_text_bytes=STREAM_TEXT_BYTES,
        response_id="msg_01Lw7Wq9Qb4kBAaDqJ2KgN3s",
        response_model="claude-sonnet-4-5-20250929",
    )
    assert report.usage.total_tokens == 2095 + 1200 + 8000 + 89


def test_stream_cut_before_message_delta_reports_what_was_seen(
    read_every_way: ReadEveryWay, fixture_bytes: Callable[[str], bytes]
) -> None:
    body = fixture_bytes("claude_messages_stream.txt")
    cut = body[: body.index(b"event: message_delta")]
    report = read_every_way(sse_reader, cut)
    assert report.final is False
    assert report.terminal_status is None
    assert report.usage == Usage(
        input_tokens=2095, cache_write_tokens=1200, cache_read_tokens=8000, output_tokens=3
    )
    assert report.output_text_bytes == STREAM_TEXT_BYTES


def test_stream_cut_inside_message_delta_is_not_final(
    fixture_bytes: Callable[[str], bytes], read: Read
) -> None:
    body = fixture_bytes("claude_messages_stream.txt")
    cut = body[: body.index(b'"output_tokens":89')]
    assert read(sse_reader, [cut]).final is False


def test_a_last_event_without_its_blank_line_still_counts(
    fixture_bytes: Callable[[str], bytes], read: Read
) -> None:
    body = fixture_bytes("claude_messages_stream.txt")
    cut = body[: body.index(b"event: message_stop")].rstrip(b"\n")
    report = read(sse_reader, [cut])
    assert report.final is True
    assert report.usage == STREAM_USAGE


def test_message_delta_overwrites_counts_it_restates_and_never_adds(
    read_every_way: ReadEveryWay,
) -> None:
    body = (
        b"event: message_start\n"
        b'data: {"type":"message_start","message":{"id":"msg_1","model":"m","usage":'
        b'{"input_tokens":10,"cache_read_input_tokens":null,"output_tokens":1}}}\n\n'
        b"event: message_delta\n"
        b'data: {"type":"message_delta","delta":{"stop_reason":null},'
        b'"usage":{"output_tokens":5}}\n\n'
        b"event: message_delta\n"
        b'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":'
        b'{"input_tokens":12,"cache_read_input_tokens":7,"cache_creation_input_tokens":null,'
        b'"output_tokens":9}}\n\n'
    )
    report = read_every_way(sse_reader, body)
    assert report.usage == Usage(input_tokens=12, cache_read_tokens=7, output_tokens=9)
    assert report.final is True
    assert report.terminal_status == "end_turn"


def test_error_event_in_a_200_stream_keeps_the_usage_seen(read_every_way: ReadEveryWay) -> None:
    body = (
        b"event: message_start\n"
        b'data: {"type":"message_start","message":{"id":"msg_2","model":"m","usage":'
        b'{"input_tokens":25,"output_tokens":1}}}\n\n'
        b"event: content_block_delta\n"
        b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}'
        b"\n\n"
        b"event: error\n"
        b'data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}'
        b"\n\n"
    )
    report = read_every_way(sse_reader, body)
    assert report.stream_error == StreamError(type="overloaded_error", message="Overloaded")
    assert report.usage == Usage(input_tokens=25, output_tokens=1)
    assert report.final is False
    assert report.output_text_bytes == 3


def test_events_without_event_lines_are_told_apart_by_their_type(read: Read) -> None:
    body = (
        b'data: {"type":"message_start","message":{"usage":{"input_tokens":4,"output_tokens":1}}}'
        b"\n\n"
        b'data: {"index":0,"type":"content_block_delta","delta":{"type":"text_delta","text":"ab"}}'
        b"\n\n"
        b'data: {"type":"message_delta","delta":{},"usage":{"output_tokens":2}}\n\n'
    )
    report = read(sse_reader, [body])
    assert report.usage == Usage(input_tokens=4, output_tokens=2)
    assert report.output_text_bytes == 2
    assert report.final is True


def test_malformed_and_unknown_events_are_skipped(read: Read) -> None:
    body = (
        b"event: message_start\ndata: {not json\n\n"
        b"event: content_block_delta\ndata: []\n\n"
        b"event: brand_new_event\ndata: {}\n\n"
        b'event: message_delta\ndata: {"usage":{"output_tokens":"many"}}\n\n'
    )
    report = read(sse_reader, [body])
    assert report.usage == Usage()
    assert report.final is True  # a message_delta with usage came, even if its count was junk


def test_message_json(read_every_way: ReadEveryWay, fixture_bytes: Callable[[str], bytes]) -> None:
    report = read_every_way(json_reader, fixture_bytes("claude_message.json"))
    assert report == UsageReport(
        usage=Usage(
            input_tokens=12,
            cache_write_tokens=100,
            cache_read_tokens=0,  # null
            output_tokens=60,
            reasoning_tokens=20,
        ),
        final=True,
        terminal_status="end_turn",
        # "Short answer." 13 + "Hello! ça va?" 14 + {"q":"x"} 9
        output_text_bytes=36,
        response_id="msg_01XFDUDYJgAACzvnptvVoYEL",
        response_model="claude-opus-4-1-20250805",
    )


def test_truncated_message_json_reports_nothing(
    read: Read, fixture_bytes: Callable[[str], bytes]
) -> None:
    body = fixture_bytes("claude_message.json")
    assert read(json_reader, [body[:-20]]) == UsageReport()


def test_error_envelope_json(read: Read) -> None:
    body = b'{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}}'
    report = read(json_reader, [body])
    assert report.stream_error == StreamError(type="rate_limit_error", message="Slow down")
    assert report.usage == Usage()


@pytest.mark.parametrize("framing", list(BodyFraming))
def test_count_tokens_is_never_billable(framing: BodyFraming, read: Read) -> None:
    make = partial(usage_reader_for, Provider.CLAUDE, Operation.COUNT_TOKENS, framing)
    assert read(make, [b'{"input_tokens": 2095}']) == UsageReport(final=True)


def test_batch_results_sum_the_succeeded_lines(
    read_every_way: ReadEveryWay, fixture_bytes: Callable[[str], bytes]
) -> None:
    report = read_every_way(batch_reader, fixture_bytes("claude_batch_results.jsonl"))
    assert report.usage == Usage(
        input_tokens=30,
        cache_read_tokens=5,
        cache_write_tokens=30,
        output_tokens=16,
        reasoning_tokens=4,
    )
    assert report.final is True


def test_batch_results_cut_inside_a_line_are_not_final(
    read: Read, fixture_bytes: Callable[[str], bytes]
) -> None:
    body = fixture_bytes("claude_batch_results.jsonl")
    report = read(batch_reader, [body[:-40]])
    assert report.final is False
    assert report.usage == Usage(input_tokens=10, cache_read_tokens=5, output_tokens=7)


def test_batch_results_last_line_without_lf_counts(
    read_every_way: ReadEveryWay, fixture_bytes: Callable[[str], bytes]
) -> None:
    body = fixture_bytes("claude_batch_results.jsonl").replace(b"\n", b"\r\n").rstrip()
    report = read_every_way(batch_reader, body)
    assert report.final is True
    assert report.usage.output_tokens == 16
