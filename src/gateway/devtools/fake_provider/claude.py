"""Anthropic Messages API: /v1/messages (JSON and SSE), count_tokens and the model list."""

from __future__ import annotations

from functools import lru_cache

from aiohttp import web

from gateway.devtools.fake_provider.dialects import CLAUDE
from gateway.devtools.fake_provider.endpoint import Call, endpoint
from gateway.devtools.fake_provider.respond import json_response, stream_response
from gateway.devtools.fake_provider.wire import (
    CREATED_ISO,
    Json,
    StreamBody,
    delta_text,
    dumps,
    full_text,
    model_of,
    sse_event,
)

DEFAULT_MODEL = "claude-sonnet-4-6"
INPUT_TOKENS = 10
CACHE_READ_TOKENS = 3
CACHE_WRITE_TOKENS = 2
MODELS = ("claude-opus-4-8", "claude-sonnet-4-6", "claude-haiku-4-5")
MESSAGE_ID = "msg_fake_01"

_COUNT_TOKENS_BODY = dumps({"input_tokens": INPUT_TOKENS})


def usage(output_tokens: int, service_tier: str = "standard") -> Json:
    return {
        "input_tokens": INPUT_TOKENS,
        "cache_creation_input_tokens": CACHE_WRITE_TOKENS,
        "cache_read_input_tokens": CACHE_READ_TOKENS,
        "cache_creation": {
            "ephemeral_5m_input_tokens": CACHE_WRITE_TOKENS,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": output_tokens,
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": service_tier,
    }


def message(
    model: str, chunks: int, *, message_id: str = MESSAGE_ID, service_tier: str = "standard"
) -> Json:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": full_text(chunks)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage(chunks, service_tier),
    }


@lru_cache(maxsize=256)
def _message_body(model: str, chunks: int) -> bytes:
    return dumps(message(model, chunks))


def _start_event(model: str) -> bytes:
    # message_start reports the input side in full but only a provisional output count of 1.
    start_usage: Json = {
        "input_tokens": INPUT_TOKENS,
        "cache_creation_input_tokens": CACHE_WRITE_TOKENS,
        "cache_read_input_tokens": CACHE_READ_TOKENS,
        "output_tokens": 1,
    }
    start: Json = {
        "id": MESSAGE_ID,
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": model,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    return sse_event("message_start", {"type": "message_start", "message": start})


def _delta_event(index: int) -> bytes:
    delta = {"type": "text_delta", "text": delta_text(index)}
    return sse_event(
        "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
    )


@lru_cache(maxsize=256)
def _message_stream(model: str, chunks: int, failing: bool) -> StreamBody:
    block = {"type": "text", "text": ""}
    head = [
        _start_event(model),
        sse_event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": block},
        ),
        sse_event("ping", {"type": "ping"}),
    ]
    if failing:
        # The HTTP status is already 200, so the error travels as an event and nothing follows it.
        error = b"event: error\ndata: " + CLAUDE.stream_error + b"\n\n"
        return StreamBody.of([*head, _delta_event(0), error])
    final_delta = {"stop_reason": "end_turn", "stop_sequence": None}
    tail = [
        sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse_event(
            "message_delta",
            {"type": "message_delta", "delta": final_delta, "usage": {"output_tokens": chunks}},
        ),
        sse_event("message_stop", {"type": "message_stop"}),
    ]
    return StreamBody.of([*head, *(_delta_event(i) for i in range(chunks)), *tail])


def _model_list() -> bytes:
    data = [
        {
            "type": "model",
            "id": model,
            "display_name": model.replace("-", " ").title(),
            "created_at": CREATED_ISO,
        }
        for model in MODELS
    ]
    return dumps({"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]})


MODEL_LIST_BODY = _model_list()


@endpoint(CLAUDE)
async def messages(call: Call) -> web.StreamResponse:
    model = model_of(call.json, DEFAULT_MODEL)
    chunks = call.controls.chunks
    if call.json.get("stream") is True:
        return await stream_response(
            call, _message_stream(model, chunks, call.controls.stream_error)
        )
    return json_response(call, _message_body(model, chunks))


@endpoint(CLAUDE)
async def count_tokens(call: Call) -> web.StreamResponse:
    return json_response(call, _COUNT_TOKENS_BODY)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/messages", messages)
    router.add_post("/v1/messages/count_tokens", count_tokens)
