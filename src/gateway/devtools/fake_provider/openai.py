"""OpenAI chat/completions, legacy completions, embeddings and the model list."""

from __future__ import annotations

import base64
import struct
from functools import lru_cache

from aiohttp import web

from gateway.devtools.fake_provider import claude
from gateway.devtools.fake_provider.dialects import CLAUDE, OPENAI
from gateway.devtools.fake_provider.endpoint import Call, FakeError, endpoint
from gateway.devtools.fake_provider.respond import json_response, stream_response
from gateway.devtools.fake_provider.state import STATE
from gateway.devtools.fake_provider.wire import (
    CREATED,
    Json,
    StreamBody,
    delta_text,
    dumps,
    full_text,
    model_of,
    sse_data,
)

DEFAULT_CHAT_MODEL = "gpt-4o-mini"
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
PROMPT_TOKENS = 13
CACHED_TOKENS = 3
REASONING_TOKENS = 1
EMBEDDING_TOKENS_PER_INPUT = 5
DEFAULT_DIMENSIONS = 16
MAX_DIMENSIONS = 4096
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-5", DEFAULT_EMBEDDING_MODEL)

_DONE = b"data: [DONE]\n\n"
_STREAM_ERROR = sse_data(OPENAI.stream_error)


def usage(completion_tokens: int) -> Json:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": completion_tokens,
        "total_tokens": PROMPT_TOKENS + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": REASONING_TOKENS,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_choice(delta: Json, finish_reason: str | None = None) -> Json:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _text_choice(text: str, finish_reason: str | None = None) -> Json:
    return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}


class _Flavor:
    """What differs between chat and legacy completions: ids, object names, choice shapes."""

    def __init__(self, *, chat: bool) -> None:
        self.chat = chat
        self.id = "chatcmpl-fake01" if chat else "cmpl-fake01"
        self.object = "chat.completion" if chat else "text_completion"
        self.chunk_object = "chat.completion.chunk" if chat else "text_completion"

    def full_choice(self, chunks: int) -> Json:
        if not self.chat:
            return _text_choice(full_text(chunks), "stop")
        content = {"role": "assistant", "content": full_text(chunks), "refusal": None}
        return {"index": 0, "message": content, "logprobs": None, "finish_reason": "stop"}

    def opening(self) -> list[Json]:
        # Chat opens with a role-only delta; legacy completions go straight to text.
        return (
            [_chat_choice({"role": "assistant", "content": "", "refusal": None})]
            if self.chat
            else []
        )

    def delta(self, index: int) -> Json:
        text = delta_text(index)
        return _chat_choice({"content": text}) if self.chat else _text_choice(text)

    def finish(self) -> Json:
        return _chat_choice({}, "stop") if self.chat else _text_choice("", "stop")


CHAT = _Flavor(chat=True)
LEGACY = _Flavor(chat=False)


