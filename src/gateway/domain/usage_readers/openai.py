"""OpenAI Chat Completions (and legacy Completions) usage; the mapping all OpenAI APIs share.

Mapping (contract "Usage, one meaning"), Chat; Responses reads `input_tokens`,
`input_tokens_details`, `output_tokens`, `output_tokens_details` the same way:
- cache_read = `prompt_tokens_details.cached_tokens`, a subset of `prompt_tokens`;
- cache_write = `prompt_tokens_details.cache_write_tokens` (rare; 0 when absent), also a
  subset of `prompt_tokens`, so it is taken out of input as well: input excludes cache reads
  and writes, and the total stays `prompt_tokens + completion_tokens`, OpenAI's own total;
- input = `prompt_tokens - cached_tokens - cache_write_tokens` (never below 0);
- output = `completion_tokens` (reasoning included); reasoning =
  `completion_tokens_details.reasoning_tokens`.
Embeddings (openai_embeddings.py): input = `prompt_tokens`, nothing else. Responses:
openai_responses.py.

Chat streams: usage is the last non-null `usage` of any chunk (compatible providers may put it on
a content chunk). Every chunk is parsed: each one carries generated text to count, and
`orjson.loads` plus a dict walk was measured faster than a byte-level pass that still counts
the text (`bench/usage_readers_bench.py`: ~1.07 us vs ~1.37 us for one regex pass over a
typical 280-byte chunk; a `bytes.find` fast path for the common shape saved under 30% and
needed a parse fallback for every other shape, so it was not kept). A chunk that is read is
parsed whole; the middle of a stream is read only when a report needs its text (a report of a
stream without its final usage, or `report()`): readers.TailFirstSseUsageReader.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from gateway.domain.usage import Usage
from gateway.domain.usage_readers.base import StreamError, UsageReader
from gateway.domain.usage_readers.readers import (
    Accumulator,
    JsonUsageReader,
    TailFirstSseUsageReader,
    final_with_status,
    response_id_read,
)
from gateway.domain.usage_readers.scan import (
    JsonObject,
    as_int,
    get_dict,
    get_str,
    utf8_len,
)


class UsageKeys(NamedTuple):
    """The names of one API's usage fields: (prompt, prompt details, output, output details)."""

    prompt: str
    prompt_details: str
    output: str
    output_details: str


CHAT_KEYS = UsageKeys(
    "prompt_tokens", "prompt_tokens_details", "completion_tokens", "completion_tokens_details"
)
RESPONSES_KEYS = UsageKeys(
    "input_tokens", "input_tokens_details", "output_tokens", "output_tokens_details"
)


def openai_usage(raw: JsonObject, keys: UsageKeys) -> Usage:
    """Chat (CHAT_KEYS) or Responses (RESPONSES_KEYS) usage, in our meaning."""
    details = get_dict(raw, keys.prompt_details)
    cached = as_int(details.get("cached_tokens"))
    written = as_int(details.get("cache_write_tokens"))
    return Usage(
        input_tokens=max(as_int(raw.get(keys.prompt)) - cached - written, 0),
        output_tokens=as_int(raw.get(keys.output)),
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=as_int(get_dict(raw, keys.output_details).get("reasoning_tokens")),
    )


def error_of(value: Any) -> StreamError:
    """An OpenAI error object ({"message","type","code",...}) or a bare message."""
    if not isinstance(value, dict):
        return StreamError(type="error", message=str(value))
    code = value.get("code")
    kind = get_str(value, "type") or (str(code) if code is not None else "error")
    return StreamError(type=kind, message=get_str(value, "message") or "")


def on_chat_event(state: Accumulator, name: bytes | None, data: bytes) -> None:
    if data.startswith(b"[DONE]"):
        return
    obj = orjson.loads(data)
    if obj.get("error"):  # what the SDK raises on: a top-level, non-empty "error"
        state.stream_error = error_of(obj["error"])
        return
    raw = obj.get("usage")
    if raw:  # null on every chunk but the last of an include_usage stream
        state.usage = openai_usage(raw, CHAT_KEYS)
        state.final = True
    if state.response_id is None:
        state.response_id = get_str(obj, "id")
        state.response_model = get_str(obj, "model")
    # The hot path, kept lean: a chunk of another shape raises and is skipped by the reader.
    for choice in obj.get("choices") or ():
        delta = choice.get("delta")
        if delta:
            content = delta.get("content")
            if content:
                state.output_text_bytes += utf8_len(content)
            if "tool_calls" in delta:
                state.output_text_bytes += _tool_calls_bytes(delta["tool_calls"])
        text = choice.get("text")  # legacy completions
        if text:
            state.output_text_bytes += utf8_len(text)
        finish = choice.get("finish_reason")
        if finish and type(finish) is str:
            state.terminal_status = finish


def _tool_calls_bytes(calls: Any) -> int:
    total = 0
    for call in calls if isinstance(calls, list) else ():
        function = get_dict(call, "function") if isinstance(call, dict) else {}
        arguments = get_str(function, "arguments")
        total += utf8_len(arguments) if arguments else 0
    return total


def apply_chat(state: Accumulator, obj: JsonObject) -> None:
    """A non-streamed chat/completions answer."""
    raw = obj.get("usage")
    if isinstance(raw, dict):
        state.usage = openai_usage(raw, CHAT_KEYS)
        state.final = True
    state.response_id = get_str(obj, "id")
    state.response_model = get_str(obj, "model")
    choices = obj.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        if isinstance(choice, dict):
            state.output_text_bytes += _choice_bytes(choice)
            state.terminal_status = get_str(choice, "finish_reason") or state.terminal_status


def _choice_bytes(choice: JsonObject) -> int:
    text = get_str(choice, "text")  # legacy completions
    message = get_dict(choice, "message")
    content = get_str(message, "content")
    return (
        (utf8_len(text) if text else 0)
        + (utf8_len(content) if content else 0)
        + _tool_calls_bytes(message.get("tool_calls"))
    )


def apply_chat_json(state: Accumulator, obj: JsonObject) -> None:
    if obj.get("error"):  # an error envelope instead of an answer
        state.stream_error = error_of(obj["error"])
        return
    apply_chat(state, obj)


# A chunk sets the id and model (the first with an id), the usage and the finish reason (the
# last non-null of each, which the stream's end settles), an error, and text. Once the id is
# read, a chunk without an error adds text or what the end settles. (A real "error" member
# shows as `"error"`: inside a string value its quotes would be escaped.)
def _plain_chunk(name: bytes | None, data: bytes) -> bool:
    return b'"error"' not in data


def chat_sse_reader() -> UsageReader:
    return TailFirstSseUsageReader(
        on_chat_event,
        Accumulator(),
        may_defer=response_id_read,
        settled=final_with_status,
        plain=_plain_chunk,
    )


def chat_json_reader() -> UsageReader:
    return JsonUsageReader(apply_chat_json)
