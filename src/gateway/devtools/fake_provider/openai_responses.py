"""OpenAI Responses API (protocols.md 2.6): a response object, or SSE ending in a terminal event."""

from __future__ import annotations

from functools import lru_cache

from aiohttp import web

from gateway.devtools.fake_provider.dialects import OPENAI
from gateway.devtools.fake_provider.endpoint import Call, endpoint
from gateway.devtools.fake_provider.openai import CACHED_TOKENS, PROMPT_TOKENS, REASONING_TOKENS
from gateway.devtools.fake_provider.respond import json_response, stream_response
from gateway.devtools.fake_provider.wire import (
    CREATED,
    Json,
    StreamBody,
    delta_text,
    dumps,
    full_text,
    model_of,
    sse_event,
)

DEFAULT_MODEL = "gpt-5"
RESPONSE_ID = "resp_fake_01"
ITEM_ID = "msg_fake_01"
_FAILURE = {"code": "server_error", "message": "The server had an error processing your request."}


def usage(output_tokens: int) -> Json:
    return {
        "input_tokens": PROMPT_TOKENS,
        "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": REASONING_TOKENS},
        "total_tokens": PROMPT_TOKENS + output_tokens,
    }


def _part(text: str) -> Json:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _item(text: str | None, status: str) -> Json:
    content = [] if text is None else [_part(text)]
    return {
        "type": "message",
        "id": ITEM_ID,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def response_object(
    model: str, status: str, output: list[Json], response_usage: Json | None
) -> Json:
    return {
        "id": RESPONSE_ID,
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": model,
        "output": output,
        "error": _FAILURE if status == "failed" else None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "text": {"format": {"type": "text"}},
        "usage": response_usage,
    }


@lru_cache(maxsize=256)
def _response_body(model: str, chunks: int) -> bytes:
    output = [_item(full_text(chunks), "completed")]
    return dumps(response_object(model, "completed", output, usage(chunks)))


def _opening(model: str) -> list[tuple[str, Json]]:
    pending = response_object(model, "in_progress", [], None)
    where = {"item_id": ITEM_ID, "output_index": 0, "content_index": 0}
    return [
        ("response.created", {"response": pending}),
        ("response.in_progress", {"response": pending}),
        ("response.output_item.added", {"output_index": 0, "item": _item(None, "in_progress")}),
        ("response.content_part.added", {**where, "part": _part("")}),
    ]


def _delta(index: int) -> tuple[str, Json]:
    where = {"item_id": ITEM_ID, "output_index": 0, "content_index": 0}
    return ("response.output_text.delta", {**where, "delta": delta_text(index), "logprobs": []})


def _closing(model: str, chunks: int, end: str) -> list[tuple[str, Json]]:
    if end == "failed":
        # A failure reports what was generated so far, so the gateway can still bill it.
        return [
            ("response.failed", {"response": response_object(model, "failed", [], usage(chunks))})
        ]
    text = full_text(chunks)
    item_status = "incomplete" if end == "incomplete" else "completed"
    item = _item(text, item_status)
    where = {"item_id": ITEM_ID, "output_index": 0, "content_index": 0}
    final = response_object(model, end, [item], usage(chunks))
    return [
        ("response.output_text.done", {**where, "text": text, "logprobs": []}),
        ("response.content_part.done", {**where, "part": _part(text)}),
        ("response.output_item.done", {"output_index": 0, "item": item}),
        (f"response.{end}", {"response": final}),
    ]


@lru_cache(maxsize=256)
def _response_stream(model: str, chunks: int, end: str, failing: bool) -> StreamBody:
    generated = 1 if failing else chunks
    events = [
        *_opening(model),
        *(_delta(i) for i in range(generated)),
        *_closing(model, generated, "failed" if failing else end),
    ]
    # Payloads start with `type` then `sequence_number`, counting up from 0 like the real API.
    return StreamBody.of(
        sse_event(name, {"type": name, "sequence_number": seq, **payload})
        for seq, (name, payload) in enumerate(events)
    )


@endpoint(OPENAI)
async def responses(call: Call) -> web.StreamResponse:
    model = model_of(call.json, DEFAULT_MODEL)
    controls = call.controls
    if call.json.get("stream") is not True:
        return json_response(call, _response_body(model, controls.chunks))
    body = _response_stream(model, controls.chunks, controls.responses_end, controls.stream_error)
    return await stream_response(call, body)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/v1/responses", responses)
    router.add_post("/responses", responses)
