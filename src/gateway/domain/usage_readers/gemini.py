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
from gateway.domain.usage_readers.scan import JsonObject, as_int, get_str, utf8_len

_ZERO_FINAL_READER: Final = FixedUsageReader(UsageReport(final=True))


@dataclass(slots=True)
class GeminiState(Accumulator):
    finished: bool = False  # a finishReason or blockReason was seen
    # The last usageMetadata, converted at build(): nearly every chunk carries one, and only
    # the last one counts.
    raw_usage: JsonObject | None = None

    def build(self) -> UsageReport:
        if self.raw_usage is not None:
            self.usage = gemini_usage(self.raw_usage)
        return Accumulator.build(self)  # (zero-argument super() fails in slots dataclasses)


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


def on_response(state: GeminiState, obj: JsonObject) -> None:
    """One streamed GenerateContentResponse (an SSE event's, or an array element)."""
    raw, finish = _read(state, obj)
    state.finished = state.finished or finish is not None
    if raw is not None:
        state.raw_usage = raw
        state.final = state.final or state.finished


def on_sse_event(state: GeminiState, name: bytes | None, data: bytes) -> None:
    on_response(state, orjson.loads(data))


def apply_json(state: Accumulator, obj: JsonObject) -> None:
    """A non-streamed GenerateContentResponse: final when it has usageMetadata."""
    raw, _ = _read(state, obj)
    if raw is not None:
        state.usage = gemini_usage(raw)
        state.final = True


def _read(state: Accumulator, obj: JsonObject) -> tuple[JsonObject | None, str | None]:
    """Read one response into `state`; return its usageMetadata and finish (or block) reason.

    Kept lean for streams (one call per chunk): a response of an unexpected shape raises, and
    the reader skips it.
    """
    if obj.get("error"):
        state.stream_error = error_of(obj["error"])
        return None, None
    if state.response_id is None:
        state.response_id = get_str(obj, "responseId")
        state.response_model = get_str(obj, "modelVersion")
    finish = None
    for candidate in obj.get("candidates") or ():
        state.output_text_bytes += _parts_bytes(candidate.get("content"))
        finish = candidate.get("finishReason") or finish  # the last candidate's that has one
    if finish is None and "promptFeedback" in obj:
        finish = (obj["promptFeedback"] or {}).get("blockReason")
    if finish is not None:
        state.terminal_status = str(finish)
    raw = obj.get("usageMetadata")
    return (raw if isinstance(raw, dict) else None), finish


def _parts_bytes(content: Any) -> int:
    total = 0
    for part in (content.get("parts") or ()) if content else ():
        text = part.get("text")
        if text is not None:
            total += utf8_len(text)
        elif "functionCall" in part:
            total += len(orjson.dumps(part["functionCall"].get("args")))
    return total


def generate_sse_reader() -> UsageReader:
    # Not read from its end (readers.TailFirstSseUsageReader): measured, the server showed no
    # gain (docs/performance-history.md, seventeenth round).
    return SseUsageReader(on_sse_event, GeminiState())


def generate_array_reader() -> UsageReader:
    return JsonArrayUsageReader(on_response, GeminiState())


def generate_json_reader() -> UsageReader:
    return JsonUsageReader(apply_json)


def zero_final_reader() -> UsageReader:
    """countTokens (informational) and embeddings (no usage on the wire)."""
    return _ZERO_FINAL_READER
