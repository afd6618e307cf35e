from __future__ import annotations

import pytest

from gateway.domain.provider import Operation, Provider
from gateway.domain.usage_readers import BodyFraming, UsageReport, usage_reader_for
from gateway.domain.usage_readers.factory import NULL_READER
from gateway.domain.usage_readers.readers import MAX_JSON_BYTES, JsonUsageReader, NullUsageReader

NO_USAGE = [
    (Provider.OPENAI, Operation.LIST_MODELS),
    (Provider.GEMINI, Operation.GET_MODEL),
    (Provider.CLAUDE, Operation.BATCH_CREATE),
    (Provider.CLAUDE, Operation.BATCH_LIST),
    (Provider.CLAUDE, Operation.BATCH_GET),
    (Provider.CLAUDE, Operation.BATCH_CANCEL),
    (Provider.CLAUDE, Operation.BATCH_DELETE),
]


@pytest.mark.parametrize(("provider", "operation"), NO_USAGE)
@pytest.mark.parametrize("framing", list(BodyFraming))
def test_operations_without_usage_get_the_shared_null_reader(
    provider: Provider, operation: Operation, framing: BodyFraming
) -> None:
    reader = usage_reader_for(provider, operation, framing)
    assert reader is NULL_READER
    reader.feed(b'{"usage":{"input_tokens":5}}')
    assert reader.report() == UsageReport()


def test_a_provider_and_operation_that_do_not_belong_together_get_the_null_reader() -> None:
    reader = usage_reader_for(Provider.OPENAI, Operation.MESSAGES, BodyFraming.SSE)
    assert isinstance(reader, NullUsageReader)


@pytest.mark.parametrize(
    ("provider", "operation", "framing"),
    [
        (Provider.CLAUDE, Operation.MESSAGES, BodyFraming.SSE),
        (Provider.OPENAI, Operation.RESPONSES, BodyFraming.SSE),
        (Provider.GEMINI, Operation.STREAM_GENERATE_CONTENT, BodyFraming.JSON_ARRAY_STREAM),
        (Provider.CLAUDE, Operation.BATCH_RESULTS, BodyFraming.JSONL),
        (Provider.OPENAI, Operation.CHAT_COMPLETIONS, BodyFraming.JSON),
    ],
)
def test_stateful_readers_are_fresh_per_call(
    provider: Provider, operation: Operation, framing: BodyFraming
) -> None:
    assert usage_reader_for(provider, operation, framing) is not usage_reader_for(
        provider, operation, framing
    )


def test_json_reader_caches_its_report_until_fed_more() -> None:
    reader = usage_reader_for(Provider.OPENAI, Operation.CHAT_COMPLETIONS, BodyFraming.JSON)
    reader.feed(b'{"choices":[],"usage":{"prompt_tokens":1,')
    assert reader.report() == UsageReport()
    assert reader.report() is reader.report()
    reader.feed(b'"completion_tokens":2}}')
    assert reader.report().usage.output_tokens == 2


def test_json_reader_gives_up_past_its_cap() -> None:
    reader = JsonUsageReader(lambda state, obj: None)
    piece = b" " * (1 << 20)
    for _ in range(MAX_JSON_BYTES // len(piece) + 1):
        reader.feed(piece)
    reader.feed(b"{}")
    assert reader.report() == UsageReport()


def test_readers_accept_memoryview_and_bytearray_chunks() -> None:
    reader = usage_reader_for(Provider.CLAUDE, Operation.MESSAGES, BodyFraming.SSE)
    reader.feed(memoryview(b'event: message_delta\ndata: {"usage":{"output_tokens":3}}\n'))  # type: ignore[arg-type]
    reader.feed(bytearray(b"\n"))  # type: ignore[arg-type]
    assert reader.report().usage.output_tokens == 3
