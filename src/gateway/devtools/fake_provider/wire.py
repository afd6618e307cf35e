"""Byte-level building blocks shared by every dialect: JSON, SSE frames and the fake text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

JSON_CONTENT_TYPE = "application/json"
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
JSONL_CONTENT_TYPE = "application/x-jsonl"

# A fixed creation time keeps every cached body byte-identical across runs.
CREATED = 1_750_000_000
CREATED_ISO = "2025-06-15T15:06:40Z"

Json = dict[str, Any]


def dumps(payload: Any) -> bytes:
    return orjson.dumps(payload)


def sse_event(event: str, payload: Json) -> bytes:
    """One event with an `event:` line, the framing Anthropic and the Responses API use."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def sse_data(payload: Json | bytes) -> bytes:
    """One bare `data:` event, the framing OpenAI chat and legacy completions use."""
    data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    return b"data: " + data + b"\n\n"


def delta_text(index: int) -> str:
    return f"tok{index} "


def full_text(chunks: int) -> str:
    return "".join(delta_text(i) for i in range(chunks))


@dataclass(frozen=True, slots=True)
class StreamBody:
    """A precomputed stream: its frames one by one, and all of them joined for the fast path."""

    frames: tuple[bytes, ...]
    joined: bytes
    content_type: str

    @classmethod
    def of(cls, frames: Iterable[bytes], content_type: str = SSE_CONTENT_TYPE) -> StreamBody:
        parts = tuple(frames)
        return cls(parts, b"".join(parts), content_type)


def model_of(body: Json, default: str) -> str:
    model = body.get("model")
    return model if isinstance(model, str) and model else default
