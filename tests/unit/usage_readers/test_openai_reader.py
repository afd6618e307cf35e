from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from functools import partial

import pytest

from gateway.domain.provider import Operation, Provider
from gateway.domain.usage import Usage
from gateway.domain.usage_readers import BodyFraming, UsageReader, UsageReport, usage_reader_for
from gateway.domain.usage_readers.base import StreamError
from gateway.domain.usage_readers.openai_embeddings import KEEP_BYTES

ReadEveryWay = Callable[[Callable[[], UsageReader], bytes], UsageReport]
Read = Callable[[Callable[[], UsageReader], Iterable[bytes]], UsageReport]
FixtureBytes = Callable[[str], bytes]

chat_sse = partial(usage_reader_for, Provider.OPENAI, Operation.CHAT_COMPLETIONS, BodyFraming.SSE)
chat_json = partial(usage_reader_for, Provider.OPENAI, Operation.CHAT_COMPLETIONS, BodyFraming.JSON)
completions_sse = partial(usage_reader_for, Provider.OPENAI, Operation.COMPLETIONS, BodyFraming.SSE)
embeddings = partial(usage_reader_for, Provider.OPENAI, Operation.EMBEDDINGS, BodyFraming.JSON)
responses_sse = partial(usage_reader_for, Provider.OPENAI, Operation.RESPONSES, BodyFraming.SSE)
responses_json = partial(usage_reader_for, Provider.OPENAI, Operation.RESPONSES, BodyFraming.JSON)

# prompt 19 with 3 cached: input 16, cache_read 3; completion 10 with 4 reasoning.
CHAT_USAGE = Usage(input_tokens=16, cache_read_tokens=3, output_tokens=10, reasoning_tokens=4)


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_chat_stream_with_include_usage(
    ending: bytes,
    read_every_way: ReadEveryWay,
    fixture_bytes: FixtureBytes,
    line_endings: Callable[[bytes, bytes], bytes],
) -> None:
    body = line_endings(fixture_bytes("openai_chat_stream.txt"), ending)
    report = read_every_way(chat_sse, body)
    assert report == UsageReport(
        usage=CHAT_USAGE,
        final=True,
        terminal_status="stop",
        output_text_bytes=2 + 31,  # "Hi" + ' thére, "usage":{ is just text'
        response_id="chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        response_model="gpt-4o-2024-08-06",
    )
    assert report.usage.total_tokens == 29  # OpenAI's own total


def test_chat_stream_cut_before_the_usage_chunk(
    read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes
) -> None:
    body = fixture_bytes("openai_chat_stream.txt")
    cut = body[: body.index(b'"choices":[],"usage":{') - 20]
    report = read_every_way(chat_sse, cut)
    assert report.final is False
    assert report.usage == Usage()
    assert report.terminal_status == "stop"
    assert report.output_text_bytes == 33


def test_chat_stream_tool_call_arguments_are_text_without_usage(
    read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes
) -> None:
    report = read_every_way(chat_sse, fixture_bytes("openai_chat_tool_stream.txt"))
    assert report.final is False
    assert report.output_text_bytes == 16  # '{"city":' + '"Paris"}'
    assert report.terminal_status == "tool_calls"
    assert report.response_model == "gpt-4.1-mini"


def test_chat_stream_keeps_the_last_non_null_usage(read_every_way: ReadEveryWay) -> None:
    # Some compatible providers put usage on content chunks, growing as they go.
    body = (
        b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"a"}}],'
        b'"usage":{"prompt_tokens":5,"completion_tokens":1}}\n\n'
        b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\n'
        b'data: {"id":"c1","choices":[],"usage":null}\n\n'
        b"data: [DONE]\n\n"
    )
    report = read_every_way(chat_sse, body)
    assert report.usage == Usage(input_tokens=5, output_tokens=2)
    assert report.final is True


