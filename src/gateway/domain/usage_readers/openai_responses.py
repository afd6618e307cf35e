"""OpenAI Responses API usage, JSON and SSE (protocols.md 2.6); the mapping is in openai.py.

The stream has no `[DONE]`: `response.completed`, `response.incomplete` or `response.failed`
ends it, with the usage at `response.usage` (incomplete answers are billed like completed ones).
`terminal_status` is `response.status`. A terminal event makes the report final even when its
usage is null (seen on `response.failed`): the provider has closed the response and reported
no usage, and estimating one instead would bill the caller for the provider's failure.

Text bytes are counted from the `delta` strings of the text, refusal, reasoning and
tool-argument delta events, by parsing those events (measured as fast as a regex over the raw
bytes, and exact); other events are told apart by their `event:` name and cost no parse. The
deltas of a stream are read only when a report needs their text
(readers.TailFirstSseUsageReader).
"""

from __future__ import annotations

from typing import Any, Final

from gateway.domain.usage_readers.base import StreamError, UsageReader
from gateway.domain.usage_readers.openai import RESPONSES_KEYS, error_of, openai_usage
from gateway.domain.usage_readers.readers import (
    Accumulator,
    JsonUsageReader,
    TailFirstSseUsageReader,
    response_id_read,
)
from gateway.domain.usage_readers.scan import (
    JsonObject,
    event_type,
    get_dict,
    get_str,
    loads_object,
    utf8_len,
)

_DELTA_EVENTS: Final = frozenset(
    {
        b"response.output_text.delta",
        b"response.refusal.delta",
        b"response.reasoning_text.delta",
        b"response.reasoning_summary_text.delta",
        b"response.function_call_arguments.delta",
        b"response.custom_tool_call_input.delta",
    }
)
_TERMINAL_EVENTS: Final = frozenset(
    {b"response.completed", b"response.incomplete", b"response.failed"}
)
_ENDED: Final = frozenset({"completed", "incomplete", "failed", "cancelled"})
# Strings of output items that are generated text: message parts, refusals, tool arguments,
# reasoning summaries and reasoning text.
_ITEM_TEXT_KEYS: Final = ("text", "refusal", "arguments", "input")


def on_responses_event(state: Accumulator, name: bytes | None, data: bytes) -> None:
    kind = event_type(name, data)
    if kind in _DELTA_EVENTS:
        delta = (loads_object(data) or {}).get("delta")
        state.output_text_bytes += utf8_len(delta) if isinstance(delta, str) else 0
    elif kind in _TERMINAL_EVENTS:
        obj = loads_object(data)
        if obj is not None:
            apply_response(state, get_dict(obj, "response"))
            state.final = True
    elif kind == b"response.created":  # id and model early, for streams cut before the end
        response = get_dict(loads_object(data) or {}, "response")
        state.response_id = get_str(response, "id") or state.response_id
        state.response_model = get_str(response, "model") or state.response_model
    elif kind == b"error":
        # Flat: {"type":"error","code":..,"message":..}. Usage seen so far is kept.
        obj = loads_object(data)
        if obj is not None:
            state.stream_error = _coded_error(obj, "error")


def apply_response(state: Accumulator, response: JsonObject) -> None:
    """A Response object: the JSON answer, or the one inside a terminal event."""
    raw = response.get("usage")
    status = get_str(response, "status")
    if isinstance(raw, dict):
        state.usage = openai_usage(raw, RESPONSES_KEYS)
    # A background (`queued`/`in_progress`) answer is not over yet; any other one is.
    state.final = isinstance(raw, dict) or status in _ENDED
    state.terminal_status = status or state.terminal_status
    state.response_id = get_str(response, "id") or state.response_id
    state.response_model = get_str(response, "model") or state.response_model
    error = response.get("error")
    if isinstance(error, dict):  # response.failed: {"code","message"}
        state.stream_error = _coded_error(error, "failed")


def _coded_error(error: JsonObject, default: str) -> StreamError:
    """Responses errors name their kind in `code` (the flat event's `type` is just "error")."""
    code = error.get("code")
    return StreamError(type=str(code) if code else default, message=get_str(error, "message") or "")


def apply_response_json(state: Accumulator, obj: JsonObject) -> None:
    if "status" not in obj and obj.get("error"):  # an error envelope instead of a Response
        state.stream_error = error_of(obj["error"])
        return
    apply_response(state, obj)
    output = obj.get("output")
    if isinstance(output, list):
        state.output_text_bytes = sum(_item_bytes(item) for item in output)


def _item_bytes(item: Any) -> int:
    """Generated text in one output item and its content/summary parts (one level deep)."""
    if not isinstance(item, dict):
        return 0
    total = _strings_bytes(item)
    for key in ("content", "summary"):
        parts = item.get(key)
        for part in parts if isinstance(parts, list) else ():
            total += _strings_bytes(part) if isinstance(part, dict) else 0
    return total


def _strings_bytes(obj: JsonObject) -> int:
    total = 0
    for key in _ITEM_TEXT_KEYS:
        value = obj.get(key)
        if isinstance(value, str):
            total += utf8_len(value)
    return total


# Named events that add text or nothing: all but the terminal ones (each sets the usage, the
# status, the id and an error, keeping what it lacks: every one is read), response.created
# and error. An unnamed event is told by its payload: not plain.
_NOT_PLAIN: Final = _TERMINAL_EVENTS | {b"response.created", b"error"}


def _plain_event(name: bytes | None, data: bytes) -> bool:
    return name is not None and name not in _NOT_PLAIN


def _ended(state: Accumulator) -> bool:
    return state.final


def responses_sse_reader() -> UsageReader:
    return TailFirstSseUsageReader(
        on_responses_event,
        Accumulator(),
        may_defer=response_id_read,
        settled=_ended,
        plain=_plain_event,
    )


def responses_json_reader() -> UsageReader:
    return JsonUsageReader(apply_response_json)
