"""Gemini API v1beta: models, generateContent, both stream framings, countTokens, embeddings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import lru_cache

from aiohttp import web

from gateway.devtools.fake_provider.dialects import GEMINI
from gateway.devtools.fake_provider.endpoint import Call, FakeError, endpoint
from gateway.devtools.fake_provider.json_mode import sample_of
from gateway.devtools.fake_provider.openai import DEFAULT_DIMENSIONS, MAX_DIMENSIONS, vector
from gateway.devtools.fake_provider.respond import json_response, stream_response
from gateway.devtools.fake_provider.wire import (
    JSON_CONTENT_TYPE,
    Json,
    StreamBody,
    delta_text,
    dumps,
    full_text,
)

PROMPT_TOKENS = 13
CACHED_TOKENS = 3
THOUGHTS_TOKENS = 2
MODELS = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash",
    "gemini-embedding-001",
)
_DEFAULT_PAGE_SIZE = 50
_MAX_PAGE_SIZE = 1000
_COUNT_TOKENS_BODY = dumps({"totalTokens": PROMPT_TOKENS})
_GENERATION_METHODS = ["generateContent", "streamGenerateContent", "countTokens"]
_EMBEDDING_METHODS = ["embedContent", "batchEmbedContents", "countTokens"]


def usage_metadata(candidates: int) -> Json:
    return {
        "promptTokenCount": PROMPT_TOKENS,
        "candidatesTokenCount": candidates,
        "totalTokenCount": PROMPT_TOKENS + candidates + THOUGHTS_TOKENS,
        "cachedContentTokenCount": CACHED_TOKENS,
        "thoughtsTokenCount": THOUGHTS_TOKENS,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": PROMPT_TOKENS}],
    }


def _chunk(model: str, text: str, candidates: int, *, final: bool) -> Json:
    candidate: Json = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if final:
        candidate["finishReason"] = "STOP"
    return {
        "candidates": [candidate],
        "usageMetadata": usage_metadata(candidates),
        "modelVersion": model,
        "responseId": "fake_response_01",
    }


@lru_cache(maxsize=256)
def _generate_body(model: str, chunks: int) -> bytes:
    return dumps(_chunk(model, full_text(chunks), chunks, final=True))


def _array_frames(payloads: list[bytes]) -> list[bytes]:
    # Exactly what the API sends without ?alt=sse: `[{...}\n,\r\n{...}\n]`, one element per read.
    frames = [
        (b"[" if i == 0 else b",\r\n") + payload + b"\n" for i, payload in enumerate(payloads)
    ]
    frames.append(b"]")
    return frames


def _json_answer(request: Json) -> str | None:
    """With `responseMimeType: application/json`, the answer's text: a JSON document that fits
    `responseJsonSchema` or `responseSchema` (json_mode.py); None otherwise."""
    config = request.get("generationConfig")
    if not isinstance(config, dict) or config.get("responseMimeType") != "application/json":
        return None
    schema = config.get("responseJsonSchema", config.get("responseSchema"))
    return dumps(sample_of(schema) if schema is not None else {}).decode()


@lru_cache(maxsize=256)
def _stream(model: str, chunks: int, sse: bool, failing: bool) -> StreamBody:
    count = 1 if failing else chunks
    payloads = [
        dumps(_chunk(model, delta_text(i), i + 1, final=not failing and i == count - 1))
        for i in range(count)
    ]
    if failing:
        payloads.append(GEMINI.stream_error)
    return _framed(payloads, sse)


def _framed(payloads: list[bytes], sse: bool) -> StreamBody:
    if sse:
        # Gemini ends SSE lines with CRLF; google-genai needs the space after `data:`.
        return StreamBody.of(b"data: " + payload + b"\r\n\r\n" for payload in payloads)
    return StreamBody.of(_array_frames(payloads), JSON_CONTENT_TYPE)


def _model_info(model: str) -> Json:
    embedding = "embedding" in model
    methods = _EMBEDDING_METHODS if embedding else _GENERATION_METHODS
    return {
        "name": f"models/{model}",
        "baseModelId": model,
        "version": "001",
        "displayName": model.replace("-", " ").title(),
        "description": f"Fake {model} served by the gateway's fake provider.",
        "inputTokenLimit": 1_048_576,
        "outputTokenLimit": 65_536,
        "supportedGenerationMethods": methods,
        "temperature": 1.0,
        "maxTemperature": 2.0,
        "topP": 0.95,
        "topK": 64,
        "thinking": not embedding,
    }


def _page_bounds(request: web.Request) -> tuple[int, int]:
    try:
        size = int(request.query.get("pageSize", _DEFAULT_PAGE_SIZE))
        start = int(request.query.get("pageToken") or 0)
    except ValueError as exc:
        raise FakeError(400, "pageSize and pageToken must be integers") from exc
    size = _DEFAULT_PAGE_SIZE if size <= 0 else min(size, _MAX_PAGE_SIZE)
    return max(start, 0), size


@endpoint(GEMINI)
async def list_models(call: Call) -> web.StreamResponse:
    start, size = _page_bounds(call.request)
    end = start + size
    listing: Json = {"models": [_model_info(model) for model in MODELS[start:end]]}
    if end < len(MODELS):
        listing["nextPageToken"] = str(end)  # absent on the last page, as the API does
    return json_response(call, dumps(listing))


def _dimensions(request: Json) -> int:
    value = request.get("outputDimensionality")
    return value if isinstance(value, int) and 1 <= value <= MAX_DIMENSIONS else DEFAULT_DIMENSIONS


async def _generate(call: Call, model: str) -> web.StreamResponse:
    chunks = call.controls.chunks
    answer = _json_answer(call.json)
    if answer is not None:
        return json_response(call, dumps(_chunk(model, answer, chunks, final=True)))
    return json_response(call, _generate_body(model, chunks))


async def _stream_generate(call: Call, model: str) -> web.StreamResponse:
    sse = call.request.query.get("alt") == "sse"
    controls = call.controls
    answer = _json_answer(call.json)
    if answer is not None and not controls.stream_error:  # the document in one chunk
        payload = dumps(_chunk(model, answer, controls.chunks, final=True))
        return await stream_response(call, _framed([payload], sse))
    return await stream_response(call, _stream(model, controls.chunks, sse, controls.stream_error))


async def _count_tokens(call: Call, model: str) -> web.StreamResponse:
    return json_response(call, _COUNT_TOKENS_BODY)


async def _embed(call: Call, model: str) -> web.StreamResponse:
    values = vector(0, _dimensions(call.json))
    return json_response(call, dumps({"embedding": {"values": values}}))


async def _batch_embed(call: Call, model: str) -> web.StreamResponse:
    requests = call.json.get("requests")
    if not isinstance(requests, list) or not requests:
        raise FakeError(400, "requests: must be a non-empty list")
    embeddings = [
        {"values": vector(i, _dimensions(item) if isinstance(item, dict) else DEFAULT_DIMENSIONS)}
        for i, item in enumerate(requests)
    ]
    return json_response(call, dumps({"embeddings": embeddings}))


_ACTIONS: dict[str, Callable[[Call, str], Awaitable[web.StreamResponse]]] = {
    "generateContent": _generate,
    "streamGenerateContent": _stream_generate,
    "countTokens": _count_tokens,
    "embedContent": _embed,
    "batchEmbedContents": _batch_embed,
}


@endpoint(GEMINI)
async def model_route(call: Call) -> web.StreamResponse:
    """`/v1beta/models/{tail}`: model and action share one segment; split on the last ':'."""
    tail = call.request.match_info["tail"]
    model, colon, action = tail.rpartition(":")
    if not colon:
        if call.request.method != "GET":
            raise FakeError(404, f"no action in {tail!r}")
        return json_response(call, dumps(_model_info(tail)))
    handler = _ACTIONS.get(action)
    if handler is None or call.request.method != "POST":
        raise FakeError(404, f"unknown method {action!r} for models/{model}")
    return await handler(call, model)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1beta/models", list_models)
    router.add_route("*", "/v1beta/models/{tail}", model_route)
    # The API also serves v1, which recent google-genai releases default to. Only POST is
    # aliased: GET /v1/models/{id} belongs to OpenAI.
    router.add_post("/v1/models/{tail}", model_route)
