"""Anthropic Messages API usage (protocols.md 1.2-1.6).

Mapping (contract "Usage, one meaning"): input = `input_tokens`, cache_read =
`cache_read_input_tokens`, cache_write = `cache_creation_input_tokens`, output = `output_tokens`,
reasoning = `output_tokens_details.thinking_tokens` (else 0). The three input counts are disjoint
in Anthropic's accounting, so they map one to one. Null or missing counts are 0.

Streams: `message_start` sets the usage; each `message_delta` *replaces* output (it is
cumulative) and replaces input/cache counts it carries non-null, as the SDK's accumulator does.
Only four event names are looked at (the `event:` line, so pings, block starts and stops cost
no parse). The text bytes of a `content_block_delta` are counted by parsing that payload: a
regex over the raw bytes was measured slower (`bench/usage_readers_bench.py`: ~0.85 us vs
~0.55 us for a typical delta, as JSON's many quotes defeat the regex's prefix search), and the
parse counts escaped text exactly. The deltas of a stream are read only when a report needs
their text (readers.TailFirstSseUsageReader).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

import orjson

from gateway.domain.usage import Usage
from gateway.domain.usage_readers.base import StreamError, UsageReader, UsageReport
from gateway.domain.usage_readers.readers import (
    Accumulator,
    FixedUsageReader,
    JsonLinesUsageReader,
    JsonUsageReader,
    TailFirstSseUsageReader,
    final_with_status,
    response_id_read,
)
from gateway.domain.usage_readers.scan import (
    JsonObject,
    as_int,
    event_type,
    get_dict,
    get_str,
    loads_object,
    utf8_len,
)

# Counts a message_delta restates (all cumulative), with the Usage field each one sets.
_RESTATED: Final = (
    ("output_tokens", "output_tokens"),
    ("input_tokens", "input_tokens"),
    ("cache_read_input_tokens", "cache_read_tokens"),
    ("cache_creation_input_tokens", "cache_write_tokens"),
)
# count_tokens answers {"input_tokens": N}: a count of what a request *would* use, free of
# charge (protocols.md 1.5), so it is never billable usage, whatever N is.
COUNT_TOKENS_REPORT: Final = UsageReport(final=True)
_COUNT_TOKENS_READER: Final = FixedUsageReader(COUNT_TOKENS_REPORT)


def usage_of(raw: JsonObject) -> Usage:
    """A Claude `usage` object in the gateway's meaning."""
    return Usage(
        input_tokens=as_int(raw.get("input_tokens")),
        output_tokens=as_int(raw.get("output_tokens")),
        cache_read_tokens=as_int(raw.get("cache_read_input_tokens")),
        cache_write_tokens=as_int(raw.get("cache_creation_input_tokens")),
        reasoning_tokens=as_int(get_dict(raw, "output_tokens_details").get("thinking_tokens")),
    )


def _restate(usage: Usage, raw: JsonObject) -> Usage:
    """Overlay a message_delta usage: replace what it carries non-null, never add."""
    changes: dict[str, int] = {}
    for key, field in _RESTATED:
        if raw.get(key) is not None:
            changes[field] = as_int(raw[key])
    thinking = get_dict(raw, "output_tokens_details").get("thinking_tokens")
    if thinking is not None:
        changes["reasoning_tokens"] = as_int(thinking)
    return replace(usage, **changes)


def _stream_error(obj: JsonObject) -> StreamError:
    error = get_dict(obj, "error")
    return StreamError(
        type=get_str(error, "type") or "error", message=get_str(error, "message") or ""
    )


def on_sse_event(state: Accumulator, name: bytes | None, data: bytes) -> None:
    kind = name if name is not None else event_type(name, data)
    if kind == b"content_block_delta":  # most events: kept lean, shape errors are skipped
        delta = orjson.loads(data)["delta"]
        text = delta.get("text")
        if text is None:
            text = delta.get("thinking") if "thinking" in delta else delta.get("partial_json")
        if type(text) is str:
            state.output_text_bytes += utf8_len(text)
    elif kind == b"message_start":
        _message_start(state, data)
    elif kind == b"message_delta":
        _message_delta(state, data)
    elif kind == b"error":
        # The stream ends here (no message_stop); the usage seen so far is kept.
        obj = loads_object(data)
        if obj is not None:
            state.stream_error = _stream_error(obj)


def _message_start(state: Accumulator, data: bytes) -> None:
    message = get_dict(loads_object(data) or {}, "message")
    state.usage = usage_of(get_dict(message, "usage"))
    state.response_id = get_str(message, "id") or state.response_id
    state.response_model = get_str(message, "model") or state.response_model


def _message_delta(state: Accumulator, data: bytes) -> None:
    obj = loads_object(data) or {}
    raw = obj.get("usage")
    if isinstance(raw, dict):
        state.usage = _restate(state.usage, raw)
        state.final = True
    stop_reason = get_str(get_dict(obj, "delta"), "stop_reason")
    if stop_reason is not None:
        state.terminal_status = stop_reason


def apply_message(state: Accumulator, obj: JsonObject) -> None:
    """A non-streamed Message (or an error envelope)."""
    if obj.get("type") == "error":
        state.stream_error = _stream_error(obj)
        return
    raw = obj.get("usage")
    if isinstance(raw, dict):
        state.usage = usage_of(raw)
        state.final = True
    state.terminal_status = get_str(obj, "stop_reason")
    state.response_id = get_str(obj, "id")
    state.response_model = get_str(obj, "model")
    content = obj.get("content")
    if isinstance(content, list):
        state.output_text_bytes = sum(_block_bytes(block) for block in content)


def _block_bytes(block: Any) -> int:
    if not isinstance(block, dict):
        return 0
    for key in ("text", "thinking"):
        text = block.get(key)
        if isinstance(text, str):
            return utf8_len(text)
    if block.get("type") == "tool_use":
        return len(orjson.dumps(block.get("input")))
    return 0


def on_batch_line(state: Accumulator, line: bytes) -> None:
    """One line of batch results: only `succeeded` results carry (billable) usage."""
    if b'"succeeded"' not in line:  # errored/canceled/expired lines: skip without parsing
        return
    result = get_dict(loads_object(line) or {}, "result")
    if result.get("type") != "succeeded":
        return
    state.usage = state.usage + usage_of(get_dict(get_dict(result, "message"), "usage"))


# Named events that add text or nothing: on_sse_event goes by the name when there is one. The
# others set more (message_delta's counts overlay the usage in order; message_start, error),
# and an unnamed event is told by its payload: neither is plain.
_PLAIN_EVENTS: Final = frozenset(
    (b"content_block_delta", b"content_block_start", b"content_block_stop", b"ping")
)


def _plain_event(name: bytes | None, data: bytes) -> bool:
    return name in _PLAIN_EVENTS


def messages_sse_reader() -> UsageReader:
    return TailFirstSseUsageReader(
        on_sse_event,
        Accumulator(),
        may_defer=response_id_read,
        settled=final_with_status,
        plain=_plain_event,
    )


def messages_json_reader() -> UsageReader:
    return JsonUsageReader(apply_message)


def batch_results_reader() -> UsageReader:
    return JsonLinesUsageReader(on_batch_line)


def count_tokens_reader() -> UsageReader:
    return _COUNT_TOKENS_READER  # stateless: one shared instance
