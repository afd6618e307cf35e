"""The three request shapes every contender is measured on: Claude messages, OpenAI chat and
Gemini generateContent, non-streamed and streamed, as raw HTTP/1.1 request bytes.

Bodies are small (a one-line prompt), so the figures measure the relay's per-request cost, not
body copying. Each API sends its own native credential header, the way its SDK does.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

API_NAMES = ("claude", "openai", "gemini")
PROMPT = "Say hello in one short sentence, please."
GEMINI_MODEL = "gemini-2.5-flash"


@dataclass(frozen=True)
class ApiRequest:
    """One request kind: method, path (with query), headers and body."""

    api: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def raw(self, host: str, port: int, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
        """The full HTTP/1.1 request, keep-alive, ready to write on a socket."""
        lines = [f"POST {self.path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in (*self.headers, *extra)]
        lines += ["Content-Type: application/json", f"Content-Length: {len(self.body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def _claude(stream: bool, key: str) -> ApiRequest:
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": stream,
    }
    headers = (("x-api-key", key), ("anthropic-version", "2023-06-01"))
    return ApiRequest("claude", "/v1/messages", headers, orjson.dumps(body))


def _openai(stream: bool, key: str) -> ApiRequest:
    body: dict[str, object] = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": stream,
    }
    if stream:
        # What the OpenAI SDKs send when the caller wants usage; the upstream answers with it.
        body["stream_options"] = {"include_usage": True}
    headers = (("Authorization", f"Bearer {key}"),)
    return ApiRequest("openai", "/v1/chat/completions", headers, orjson.dumps(body))


def _gemini(stream: bool, key: str) -> ApiRequest:
    action = "streamGenerateContent?alt=sse" if stream else "generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
    path = f"/v1beta/models/{GEMINI_MODEL}:{action}"
    return ApiRequest("gemini", path, (("x-goog-api-key", key),), orjson.dumps(body))


_BUILDERS = {"claude": _claude, "openai": _openai, "gemini": _gemini}


def api_request(api: str, *, stream: bool = False, key: str = "bench-key") -> ApiRequest:
    return _BUILDERS[api](stream, key)


def stream_headers(chunks: int, delay_ms: int) -> tuple[tuple[str, str], ...]:
    """The fake provider's pacing controls: `chunks` text deltas, `delay_ms` apart."""
    return (("x-fake-chunks", str(chunks)), ("x-fake-chunk-delay-ms", str(delay_ms)))
