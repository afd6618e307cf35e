from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import partial

import pytest

from gateway.domain.provider import Operation, Provider
from gateway.domain.usage import Usage
from gateway.domain.usage_readers import BodyFraming, UsageReader, UsageReport, usage_reader_for
from gateway.domain.usage_readers.base import StreamError

ReadEveryWay = Callable[[Callable[[], UsageReader], bytes], UsageReport]
Read = Callable[[Callable[[], UsageReader], Iterable[bytes]], UsageReport]
FixtureBytes = Callable[[str], bytes]

stream = Operation.STREAM_GENERATE_CONTENT
sse_reader = partial(usage_reader_for, Provider.GEMINI, stream, BodyFraming.SSE)
array_reader = partial(usage_reader_for, Provider.GEMINI, stream, BodyFraming.JSON_ARRAY_STREAM)
json_reader = partial(
    usage_reader_for, Provider.GEMINI, Operation.GENERATE_CONTENT, BodyFraming.JSON
)

# prompt 10 with 4 cached, candidates 5, thoughts 25: the contract's example.
FINAL_USAGE = Usage(input_tokens=6, cache_read_tokens=4, output_tokens=30, reasoning_tokens=25)
STREAM_REPORT = UsageReport(
    usage=FINAL_USAGE,
    final=True,
    terminal_status="STOP",
    output_text_bytes=23 + 21 + 6,  # the thought summary, 'Hello "world" \ {}[],', " café"
    response_id="kJ8RaOTxLs2wnvgPuYfU4Ak",
    response_model="gemini-2.5-flash",
)


def test_contract_example_numbers() -> None:
    assert FINAL_USAGE.total_tokens == 40


def test_sse_stream_with_crlf(read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes) -> None:
    body = fixture_bytes("gemini_stream_sse.txt")
    assert b"\r\n\r\n" in body
    assert read_every_way(sse_reader, body) == STREAM_REPORT


def test_sse_stream_with_lf(
    read_every_way: ReadEveryWay,
    fixture_bytes: FixtureBytes,
    line_endings: Callable[[bytes, bytes], bytes],
) -> None:
    body = line_endings(fixture_bytes("gemini_stream_sse.txt"), b"\n")
    assert read_every_way(sse_reader, body) == STREAM_REPORT


def test_array_stream_with_escapes_and_braces_in_strings(
    read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes
) -> None:
    body = fixture_bytes("gemini_stream_array.txt")
    assert b"\n,\r\n" in body
    assert read_every_way(array_reader, body) == STREAM_REPORT


def test_array_stream_flushed_one_element_per_chunk(
    read: Read, fixture_bytes: FixtureBytes
) -> None:
    # The way Gemini flushes: `[{...}`, `\n,\r\n{...}`, ..., `\n]` (the splitter's fast path).
    body = fixture_bytes("gemini_stream_array.txt")
    first, *rest = body.split(b"\n,\r\n")
    last, _, closing = rest.pop().rpartition(b"\n]")
    chunks = [first, *(b"\n,\r\n" + element for element in [*rest, last]), b"\n]" + closing]
    assert read(array_reader, chunks) == STREAM_REPORT
    # Elements that carry their separator after them instead, and a last one that closes.
    elements = [first[1:], *rest, last]
    chunks = [b"[", *(element + b",\n" for element in elements[:-1]), elements[-1] + b"\n]"]
    assert read(array_reader, chunks) == STREAM_REPORT


@pytest.mark.parametrize("reader", [sse_reader, array_reader])
def test_stream_cut_before_the_last_chunk_takes_the_last_usage_seen(
    reader: Callable[[], UsageReader], read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes
) -> None:
    name = "gemini_stream_sse.txt" if reader is sse_reader else "gemini_stream_array.txt"
    body = fixture_bytes(name)
    report = read_every_way(reader, body[: body.rindex(b'"candidates"') - 8])
    # The second chunk's counts, not a sum: 10 - 4 input, 2 + 25 output.
    assert report.usage == Usage(
        input_tokens=6, cache_read_tokens=4, output_tokens=27, reasoning_tokens=25
    )
    assert report.final is False
    assert report.terminal_status is None
    assert report.output_text_bytes == 23 + 21


