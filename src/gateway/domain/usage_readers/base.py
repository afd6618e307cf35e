"""The reader contract and what a reader reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from gateway.domain.usage import ZERO_USAGE, Usage


class BodyFraming(StrEnum):
    JSON = "json"  # one JSON document (non-streamed responses)
    SSE = "sse"  # text/event-stream
    JSON_ARRAY_STREAM = "json_array_stream"  # Gemini streamGenerateContent without alt=sse
    JSONL = "jsonl"  # Claude batch results


@dataclass(frozen=True, slots=True)
class StreamError:
    """An error the provider reported inside a 200 response (an SSE `error` event and the like)."""

    type: str
    message: str


@dataclass(frozen=True, slots=True)
class UsageReport:
    usage: Usage = ZERO_USAGE
    # True once the provider's final usage was seen (message_delta / the usage chunk /
    # response.completed|incomplete|failed / the last usageMetadata of a finished stream).
    final: bool = False
    # Terminal state the body itself declared, e.g. "completed", "incomplete", "failed"
    # (Responses API), "end_turn" (Claude stop_reason), "STOP" (Gemini finishReason); else None.
    terminal_status: str | None = None
    stream_error: StreamError | None = None
    # UTF-8 bytes of generated text seen so far (text, thinking, tool-call arguments); the basis for
    # estimating output of a stream that ended before its final usage.
    output_text_bytes: int = 0
    response_id: str | None = None
    response_model: str | None = None


class UsageReader(Protocol):
    def feed(self, chunk: bytes) -> None:
        """Take the next piece of the body. Never raises on malformed input: it is ignored."""
        ...

    def report(self, *, text_when_final: bool = True) -> UsageReport:
        """What has been seen so far.

        `text_when_final=False` lets a reader leave `output_text_bytes` short when the report is
        final: the text only serves the estimate of a body without its final usage, so a reader
        may then skip the events that carry nothing else. Every other field is the same either
        way, and a report that is not final always counts all of the text."""
        ...