@lru_cache(maxsize=256)
def _completion_body(flavor: _Flavor, model: str, chunks: int) -> bytes:
    return dumps(
        {
            "id": flavor.id,
            "object": flavor.object,
            "created": CREATED,
            "model": model,
            "choices": [flavor.full_choice(chunks)],
            "usage": usage(chunks),
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
    )


@lru_cache(maxsize=512)
def _completion_stream(
    flavor: _Flavor, model: str, chunks: int, include_usage: bool, failing: bool
) -> StreamBody:
    def frame(choices: list[Json], chunk_usage: Json | None = None) -> bytes:
        chunk: Json = {
            "id": flavor.id,
            "object": flavor.chunk_object,
            "created": CREATED,
            "model": model,
            "system_fingerprint": "fp_fake",
            "choices": choices,
        }
        # With include_usage every chunk carries the key, null except on the last one.
        if include_usage:
            chunk["usage"] = chunk_usage
        return sse_data(chunk)

    head = [frame([choice]) for choice in flavor.opening()]
    if failing:
        return StreamBody.of([*head, frame([flavor.delta(0)]), _STREAM_ERROR])
    body = [frame([flavor.delta(i)]) for i in range(chunks)]
    tail = [frame([flavor.finish()])]
    if include_usage:
        tail.append(frame([], usage(chunks)))
    return StreamBody.of([*head, *body, *tail, _DONE])


async def _complete(call: Call, flavor: _Flavor) -> web.StreamResponse:
    model = model_of(call.json, DEFAULT_CHAT_MODEL)
    chunks = call.controls.chunks
    if call.json.get("stream") is not True:
        return json_response(call, _completion_body(flavor, model, chunks))
    options = call.json.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    body = _completion_stream(flavor, model, chunks, include_usage, call.controls.stream_error)
    return await stream_response(call, body)


@endpoint(OPENAI)
async def chat_completions(call: Call) -> web.StreamResponse:
    return await _complete(call, CHAT)


@endpoint(OPENAI)
async def completions(call: Call) -> web.StreamResponse:
    return await _complete(call, LEGACY)


def vector(index: int, dimensions: int) -> list[float]:
    """Deterministic values that float32 represents exactly, so base64 and floats agree."""
    return [((index * 7 + j) % 32 + 1) / 32 for j in range(dimensions)]


@lru_cache(maxsize=1024)
def _encoded_vector(index: int, dimensions: int) -> str:
    packed = struct.pack(f"<{dimensions}f", *vector(index, dimensions))
    return base64.b64encode(packed).decode("ascii")


def _input_count(value: object) -> int:
    if isinstance(value, str):
        return 1
    if isinstance(value, list) and value:
        # A flat list of ints is ONE tokenized input; anything else is one input per item.
        return 1 if all(isinstance(item, int) for item in value) else len(value)
    raise FakeError(400, "input: expected a string, an array of strings or token arrays")


def _dimensions(value: object) -> int:
    if isinstance(value, int) and 1 <= value <= MAX_DIMENSIONS:
        return value
    return DEFAULT_DIMENSIONS


@lru_cache(maxsize=256)
def _embeddings_body(model: str, count: int, dimensions: int, as_base64: bool) -> bytes:
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": _encoded_vector(i, dimensions) if as_base64 else vector(i, dimensions),
        }
        for i in range(count)
    ]
    tokens = EMBEDDING_TOKENS_PER_INPUT * count
    embedding_usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return dumps({"object": "list", "data": data, "model": model, "usage": embedding_usage})


@endpoint(OPENAI)
async def embeddings(call: Call) -> web.StreamResponse:
    body = call.json
    count = _input_count(body.get("input"))
    dimensions = _dimensions(body.get("dimensions"))
    as_base64 = body.get("encoding_format") == "base64"
    model = model_of(body, DEFAULT_EMBEDDING_MODEL)
    return json_response(call, _embeddings_body(model, count, dimensions, as_base64))


_OPENAI_MODEL_LIST = dumps(
    {
        "object": "list",
        "data": [
            {"id": model, "object": "model", "created": CREATED, "owned_by": "openai"}
            for model in MODELS
        ],
    }
)


def _wants_anthropic_list(request: web.Request) -> bool:
    """Anthropic's own API lists its models to any Claude client (`anthropic-version`). new-api
    serves both formats on one path and answers Claude's only to x-api-key with it."""
    headers = request.headers
    if "anthropic-version" not in headers:
        return False
    return "x-api-key" in headers or not request.app[STATE].new_api


@endpoint(lambda request: CLAUDE if _wants_anthropic_list(request) else OPENAI)
async def models(call: Call) -> web.StreamResponse:
    body = claude.MODEL_LIST_BODY if call.dialect is CLAUDE else _OPENAI_MODEL_LIST
    return json_response(call, body)


@endpoint(OPENAI)
async def model_info(call: Call) -> web.StreamResponse:
    model = call.request.match_info["tail"]
    return json_response(
        call, dumps({"id": model, "object": "model", "created": 1700000000, "owned_by": "fake"})
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/chat/completions", chat_completions)
    router.add_post("/chat/completions", chat_completions)
    router.add_post("/v1/completions", completions)
    router.add_post("/v1/embeddings", embeddings)
