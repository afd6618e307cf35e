"""Micro-benchmark of the usage readers: cost per stream and per chunk.

Run: PYTHONPATH=src python bench/usage_readers_bench.py [rounds]

Streams: Claude Messages with 64 text deltas, OpenAI chat with 64 chunks (usage included), and
64 Gemini answers both as alt=sse frames and as one streamed JSON array. Each stream is fed one
event per chunk (the way upstreams usually flush), through a fresh reader, then report() is
called; the best of 20 short runs is shown (shared machines are noisy). The OpenAI stream also
goes through the filter that hides the usage the gateway asked for. Also times the two ways of
counting text bytes in a Claude content_block_delta and an OpenAI chunk (one regex pass over the
raw payload vs orjson.loads and a dict walk), the basis of the choice documented in claude.py
and openai.py.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable

import orjson

from gateway.application.openai_usage_filter import OpenAIUsageChunkFilter
from gateway.domain.provider import Operation, Provider
from gateway.domain.usage_readers import BodyFraming, usage_reader_for
from gateway.domain.usage_readers.sse import SseParser

DELTAS = 64
REPEATS = 20
WORDS = ["Hello", " world", ",", " this", " is", " a", " token", " stream", " é", "\\n"]


def claude_stream() -> list[bytes]:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-5",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 472, "cache_read_input_tokens": 0, "output_tokens": 2},
        },
    }
    chunks = [_event(b"message_start", orjson.dumps(start))]
    chunks.append(
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n'
    )
    chunks.append(b'event: ping\ndata: {"type": "ping"}\n\n')
    for i in range(DELTAS):
        word = WORDS[i % len(WORDS)]
        chunks.append(
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"' + word.encode() + b'"}}\n\n'
        )
    chunks.append(b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n')
    chunks.append(
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
        b'"stop_sequence":null},"usage":{"output_tokens":70}}\n\n'
    )
    chunks.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    return chunks


def openai_stream() -> list[bytes]:
    head = (
        b'{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
        b'"created":1741570283,"model":"gpt-4o-2024-08-06","service_tier":"default",'
        b'"system_fingerprint":"fp_eb9dce56a8",'
    )
    chunks = [
        _data(
            head + b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
            b'"logprobs":null,"finish_reason":null}],"usage":null}'
        )
    ]
    for i in range(DELTAS - 4):
        word = WORDS[i % len(WORDS)].encode()
        chunks.append(
            _data(
                head
                + b'"choices":[{"index":0,"delta":{"content":"'
                + word
                + b'"},"logprobs":null,"finish_reason":null}],"usage":null}'
            )
        )
    chunks.append(
        _data(
            head + b'"choices":[{"index":0,"delta":{},"logprobs":null,'
            b'"finish_reason":"stop"}],"usage":null}'
        )
    )
    chunks.append(
        _data(
            head + b'"choices":[],"usage":{"prompt_tokens":19,"completion_tokens":60,'
            b'"total_tokens":79,"prompt_tokens_details":{"cached_tokens":3},'
            b'"completion_tokens_details":{"reasoning_tokens":0}}}'
        )
    )
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def gemini_array_stream() -> list[bytes]:
    """A pretty-printed streamGenerateContent array (no alt=sse), one element per chunk."""
    elements = []
    for i in range(DELTAS):
        element = {
            "candidates": [
                {
                    "content": {"parts": [{"text": WORDS[i % len(WORDS)] * 3}], "role": "model"},
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 10,
                "candidatesTokenCount": i,
                "totalTokenCount": 10 + i,
            },
            "modelVersion": "gemini-2.5-flash",
            "responseId": "kJ8RaOTxLs2wnvgPuYfU4Ak",
        }
        elements.append(json.dumps(element, indent=2).encode())
    chunks = [b"[" + elements[0]]
    chunks.extend(b"\n,\r\n" + element for element in elements[1:])
    chunks.append(b"\n]")
    return chunks


def gemini_sse_stream() -> list[bytes]:
    """The same answers as alt=sse frames: compact JSON, CRLF line ends."""
    elements = [json.loads(chunk.lstrip(b"[\n,\r")) for chunk in gemini_array_stream()[:-1]]
    return [
        b"data: " + json.dumps(e, separators=(",", ":")).encode() + b"\r\n\r\n" for e in elements
    ]


class AsReader:
    """Something fed chunk by chunk, shaped like a reader for time_stream."""

    def __init__(self, feed: Callable[[bytes], object], end: Callable[[], object]) -> None:
        self.feed = feed
        self.report = end


def splitter_only() -> AsReader:
    """The SSE splitter alone."""
    parser = SseParser()
    return AsReader(parser.feed, parser.pending)


def filter_only() -> AsReader:
    """The OpenAI usage-chunk filter (what a client that did not ask for usage gets)."""
    stream_filter = OpenAIUsageChunkFilter()
    return AsReader(stream_filter.feed, stream_filter.flush)


def _event(name: bytes, data: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


def _data(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"


def time_stream(chunks: list[bytes], make: Callable[[], object], rounds: int) -> float:
    """Microseconds per stream (fresh reader, every chunk fed, one report)."""
    best = float("inf")
    batch = max(1, rounds // REPEATS)
    for _ in range(REPEATS):  # the best of many short runs: shared machines are noisy
        started = time.perf_counter_ns()
        for _ in range(batch):
            reader = make()
            for chunk in chunks:
                reader.feed(chunk)  # type: ignore[attr-defined]
            reader.report()  # type: ignore[attr-defined]
        best = min(best, (time.perf_counter_ns() - started) / batch / 1000)
    return best


def time_call(call: Callable[[], object], rounds: int) -> float:
    best = float("inf")
    batch = max(1, rounds // REPEATS)
    for _ in range(REPEATS):
        started = time.perf_counter_ns()
        for _ in range(batch):
            call()
        best = min(best, (time.perf_counter_ns() - started) / batch / 1000)
    return best


# The byte-level alternative to parsing: one regex pass picking the string fields out.
_CLAUDE_TEXT = re.compile(rb'"(?:text|thinking|partial_json)"\s*:\s*"((?:[^"\\]++|\\.)*+)"')
_CHAT_TEXT = re.compile(
    rb'"(content|text|arguments|finish_reason|usage|error)"\s*:\s*'
    rb'(?:"((?:[^"\\]++|\\.)*+)"|(\{))'
)
CLAUDE_DELTA = (
    b'{"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"Hello, this is a token stream"}}'
)


def _claude_by_regex() -> int:
    return sum(len(raw) for raw in _CLAUDE_TEXT.findall(CLAUDE_DELTA))


def _claude_by_parse() -> int:
    delta = orjson.loads(CLAUDE_DELTA)["delta"]
    for key in ("text", "thinking", "partial_json"):
        if isinstance(delta.get(key), str):
            return len(delta[key].encode())
    return 0


def _chat_by_regex(data: bytes) -> int:
    return sum(len(raw) for key, raw, _ in _CHAT_TEXT.findall(data) if key != b"finish_reason")


def _chat_by_parse(data: bytes) -> int:
    total = 0
    for choice in orjson.loads(data)["choices"]:
        content = choice["delta"].get("content")
        total += len(content.encode()) if content else 0
    return total


def compare_text_counting(chat_chunk: bytes, rounds: int) -> None:
    data = chat_chunk[len(b"data: ") : -2]
    rows = [
        ("claude delta", _claude_by_regex, _claude_by_parse),
        ("openai chunk", lambda: _chat_by_regex(data), lambda: _chat_by_parse(data)),
    ]
    for name, by_regex, by_parse in rows:
        regex_us = time_call(by_regex, rounds * 50)
        parse_us = time_call(by_parse, rounds * 50)
        print(f"{name} text bytes: regex {regex_us:.2f} us, orjson.loads+walk {parse_us:.2f} us")


def report_stream(name: str, chunks: list[bytes], make: Callable[[], object], rounds: int) -> None:
    per_stream = time_stream(chunks, make, rounds)
    size = sum(map(len, chunks))
    print(
        f"{name}: {len(chunks)} chunks, {size} bytes: {per_stream:.1f} us/stream, "
        f"{per_stream / len(chunks):.2f} us/chunk"
    )


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = max(1, min(rounds, 100_000))
    claude, openai = claude_stream(), openai_stream()
    report_stream("sse splitter only (claude)", claude, splitter_only, rounds)
    report_stream(
        "claude messages sse",
        claude,
        lambda: usage_reader_for(Provider.CLAUDE, Operation.MESSAGES, BodyFraming.SSE),
        rounds,
    )
    report_stream(
        "openai chat sse",
        openai,
        lambda: usage_reader_for(Provider.OPENAI, Operation.CHAT_COMPLETIONS, BodyFraming.SSE),
        rounds,
    )
    report_stream("openai usage-chunk filter", openai, filter_only, rounds)
    report_stream(
        "gemini sse (crlf)",
        gemini_sse_stream(),
        lambda: usage_reader_for(
            Provider.GEMINI, Operation.STREAM_GENERATE_CONTENT, BodyFraming.SSE
        ),
        rounds,
    )
    report_stream(
        "gemini array stream",
        gemini_array_stream(),
        lambda: usage_reader_for(
            Provider.GEMINI, Operation.STREAM_GENERATE_CONTENT, BodyFraming.JSON_ARRAY_STREAM
        ),
        rounds,
    )
    compare_text_counting(openai[1], rounds)


if __name__ == "__main__":
    main()