def test_chat_stream_error_after_the_200(read_every_way: ReadEveryWay) -> None:
    body = (
        b'data: {"id":"c2","choices":[{"index":0,"delta":{"content":"par"}}]}\n\n'
        b'data: {"error":{"message":"The server had an error","type":"server_error",'
        b'"param":null,"code":null}}\n\n'
    )
    report = read_every_way(chat_sse, body)
    assert report.stream_error == StreamError(
        type="server_error", message="The server had an error"
    )
    assert report.output_text_bytes == 3
    assert report.final is False


def test_legacy_completions_stream(read_every_way: ReadEveryWay) -> None:
    body = (
        b'data: {"id":"cmpl-1","object":"text_completion","model":"gpt-3.5-turbo-instruct",'
        b'"choices":[{"text":"Once","index":0,"logprobs":null,"finish_reason":null}]}\n\n'
        b'data: {"id":"cmpl-1","object":"text_completion","model":"gpt-3.5-turbo-instruct",'
        b'"choices":[{"text":" upon","index":0,"logprobs":null,"finish_reason":"length"}],'
        b'"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}}\n\n'
        b"data: [DONE]\n\n"
    )
    report = read_every_way(completions_sse, body)
    assert report.usage == Usage(input_tokens=4, output_tokens=2)
    assert report.output_text_bytes == 9
    assert report.terminal_status == "length"


def test_chat_json(read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes) -> None:
    report = read_every_way(chat_json, fixture_bytes("openai_chat.json"))
    assert report == UsageReport(
        usage=Usage(input_tokens=16, cache_read_tokens=3, output_tokens=10, reasoning_tokens=2),
        final=True,
        terminal_status="tool_calls",
        output_text_bytes=3 + 7,  # "Hi!" + '{"a":1}'
        response_id="chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
        response_model="gpt-4o-2024-08-06",
    )


def test_cache_write_tokens_leave_input_too(read: Read) -> None:
    body = json.dumps(
        {
            "choices": [],
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 50},
            },
        }
    ).encode()
    usage = read(chat_json, [body]).usage
    assert usage == Usage(
        input_tokens=20, cache_read_tokens=30, cache_write_tokens=50, output_tokens=5
    )
    assert usage.total_tokens == 105


def test_chat_json_without_usage_is_not_final(read: Read) -> None:
    body = b'{"id":"x","choices":[{"index":0,"message":{"content":"hey"},"finish_reason":"stop"}]}'
    report = read(chat_json, [body])
    assert report.final is False
    assert report.output_text_bytes == 3


def test_chat_error_envelope(read: Read) -> None:
    body = b'{"error":{"message":"bad key","type":"invalid_request_error","param":null,"code":"x"}}'
    assert read(chat_json, [body]).stream_error == StreamError(
        type="invalid_request_error", message="bad key"
    )


def test_small_embeddings_body(read_every_way: ReadEveryWay) -> None:
    body = (
        b'{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AAAAAA=="}],'
        b'"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}'
    )
    report = read_every_way(embeddings, body)
    assert report == UsageReport(
        usage=Usage(input_tokens=8), final=True, response_model="text-embedding-3-small"
    )


@pytest.mark.parametrize("usage_first", [False, True])
def test_large_embeddings_body_is_read_from_its_ends(
    usage_first: bool, read: Read, random_splits: Callable[[bytes, int], list[bytes]]
) -> None:
    vector = base64.b64encode(bytes(range(256)) * 24).decode()  # 8 KiB of base64
    data = [{"object": "embedding", "index": i, "embedding": vector} for i in range(100)]
    doc: dict[str, object] = {"object": "list", "data": data}
    tail = {
        "model": "text-embedding-3-large",
        "usage": {"prompt_tokens": 4100, "total_tokens": 4100},
    }
    doc = {**tail, **doc} if usage_first else {**doc, **tail}
    body = json.dumps(doc).encode()
    assert len(body) > 4 * KEEP_BYTES
    chunks = [body[i : i + 16384] for i in range(0, len(body), 16384)]
    report = read(embeddings, chunks)
    assert read(embeddings, [body]) == report
    assert read(embeddings, random_splits(body, 1)) == report
    assert report.usage == Usage(input_tokens=4100)
    assert report.final is True
    assert report.response_model == "text-embedding-3-large"


