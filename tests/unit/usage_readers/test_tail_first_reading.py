"""Reports that may leave the text short (`report(text_when_final=False)`): every field but the
text is the forward read's, for every body and every way a network could cut it, and a report
that is not final is the forward read's whole."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from functools import partial

import orjson
import pytest

from gateway.domain.provider import Operation, Provider
from gateway.domain.usage import Usage
from gateway.domain.usage_readers import BodyFraming, UsageReader, UsageReport, usage_reader_for
from gateway.domain.usage_readers.readers import (
    DEFERRED_MAX_BYTES,
    Accumulator,
    TailFirstSseUsageReader,
)

chat_sse = partial(usage_reader_for, Provider.OPENAI, Operation.CHAT_COMPLETIONS, BodyFraming.SSE)
messages_sse = partial(usage_reader_for, Provider.CLAUDE, Operation.MESSAGES, BodyFraming.SSE)
responses_sse = partial(usage_reader_for, Provider.OPENAI, Operation.RESPONSES, BodyFraming.SSE)

MakeReader = Callable[[], UsageReader]
Splits = Callable[[bytes, int], list[bytes]]


def _reports(make: MakeReader, chunks: Iterable[bytes]) -> tuple[UsageReport, UsageReport]:
    """(the full report, the one that may leave the text short), from one reader."""
    reader = make()
    for chunk in chunks:
        reader.feed(chunk)
    short = reader.report(text_when_final=False)
    return reader.report(), short


def _without_text(report: UsageReport) -> UsageReport:
    return dataclasses.replace(report, output_text_bytes=0)


@pytest.fixture(name="check_every_way")
def check_every_way_fixture(
    random_splits: Splits,
) -> Callable[[MakeReader, bytes], tuple[UsageReport, UsageReport]]:
    return partial(_check_every_way, random_splits)


CheckEveryWay = Callable[[MakeReader, bytes], tuple[UsageReport, UsageReport]]


def _check_every_way(
    random_splits: Splits, make: MakeReader, body: bytes
) -> tuple[UsageReport, UsageReport]:
    """Whole, byte by byte and at random cuts: the short report agrees with the full one."""
    whole = _reports(make, [body])
    cuts = [[body[i : i + 1] for i in range(len(body))]]
    cuts += [random_splits(body, seed) for seed in range(8)]
    for chunks in [[body], *cuts]:
        full, short = _reports(make, chunks)
        assert full == whole[0]
        if full.final:
            assert _without_text(short) == _without_text(full)
            assert short.output_text_bytes <= full.output_text_bytes
        else:
            assert short == full  # an estimate needs all of the text
    return whole


def _cut_at_every_event(body: bytes) -> list[bytes]:
    ends = [i + 2 for i in range(len(body)) if body[i : i + 2] == b"\n\n"]
    return [body[:end] for end in ends] + [body[: end - 1] for end in ends]


@pytest.mark.parametrize(
    ("make", "name", "ending"),
    [
        (chat_sse, "openai_chat_stream.txt", b"\n"),
        (chat_sse, "openai_chat_stream.txt", b"\r\n"),
        (chat_sse, "openai_chat_tool_stream.txt", b"\n"),
        (messages_sse, "claude_messages_stream.txt", b"\n"),
        (messages_sse, "claude_messages_stream.txt", b"\r"),
        (responses_sse, "openai_responses_stream.txt", b"\n"),
        (responses_sse, "openai_responses_stream.txt", b"\r\n"),
        (responses_sse, "openai_responses_incomplete.txt", b"\n"),
        (responses_sse, "openai_responses_failed.txt", b"\n"),
    ],
)
def test_every_field_but_the_text_is_the_forward_reads(
    make: MakeReader,
    name: str,
    ending: bytes,
    fixture_bytes: Callable[[str], bytes],
    check_every_way: CheckEveryWay,
) -> None:
    body = fixture_bytes(name)
    for prefix in [body, *_cut_at_every_event(body)]:  # every way a stream can end early
        check_every_way(make, prefix.replace(b"\n", ending))


def _chat_chunk(**fields: object) -> bytes:
    return b"data: " + orjson.dumps({"id": "c1", "model": "m", **fields}) + b"\n\n"


def _delta(text: str) -> bytes:
    return _chat_chunk(choices=[{"index": 0, "delta": {"content": text}}], usage=None)


CHAT_END = (
    _chat_chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}], usage=None)
    + _chat_chunk(choices=[], usage={"prompt_tokens": 9, "completion_tokens": 50})
    + b"data: [DONE]\n\n"
)


def test_a_final_stream_is_read_from_its_end(check_every_way: CheckEveryWay) -> None:
    body = b"".join(_delta(f"word{i} ") for i in range(50)) + CHAT_END
    full, short = check_every_way(chat_sse, body)
    assert full.final and full.usage.output_tokens == 50 and full.terminal_status == "stop"
    assert full.output_text_bytes == sum(len(f"word{i} ") for i in range(50))
    # Read from the end back to the finish reason: the deltas before it were not read (the
    # first one was, for the id and model).
    assert short.output_text_bytes == len("word0 ")
    assert (short.response_id, short.response_model) == ("c1", "m")


def test_an_error_in_the_middle_is_read_as_a_forward_read_would(
    check_every_way: CheckEveryWay,
) -> None:
    error = _chat_chunk(error={"message": "overloaded", "type": "server_error"})
    body = _delta("a") + _delta("b") + error + _delta("c") + CHAT_END
    full, short = check_every_way(chat_sse, body)
    assert full.stream_error is not None and full.stream_error.type == "server_error"
    assert short.stream_error == full.stream_error
    # The suffix starts at the error: the text after it is read, the text before it is not.
    assert short.output_text_bytes == 2  # "a" (the first chunk, read for the id) and "c"


def test_the_last_non_null_usage_wins_however_it_is_read(check_every_way: CheckEveryWay) -> None:
    def with_usage(text: str, completion: int) -> bytes:
        choice = {"index": 0, "delta": {"content": text}}
        return _chat_chunk(
            choices=[choice], usage={"prompt_tokens": 5, "completion_tokens": completion}
        )

    finish = _chat_chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "length"}])
    body = with_usage("a", 1) + with_usage("b", 2) + finish + with_usage("c", 3)
    full, short = check_every_way(chat_sse, body)
    assert full.usage.output_tokens == short.usage.output_tokens == 3
    assert full.terminal_status == short.terminal_status == "length"


def test_without_a_finish_reason_everything_is_read(check_every_way: CheckEveryWay) -> None:
    usage = _chat_chunk(choices=[], usage={"prompt_tokens": 5, "completion_tokens": 2})
    body = _delta("a") + _delta("bc") + usage + b"data: [DONE]\n\n"
    full, short = check_every_way(chat_sse, body)
    assert full.final and full.terminal_status is None
    assert short == full


def test_a_stream_longer_than_the_bound_is_read_as_it_goes(
    check_every_way: CheckEveryWay,
) -> None:
    text = "x" * 200
    count = 3 * DEFERRED_MAX_BYTES // len(_delta(text))
    body = b"".join(_delta(text) for _ in range(count)) + CHAT_END
    full, short = check_every_way(chat_sse, body)
    assert full.output_text_bytes == count * 200
    # What passed the bound was read on the way; what is kept at the end was not.
    assert 0 < short.output_text_bytes < full.output_text_bytes
    assert full.output_text_bytes - short.output_text_bytes <= DEFERRED_MAX_BYTES


def test_an_error_read_on_the_way_does_not_hide_a_later_one(
    check_every_way: CheckEveryWay,
) -> None:
    """The first event that was not plain is read once the bound is passed: the next one is
    then the one the suffix must not start after."""
    delta = _delta("y" * 200)

    def fill(size: int) -> bytes:
        return delta * (size // len(delta) + 1)

    first = _chat_chunk(error={"message": "first", "type": "a"})
    second = _chat_chunk(error={"message": "second", "type": "b"})
    # The bound is passed with both kept, 12 KiB apart: the oldest 8 KiB read take the first
    # error and leave the second kept, which the suffix must then start at.
    before_second = fill(12 << 10)
    after_second = fill(DEFERRED_MAX_BYTES - len(before_second) + (4 << 10))
    body = _delta("x") + first + before_second + second + after_second + CHAT_END
    full, short = check_every_way(chat_sse, body)
    assert full.stream_error is not None and full.stream_error.message == "second"
    assert short.stream_error == full.stream_error
    assert short.output_text_bytes < full.output_text_bytes  # the middle was not all read


def _claude_event(kind: str, payload: dict[str, object]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def test_claude_counts_restated_in_the_middle_are_kept(check_every_way: CheckEveryWay) -> None:
    start = _claude_event(
        "message_start",
        {
            "type": "message_start",
            "message": {"id": "msg_1", "model": "c", "usage": {"input_tokens": 10}},
        },
    )

    def delta(text: str) -> bytes:
        body = {"type": "content_block_delta", "index": 0, "delta": {"text": text}}
        return _claude_event("content_block_delta", body)

    # A message_delta in the middle restates input; the last one restates only output.
    middle = _claude_event(
        "message_delta",
        {"type": "message_delta", "delta": {}, "usage": {"input_tokens": 12, "output_tokens": 1}},
    )
    last = _claude_event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 3},
        },
    )
    stop = _claude_event("message_stop", {"type": "message_stop"})
    body = start + delta("ab") + middle + delta("cd") + last + stop
    full, short = check_every_way(messages_sse, body)
    assert full.usage.input_tokens == short.usage.input_tokens == 12
    assert full.usage.output_tokens == short.usage.output_tokens == 3
    assert short.terminal_status == "end_turn"


def test_a_responses_stream_is_read_from_its_terminal_event(
    check_every_way: CheckEveryWay, fixture_bytes: Callable[[str], bytes]
) -> None:
    full, short = check_every_way(responses_sse, fixture_bytes("openai_responses_stream.txt"))
    assert full.final and full.terminal_status == "completed"
    assert full.output_text_bytes > 0 and short.output_text_bytes == 0  # no delta was read
    assert short.response_id == full.response_id


def _toy_event(state: Accumulator, name: bytes | None, data: bytes) -> None:
    """A provider whose usage is final only once a finish reason came before it (as Gemini's):
    read back from the end, a usage before the finish reason looks settled."""
    if state.response_id is None:
        state.response_id = "id"
    if data == b"usage":
        state.usage = Usage(output_tokens=1)
        state.final = state.final or state.terminal_status is not None
    elif data == b"finish":
        state.terminal_status = "stop"
    else:
        state.output_text_bytes += len(data)


def _toy_reader() -> UsageReader:
    return TailFirstSseUsageReader(
        _toy_event,
        Accumulator(),
        may_defer=lambda state: state.response_id is not None,
        settled=lambda state: state.final,
        plain=lambda name, data: True,
    )


def test_a_suffix_that_is_not_final_read_forward_means_everything_is_read(
    check_every_way: CheckEveryWay,
) -> None:
    """The suffix settled read backwards, but read forward it is not final: a report that is
    not final counts all of the text, so the middle is read after all."""
    body = b"data: hello\n\ndata: middle\n\ndata: usage\n\ndata: finish\n\n"
    full, short = check_every_way(_toy_reader, body)
    assert not full.final and full.output_text_bytes == len("hello") + len("middle")
    assert short == full


def test_a_stream_that_does_not_settle_soon_is_read_forward(
    check_every_way: CheckEveryWay,
) -> None:
    body = b"".join(_delta(f"{i} ") for i in range(30))  # no usage, no finish reason
    full, short = check_every_way(chat_sse, body)
    assert not full.final and short == full