def test_usage_seen_before_the_finish_reason_is_not_final(read: Read) -> None:
    body = (
        b'data: {"candidates":[{"content":{"parts":[{"text":"a"}]}}],'
        b'"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}\r\n\r\n'
        b'data: {"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"MAX_TOKENS"}]}'
        b"\r\n\r\n"
    )
    report = read(sse_reader, [body])
    assert report.final is False
    assert report.terminal_status == "MAX_TOKENS"
    assert report.usage == Usage(input_tokens=3, output_tokens=1)


def test_usage_after_the_finish_reason_is_final(read: Read) -> None:
    body = (
        b'data: {"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"STOP"}]}\r\n\r\n'
        b'data: {"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1}}\r\n\r\n'
    )
    assert read(sse_reader, [body]).final is True


def test_error_object_in_a_200_stream(read_every_way: ReadEveryWay) -> None:
    body = (
        b'[{"candidates":[{"content":{"parts":[{"text":"par"}]}}],'
        b'"usageMetadata":{"promptTokenCount":7}}\n,\r\n'
        b'{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}\n]'
    )
    report = read_every_way(array_reader, body)
    assert report.stream_error == StreamError(
        type="UNAVAILABLE", message="The model is overloaded."
    )
    assert report.usage == Usage(input_tokens=7)
    assert report.final is False


def test_a_blocked_prompt_ends_the_stream(read: Read) -> None:
    body = (
        b'data: {"promptFeedback":{"blockReason":"SAFETY"},'
        b'"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}}\r\n\r\n'
    )
    report = read(sse_reader, [body])
    assert report.terminal_status == "SAFETY"
    assert report.final is True
    assert report.usage == Usage(input_tokens=9)


def test_finish_reason_of_the_last_candidate(read: Read) -> None:
    doc = {
        "candidates": [
            {"index": 0, "finishReason": "STOP", "content": {"parts": [{"text": "x"}]}},
            {"index": 1, "finishReason": "MAX_TOKENS", "content": {"parts": [{"text": "yz"}]}},
        ],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 3},
    }
    report = read(json_reader, [json.dumps(doc).encode()])
    assert report.terminal_status == "MAX_TOKENS"
    assert report.output_text_bytes == 3


def test_generate_content_json_adds_tool_use_prompt_tokens_to_input(
    read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes
) -> None:
    report = read_every_way(json_reader, fixture_bytes("gemini_generate.json"))
    assert report == UsageReport(
        usage=Usage(
            input_tokens=10 - 4 + 3, cache_read_tokens=4, output_tokens=30, reasoning_tokens=25
        ),
        final=True,
        terminal_status="STOP",
        output_text_bytes=2 + 7,  # "Hi" + the function call's args {"a":1}
        response_id="resp-gen-1",
        response_model="gemini-2.5-flash",
    )
    assert report.usage.total_tokens == 43  # Gemini's own totalTokenCount


def test_streamed_operation_answered_as_plain_json_is_read(
    read: Read, fixture_bytes: FixtureBytes
) -> None:
    make = partial(usage_reader_for, Provider.GEMINI, stream, BodyFraming.JSON)
    assert read(make, [fixture_bytes("gemini_stream_array.txt")]) == STREAM_REPORT


@pytest.mark.parametrize(
    "operation",
    [Operation.GEMINI_COUNT_TOKENS, Operation.EMBED_CONTENT, Operation.BATCH_EMBED_CONTENTS],
)
def test_informational_and_embedding_calls_report_zero_final(
    operation: Operation, read: Read
) -> None:
    make = partial(usage_reader_for, Provider.GEMINI, operation, BodyFraming.JSON)
    body = b'{"totalTokens": 31, "embedding": {"values": [0.1, 0.2]}}'
    assert read(make, [body]) == UsageReport(final=True)