def test_responses_stream_completed(
    read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes
) -> None:
    report = read_every_way(responses_sse, fixture_bytes("openai_responses_stream.txt"))
    assert report == UsageReport(
        usage=Usage(input_tokens=20, cache_read_tokens=16, output_tokens=87, reasoning_tokens=64),
        final=True,
        terminal_status="completed",
        output_text_bytes=11 + 2 + 8 + 14,  # "Thinking…", "Hi", ' "there"', '{"cmd":["ls"]}'
        response_id="resp_67ccd2bed1ec8190b14f964abc054267",
        response_model="gpt-5-codex",
    )
    assert report.usage.total_tokens == 123


def test_responses_stream_cut_before_the_terminal_event(
    read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes
) -> None:
    body = fixture_bytes("openai_responses_stream.txt")
    report = read_every_way(responses_sse, body[: body.index(b"event: response.completed")])
    assert report.final is False
    assert report.usage == Usage()
    assert report.terminal_status is None
    assert report.response_id == "resp_67ccd2bed1ec8190b14f964abc054267"
    assert report.output_text_bytes == 35


def test_responses_stream_incomplete_is_billed(
    read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes
) -> None:
    report = read_every_way(responses_sse, fixture_bytes("openai_responses_incomplete.txt"))
    assert report.usage == Usage(input_tokens=500, output_tokens=16, reasoning_tokens=12)
    assert report.final is True
    assert report.terminal_status == "incomplete"
    assert report.stream_error is None


def test_responses_stream_failed(read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes) -> None:
    report = read_every_way(responses_sse, fixture_bytes("openai_responses_failed.txt"))
    assert report.terminal_status == "failed"
    assert report.stream_error == StreamError(
        type="server_error", message="The model failed to generate a response."
    )
    assert report.usage == Usage()
    assert report.final is True  # the provider closed it with no usage: nothing to estimate
    assert report.output_text_bytes == 4


def test_responses_error_event(read_every_way: ReadEveryWay) -> None:
    body = (
        b"event: response.created\n"
        b'data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_e",'
        b'"status":"in_progress","usage":null}}\n\n'
        b"event: error\n"
        b'data: {"type":"error","code":"rate_limit_exceeded","message":"Try again in 2s",'
        b'"param":null,"sequence_number":1}\n\n'
    )
    report = read_every_way(responses_sse, body)
    assert report.stream_error == StreamError(type="rate_limit_exceeded", message="Try again in 2s")
    assert report.terminal_status is None  # in_progress is not a terminal state


def test_responses_stream_without_event_lines(
    read: Read, fixture_bytes: FixtureBytes, line_endings: Callable[[bytes, bytes], bytes]
) -> None:
    body = b"".join(
        line + b"\n"
        for line in fixture_bytes("openai_responses_stream.txt").splitlines()
        if not line.startswith(b"event:")
    )
    report = read(responses_sse, [body])
    assert report.final is True
    assert report.output_text_bytes == 35


def test_responses_json(read_every_way: ReadEveryWay, fixture_bytes: FixtureBytes) -> None:
    report = read_every_way(responses_json, fixture_bytes("openai_responses.json"))
    assert report == UsageReport(
        # input 36 - 16 cached - 4 written
        usage=Usage(
            input_tokens=16,
            cache_read_tokens=16,
            cache_write_tokens=4,
            output_tokens=87,
            reasoning_tokens=64,
        ),
        final=True,
        terminal_status="completed",
        output_text_bytes=4 + 2 + 12,  # "Plan", "Hi", '{"cmd":"ls"}'
        response_id="resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41",
        response_model="gpt-5-2025-08-07",
    )
    assert report.usage.total_tokens == 123


@pytest.mark.parametrize(("status", "final"), [("queued", False), ("cancelled", True)])
def test_responses_json_without_usage(status: str, final: bool, read: Read) -> None:
    body = json.dumps({"id": "resp_b", "object": "response", "status": status, "usage": None})
    report = read(responses_json, [body.encode()])
    assert report.final is final
    assert report.terminal_status == status
