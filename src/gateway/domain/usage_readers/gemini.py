"""Gemini (generativelanguage v1beta) usage (protocols.md 3.3-3.4, 6).

Mapping (contract "Usage, one meaning"):
- cache_read = `cachedContentTokenCount` (a subset of `promptTokenCount`);
- input = `promptTokenCount - cachedContentTokenCount + toolUsePromptTokenCount`: tool-use
  prompt tokens (e.g. search results fed back to the model) are prompt tokens billed at the
  input rate but are *not* in `promptTokenCount` (protocols.md 3.3, 6), so they are added;
  with them the total equals Gemini's own `totalTokenCount`;
- output = `candidatesTokenCount + thoughtsTokenCount` (thoughts are not in candidates);
- reasoning = `thoughtsTokenCount`; cache_write = 0 (Gemini reports no cache writes).

Streams (SSE with `alt=sse`, or one streamed JSON array without it) carry a whole
GenerateContentResponse per chunk, usually each with `usageMetadata`: the *last* one seen is
the usage (never a sum). It is final once it was seen with or after a `finishReason` (or a
`promptFeedback.blockReason`, which ends a stream with no candidates). Every chunk is parsed: each
carries both text to count and (usually) usageMetadata, so no pre-filter would skip any.
countTokens is informational (zero usage); embedContent/batchEmbedContents answers carry no
usage on the wire (only embeddings), so they report zero usage too, final.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from gateway.domain.usage import Usage
from gateway.domain.usage_readers.base import StreamError, UsageReader, UsageReport
from gateway.domain.usage_readers.readers import (
    Accumulator,
    FixedUsageReader,
    JsonArrayUsageReader,
    JsonUsageReader,
    SseUsageReader,
)
from gateway.domain.usage_readers.scan import (
    JsonObject,
    as_int,
    get_dict,
    get_str,
    loads_object,
    utf8_len,
)

_ZERO_FINAL_READER: Final = FixedUsageReader(UsageReport(final=True))


@dataclass(slots=True)
class GeminiState(Accumulator):
    finished: bool = False  # a finishReason or blockReason was seen


def gemini_usage(raw: JsonObject) -> Usage:
    prompt = as_int(raw.get("promptTokenCount"))
    cached = as_int(raw.get("cachedContentTokenCount"))
    thoughts = as_int(raw.get("thoughtsTokenCount"))
    return Usage(
        input_tokens=max(prompt - cached, 0) + as_int(raw.get("toolUsePromptTokenCount")),
        output_tokens=as_int(raw.get("candidatesTokenCount")) + thoughts,
        cache_read_tokens=cached,
        reasoning_tokens=thoughts,
    )


def error_of(value: Any) -> StreamError:
    """{"code","message","status"}: the status names the kind, the code stands in for it."""
    if not isinstance(value, dict):
        return StreamError(type="error", message=str(value))
    code = value.get("code")
    kind = get_str(value, "status") or (str(code) if code is not None else "error")
    return StreamError(type=kind, message=get_str(value, "message") or "")


def on_chunk(state: GeminiState, data: bytes) -> None:
    """One streamed GenerateContentResponse (an SSE data payload or an array element)."""
    obj = loads_object(data)
    if obj is None:
        return
    has_usage, finished = _apply(state, obj)
    state.finished = state.finished or finished
    if has_usage and state.finished:
        state.final = True


def on_sse_event(state: GeminiState, name: bytes | None, data: bytes) -> None:
    on_chunk(state, data)


def apply_json(state: Accumulator, obj: JsonObject) -> None:
    """A non-streamed GenerateContentResponse: final when it has usageMetadata."""
    state.final, _ = _apply(state, obj)


def _apply(state: Accumulator, obj: JsonObject) -> tuple[bool, bool]:
    """Read one response into `state`: (it had usageMetadata, it had a finish or block reason)."""
    if obj.get("error"):
        state.stream_error = error_of(obj["error"])
        return False, False
    state.response_id = get_str(obj, "responseId") or state.response_id
    state.response_model = get_str(obj, "modelVersion") or state.response_model
    candidates = obj.get("candidates")
    candidates = candidates if isinstance(candidates, list) else []
    finish = _finish_reason(candidates) or get_str(get_dict(obj, "promptFeedback"), "blockReason")
    state.terminal_status = finish or state.terminal_status
    state.output_text_bytes += sum(_candidate_bytes(c) for c in candidates)
    raw = obj.get("usageMetadata")
    if isinstance(raw, dict):
        state.usage = gemini_usage(raw)
    return isinstance(raw, dict), finish is not None


def _finish_reason(candidates: list[Any]) -> str | None:
    """The finishReason of the last candidate that has one."""
    for candidate in reversed(candidates):
        reason = get_str(candidate, "finishReason") if isinstance(candidate, dict) else None
        if reason is not None:
            return reason
    return None


def _candidate_bytes(candidate: Any) -> int:
    if not isinstance(candidate, dict):
        return 0
    parts = get_dict(candidate, "content").get("parts")
    total = 0
    for part in parts if isinstance(parts, list) else ():
        if not isinstance(part, dict):
            continue
        text = get_str(part, "text")
        if text is not None:
            total += utf8_len(text)
        elif isinstance(part.get("functionCall"), dict):
            total += len(orjson.dumps(part["functionCall"].get("args")))
    return total


def generate_sse_reader() -> UsageReader:
    return SseUsageReader(on_sse_event, GeminiState())


def generate_array_reader() -> UsageReader:
    return JsonArrayUsageReader(on_chunk, GeminiState())


def generate_json_reader() -> UsageReader:
    return JsonUsageReader(apply_json)


def zero_final_reader() -> UsageReader:
    """countTokens (informational) and embeddings (no usage on the wire)."""
    return _ZERO_FINAL_READER
