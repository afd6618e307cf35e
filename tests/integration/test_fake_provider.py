"""The fake provider speaks each provider's wire format and obeys every `x-fake-*` control."""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import struct
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest
from aiohttp import web
from google import genai

import gateway
from gateway.devtools.fake_provider import (
    FakeProvider,
    RecordedRequest,
    build_app,
    start_fake_provider,
)
from gateway.devtools.fake_provider.state import STATE

pytestmark = pytest.mark.integration

CLAUDE_EVENTS_4 = [
    "message_start",
    "content_block_start",
    "ping",
    *["content_block_delta"] * 4,
    "content_block_stop",
    "message_delta",
    "message_stop",
]
GEMINI_MODEL = "/v1beta/models/gemini-2.5-flash"


@pytest.fixture
async def provider() -> AsyncIterator[FakeProvider]:
    fake = await start_fake_provider()
    yield fake
    await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    """Run a `build_app()` app with non-default options; yields its base URL."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def call(
    http: aiohttp.ClientSession,
    url: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
) -> tuple[aiohttp.ClientResponse, bytes]:
    data = None if body is None else orjson.dumps(body)
    async with http.request(method, url, data=data, headers=headers) as response:
        return response, await response.read()


async def read_into(response: aiohttp.ClientResponse, sink: bytearray) -> None:
    """Read until EOF, keeping what arrived even if the read then fails or is cancelled."""
    async for data in response.content.iter_any():
        sink += data


def sse_events(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) per event; `[DONE]` stays a string."""
    events: list[tuple[str | None, Any]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not block:
            continue
        name, data = None, b""
        for line in block.split(b"\n"):
            field, _, value = line.partition(b": ")
            if field == b"event":
                name = value.decode()
            elif field == b"data":
                data = value
        events.append((name, data.decode() if data == b"[DONE]" else orjson.loads(data)))
    return events


# --- Claude ---------------------------------------------------------------------------------


async def test_claude_message_json_has_text_usage_and_headers(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    body = {"model": "claude-test", "max_tokens": 5, "messages": []}
    response, raw = await call(http, provider.url + "/v1/messages?beta=true", body)

    assert response.status == 200
    assert response.content_type == "application/json"
    assert response.headers["request-id"].startswith("req_fake_")
    assert response.headers["anthropic-ratelimit-requests-remaining"] == "999"
    message = orjson.loads(raw)
    assert message["model"] == "claude-test"
    assert message["content"] == [{"type": "text", "text": "tok0 tok1 tok2 tok3 "}]
    usage = message["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (10, 4)
    assert (usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]) == (3, 2)


async def test_claude_stream_sends_every_event_with_cumulative_usage(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    response, raw = await call(http, provider.url + "/v1/messages", {"stream": True})

    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert "content-length" not in response.headers
    events = sse_events(raw)
    assert [name for name, _ in events] == CLAUDE_EVENTS_4
    assert all(data["type"] == name for name, data in events)
    start_usage = events[0][1]["message"]["usage"]
    assert start_usage == {
        "input_tokens": 10,
        "cache_creation_input_tokens": 2,
        "cache_read_input_tokens": 3,
        "output_tokens": 1,
    }
    assert events[-2][1]["usage"] == {"output_tokens": 4}
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    assert text == "tok0 tok1 tok2 tok3 "


async def test_claude_count_tokens(provider: FakeProvider, http: aiohttp.ClientSession) -> None:
    _, raw = await call(http, provider.url + "/v1/messages/count_tokens", {"messages": []})

    assert orjson.loads(raw) == {"input_tokens": 10}


async def test_claude_batch_lifecycle_with_absolute_results_url(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    base = provider.url + "/v1/messages/batches"
    requests = [
        {"custom_id": "a", "params": {"model": "claude-a", "max_tokens": 5, "messages": []}},
        {"custom_id": "b", "params": {"model": "claude-b", "max_tokens": 5, "messages": []}},
    ]
    _, raw = await call(http, base, {"requests": requests})
    batch = orjson.loads(raw)
    batch_id = batch["id"]

    assert batch["processing_status"] == "ended"
    assert batch["request_counts"]["succeeded"] == 2
    assert batch["results_url"] == f"{provider.url}/v1/messages/batches/{batch_id}/results"
    _, raw = await call(http, f"{base}/{batch_id}", method="GET")
    assert orjson.loads(raw)["id"] == batch_id

    response, raw = await call(http, batch["results_url"], method="GET")
    assert response.content_type == "application/x-jsonl"
    lines = [orjson.loads(line) for line in raw.splitlines()]
    assert [line["custom_id"] for line in lines] == ["a", "b"]
    assert {line["result"]["type"] for line in lines} == {"succeeded"}
    assert lines[1]["result"]["message"]["model"] == "claude-b"
    assert lines[0]["result"]["message"]["usage"]["output_tokens"] == 4

    _, raw = await call(http, f"{base}/{batch_id}/cancel")
    assert orjson.loads(raw)["cancel_initiated_at"] is not None
    _, raw = await call(http, f"{base}/{batch_id}", method="DELETE")
    assert orjson.loads(raw) == {"id": batch_id, "type": "message_batch_deleted"}
    response, raw = await call(http, f"{base}/{batch_id}", method="GET")
    assert response.status == 404
    assert orjson.loads(raw)["error"]["type"] == "not_found_error"


async def test_claude_batch_list_pages_newest_first(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    base = provider.url + "/v1/messages/batches"
    ids = []
    for custom_id in ("x", "y", "z"):
        _, raw = await call(http, base, {"requests": [{"custom_id": custom_id, "params": {}}]})
        ids.append(orjson.loads(raw)["id"])

    _, raw = await call(http, base + "?limit=2", method="GET")
    first = orjson.loads(raw)
    _, raw = await call(http, f"{base}?limit=2&after_id={first['last_id']}", method="GET")
    second = orjson.loads(raw)

    assert [b["id"] for b in first["data"]] == [ids[2], ids[1]]
    assert (first["has_more"], first["first_id"], first["last_id"]) == (True, ids[2], ids[1])
    assert [b["id"] for b in second["data"]] == [ids[0]]
    assert second["has_more"] is False


async def test_batch_results_url_uses_public_base_url(http: aiohttp.ClientSession) -> None:
    async with serve(build_app(public_base_url="https://gw.example/")) as url:
        _, raw = await call(
            http, url + "/v1/messages/batches", {"requests": [{"custom_id": "a", "params": {}}]}
        )

    batch = orjson.loads(raw)
    assert batch["results_url"] == f"https://gw.example/v1/messages/batches/{batch['id']}/results"


async def test_batch_create_rejects_missing_requests(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    response, raw = await call(http, provider.url + "/v1/messages/batches", {})

    assert response.status == 400
    assert orjson.loads(raw)["error"]["type"] == "invalid_request_error"


# --- OpenAI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions"])
async def test_openai_chat_json(
    provider: FakeProvider, http: aiohttp.ClientSession, path: str
) -> None:
    response, raw = await call(http, provider.url + path, {"model": "gpt-test", "messages": []})

    assert response.headers["x-request-id"].startswith("req_fake_")
    assert response.headers["openai-processing-ms"] == "1"
    assert response.headers["x-ratelimit-remaining-requests"] == "999"
    completion = orjson.loads(raw)
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"] == "tok0 tok1 tok2 tok3 "
    usage = completion["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        13,
        4,
        17,
    )
    assert usage["prompt_tokens_details"]["cached_tokens"] == 3
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 1


async def test_openai_chat_stream_without_usage_has_no_usage_key(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    response, raw = await call(http, provider.url + "/v1/chat/completions", {"stream": True})

    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert b"event:" not in raw
    events = sse_events(raw)
    assert events[-1] == (None, "[DONE]")
    chunks = [data for _, data in events[:-1]]
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "tok0 tok1 tok2 tok3 "


async def test_openai_chat_stream_with_include_usage_ends_with_usage_chunk(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    body = {"stream": True, "stream_options": {"include_usage": True}}
    _, raw = await call(http, provider.url + "/v1/chat/completions", body, {"x-fake-chunks": "2"})

    chunks = [data for _, data in sse_events(raw)[:-1]]
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 2
    assert chunks[-1]["usage"]["total_tokens"] == 15


async def test_openai_legacy_completions_json_and_stream(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    url = provider.url + "/v1/completions"
    _, raw = await call(http, url, {"model": "gpt-3.5-turbo-instruct", "prompt": "hi"})
    completion = orjson.loads(raw)
    body = {"stream": True, "stream_options": {"include_usage": True}}
    _, streamed = await call(http, url, body)
    events = sse_events(streamed)

    assert completion["object"] == "text_completion"
    assert completion["choices"][0]["text"] == "tok0 tok1 tok2 tok3 "
    assert completion["usage"]["total_tokens"] == 17
    assert events[-1] == (None, "[DONE]")
    assert "".join(d["choices"][0]["text"] for _, d in events[:-2]) == "tok0 tok1 tok2 tok3 "
    assert events[-2][1]["usage"]["completion_tokens"] == 4


async def test_openai_embeddings_base64_matches_floats(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    url = provider.url + "/v1/embeddings"
    body = {"input": ["a", "b"], "dimensions": 8}
    _, encoded = await call(http, url, {**body, "encoding_format": "base64"})
    _, plain = await call(http, url, body)
    encoded_body, plain_body = orjson.loads(encoded), orjson.loads(plain)

    decoded = [
        list(struct.unpack("<8f", base64.b64decode(item["embedding"])))
        for item in encoded_body["data"]
    ]
    assert decoded == [item["embedding"] for item in plain_body["data"]]
    assert decoded[0] != decoded[1]
    assert [item["index"] for item in encoded_body["data"]] == [0, 1]
    assert encoded_body["usage"] == {"prompt_tokens": 10, "total_tokens": 10}


async def test_openai_embeddings_token_array_is_one_input(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    _, raw = await call(http, provider.url + "/v1/embeddings", {"input": [1, 2, 3]})

    assert len(orjson.loads(raw)["data"]) == 1


@pytest.mark.parametrize("path", ["/v1/responses", "/responses"])
async def test_openai_responses_json(
    provider: FakeProvider, http: aiohttp.ClientSession, path: str
) -> None:
    _, raw = await call(http, provider.url + path, {"model": "gpt-5", "input": "hi"})

    response = orjson.loads(raw)
    assert (response["object"], response["status"]) == ("response", "completed")
    assert response["output"][0]["content"][0]["text"] == "tok0 tok1 tok2 tok3 "
    assert response["usage"] == {
        "input_tokens": 13,
        "input_tokens_details": {"cached_tokens": 3},
        "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 17,
    }


@pytest.mark.parametrize(
    ("end", "terminal", "status"),
    [
        (None, "response.completed", "completed"),
        ("incomplete", "response.incomplete", "incomplete"),
        ("failed", "response.failed", "failed"),
    ],
)
async def test_openai_responses_stream_terminal_events(
    provider: FakeProvider,
    http: aiohttp.ClientSession,
    end: str | None,
    terminal: str,
    status: str,
) -> None:
    headers = {"x-fake-responses-end": end} if end else {}
    _, raw = await call(http, provider.url + "/v1/responses", {"stream": True}, headers)

    events = sse_events(raw)
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert all(data["type"] == name for name, data in events)
    assert events[0][0] == "response.created"
    assert [d["delta"] for n, d in events if n == "response.output_text.delta"] == [
        "tok0 ",
        "tok1 ",
        "tok2 ",
        "tok3 ",
    ]
    name, data = events[-1]
    assert (name, data["response"]["status"]) == (terminal, status)
    assert data["response"]["usage"]["total_tokens"] == 17
    if end == "incomplete":
        assert data["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    if end == "failed":
        assert data["response"]["error"]["code"] == "server_error"


async def test_models_list_in_openai_or_anthropic_format(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    url = provider.url + "/v1/models"
    _, openai_raw = await call(http, url, method="GET", headers={"authorization": "Bearer x"})
    claude_headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    response, claude_raw = await call(http, url, method="GET", headers=claude_headers)

    assert orjson.loads(openai_raw)["object"] == "list"
    assert orjson.loads(openai_raw)["data"][0]["object"] == "model"
    claude_list = orjson.loads(claude_raw)
    assert claude_list["data"][0]["type"] == "model"
    assert claude_list["has_more"] is False
    assert claude_list["first_id"] == claude_list["data"][0]["id"]
    assert claude_list["last_id"] == claude_list["data"][-1]["id"]
    assert "request-id" in response.headers


@pytest.mark.parametrize(
    ("new_api", "credential", "claude_format"),
    [
        (False, {"authorization": "Bearer k"}, True),  # Anthropic lists to any Claude client
        (False, {"x-api-key": "k"}, True),
        (True, {"authorization": "Bearer k"}, False),  # new-api: Claude's list only to x-api-key
        (True, {"x-api-key": "k"}, True),
    ],
)
async def test_a_claude_clients_model_list_as_the_provider_or_new_api_answers_it(
    http: aiohttp.ClientSession, new_api: bool, credential: dict[str, str], claude_format: bool
) -> None:
    async with serve(build_app(new_api=new_api)) as url:
        headers = {**credential, "anthropic-version": "2023-06-01"}
        _, raw = await call(http, url + "/v1/models", method="GET", headers=headers)
    first = orjson.loads(raw)["data"][0]
    assert (first.get("type") == "model") is claude_format
    assert (first.get("object") == "model") is not claude_format


# --- Gemini ---------------------------------------------------------------------------------


async def test_gemini_models_list_honours_page_size(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    names: list[str] = []
    token: str | None = ""
    pages = 0
    while token is not None:
        query = f"?pageSize=2&pageToken={token}" if token else "?pageSize=2"
        _, raw = await call(http, provider.url + "/v1beta/models" + query, method="GET")
        page = orjson.loads(raw)
        assert len(page["models"]) <= 2
        names += [model["name"] for model in page["models"]]
        token = page.get("nextPageToken")
        pages += 1

    assert pages == 3
    assert "models/gemini-2.5-flash" in names
    _, raw = await call(http, provider.url + GEMINI_MODEL, method="GET")
    assert orjson.loads(raw)["name"] == "models/gemini-2.5-flash"


async def test_gemini_generate_content(provider: FakeProvider, http: aiohttp.ClientSession) -> None:
    response, raw = await call(http, provider.url + GEMINI_MODEL + ":generateContent", {})

    body = orjson.loads(raw)
    assert response.headers["x-goog-request-id"].startswith("req_fake_")
    candidate = body["candidates"][0]
    assert candidate["content"]["parts"][0]["text"] == "tok0 tok1 tok2 tok3 "
    assert candidate["finishReason"] == "STOP"
    assert body["usageMetadata"]["promptTokenCount"] == 13
    assert body["usageMetadata"]["cachedContentTokenCount"] == 3
    assert body["usageMetadata"]["candidatesTokenCount"] == 4
    assert body["usageMetadata"]["thoughtsTokenCount"] == 2
    assert body["usageMetadata"]["totalTokenCount"] == 19


async def test_gemini_sse_stream_uses_crlf_and_running_usage(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    url = provider.url + GEMINI_MODEL + ":streamGenerateContent?alt=sse"
    response, raw = await call(http, url, {}, {"x-fake-chunks": "3"})

    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    frames = raw.split(b"\r\n\r\n")
    assert frames[-1] == b""
    assert all(frame.startswith(b"data: {") for frame in frames[:-1])
    chunks = [orjson.loads(frame[6:]) for frame in frames[:-1]]
    assert [c["usageMetadata"]["candidatesTokenCount"] for c in chunks] == [1, 2, 3]
    assert ["finishReason" in c["candidates"][0] for c in chunks] == [False, False, True]
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] == 18


async def test_gemini_stream_without_alt_is_one_json_array(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    url = provider.url + GEMINI_MODEL + ":streamGenerateContent"
    response, raw = await call(http, url, {}, {"x-fake-chunks": "2"})

    assert response.content_type == "application/json"
    assert raw.startswith(b"[{")
    assert raw.endswith(b"}\n]")
    first, second = raw[1:-2].split(b"\n,\r\n")
    assert orjson.loads(first)["candidates"][0]["content"]["parts"][0]["text"] == "tok0 "
    assert orjson.loads(second)["candidates"][0]["finishReason"] == "STOP"
    assert len(orjson.loads(raw)) == 2


@pytest.mark.parametrize("action", [":generateContent", ":streamGenerateContent?alt=sse"])
async def test_gemini_json_mode_answers_a_document_that_fits_the_schema(
    provider: FakeProvider, http: aiohttp.ClientSession, action: str
) -> None:
    """gemini-cli's model router asks for JSON before every turn and retries until it parses."""
    schema = {
        "type": "OBJECT",
        "properties": {"reason": {"type": "STRING"}, "score": {"type": "INTEGER"}},
        "required": ["reason", "score"],
    }
    config = {"responseMimeType": "application/json", "responseJsonSchema": schema}
    body = {"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": config}
    _, raw = await call(http, provider.url + GEMINI_MODEL + action, body)

    answer = orjson.loads(raw[6:] if raw.startswith(b"data: ") else raw)  # one chunk either way
    candidate = answer["candidates"][0]
    assert orjson.loads(candidate["content"]["parts"][0]["text"]) == {"reason": "tok0", "score": 1}
    assert candidate["finishReason"] == "STOP"
    assert answer["usageMetadata"]["totalTokenCount"] == 19


async def test_gemini_count_tokens_and_embeddings(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    base = provider.url + GEMINI_MODEL
    _, counted = await call(http, base + ":countTokens", {"contents": []})
    _, single = await call(http, base + ":embedContent", {"outputDimensionality": 4})
    requests = [{"content": {"parts": [{"text": "a"}]}}, {"content": {"parts": [{"text": "b"}]}}]
    _, batch = await call(http, base + ":batchEmbedContents", {"requests": requests})

    assert orjson.loads(counted) == {"totalTokens": 13}
    assert len(orjson.loads(single)["embedding"]["values"]) == 4
    assert len(orjson.loads(batch)["embeddings"]) == 2


async def test_gemini_actions_are_also_served_under_v1(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    url = provider.url + "/v1/models/gemini-2.5-flash:countTokens"
    response, raw = await call(http, url, {"contents": []})

    assert response.status == 200
    assert orjson.loads(raw) == {"totalTokens": 13}


async def test_gemini_unknown_action_is_404(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    response, raw = await call(http, provider.url + GEMINI_MODEL + ":fly", {})

    assert response.status == 404
    assert orjson.loads(raw)["error"]["status"] == "NOT_FOUND"


# --- Routing and errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field", "expected"),
    [
        ("/v1/messages/nope", "type", "not_found_error"),
        ("/v1/nope", "type", "invalid_request_error"),
        ("/v1beta/nope", "status", "NOT_FOUND"),
    ],
)
async def test_unknown_routes_answer_404_in_the_provider_envelope(
    provider: FakeProvider, http: aiohttp.ClientSession, path: str, field: str, expected: str
) -> None:
    response, raw = await call(http, provider.url + path, {})

    assert response.status == 404
    assert orjson.loads(raw)["error"][field] == expected


async def test_invalid_json_body_is_400(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    async with http.post(provider.url + "/v1/chat/completions", data=b"{nope") as response:
        body = await response.json()

    assert response.status == 400
    assert body["error"]["type"] == "invalid_request_error"


# --- Controls -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "envelope"),
    [
        ("/v1/messages", {"type": "rate_limit_error"}),
        ("/v1/chat/completions", {"type": "requests", "code": "rate_limit_exceeded"}),
        (GEMINI_MODEL + ":generateContent", {"code": 429, "status": "RESOURCE_EXHAUSTED"}),
    ],
)
async def test_status_control_answers_in_the_provider_envelope(
    provider: FakeProvider, http: aiohttp.ClientSession, path: str, envelope: dict[str, Any]
) -> None:
    body = {"stream": True}
    response, raw = await call(http, provider.url + path, body, {"x-fake-status": "429"})

    assert response.status == 429
    assert response.headers["retry-after"] == "1"
    error = orjson.loads(raw)["error"]
    assert {key: error[key] for key in envelope} == envelope


async def test_status_control_529_is_claude_overloaded(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    response, raw = await call(http, provider.url + "/v1/messages", {}, {"x-fake-status": "529"})

    assert response.status == 529
    assert "retry-after" not in response.headers
    assert orjson.loads(raw)["error"]["type"] == "overloaded_error"


async def test_delay_control_waits_before_headers(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    await call(http, provider.url + "/v1/messages", {}, {"x-fake-delay-ms": "200"})

    assert time.monotonic() - started >= 0.2


async def test_chunk_delay_control_paces_frames(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    headers = {"x-fake-chunk-delay-ms": "40", "x-fake-chunks": "2"}
    arrivals: list[float] = []
    started = time.monotonic()
    async with http.post(
        provider.url + "/v1/chat/completions", data=b'{"stream":true}', headers=headers
    ) as response:
        async for _ in response.content.iter_any():
            arrivals.append(time.monotonic() - started)

    # 5 frames (role, 2 deltas, finish, [DONE]) => 4 gaps of 40 ms.
    assert arrivals[-1] >= 0.16
    assert len(arrivals) >= 2


async def test_chunks_control_sets_the_number_of_deltas(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    _, raw = await call(http, provider.url + "/v1/messages", {}, {"x-fake-chunks": "7"})

    message = orjson.loads(raw)
    assert message["content"][0]["text"] == "".join(f"tok{i} " for i in range(7))
    assert message["usage"]["output_tokens"] == 7


async def test_cut_control_truncates_the_chunked_body(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    received = bytearray()
    headers = {"x-fake-cut-after": "4"}
    async with http.post(
        provider.url + "/v1/messages", data=b'{"stream":true}', headers=headers
    ) as response:
        with pytest.raises(aiohttp.ClientPayloadError):
            await read_into(response, received)

    assert [name for name, _ in sse_events(bytes(received))] == CLAUDE_EVENTS_4[:4]


async def test_stall_control_goes_silent_without_closing(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    url = provider.url + GEMINI_MODEL + ":streamGenerateContent?alt=sse"
    received = bytearray()
    async with http.post(url, data=b"{}", headers={"x-fake-stall-after": "2"}) as response:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(read_into(response, received), 0.3)

    assert received.count(b"data: ") == 2


async def test_cut_control_truncates_a_whole_body_under_its_full_content_length(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    _, whole = await call(http, provider.url + "/v1/chat/completions", {})
    received = bytearray()
    headers = {"x-fake-cut-after": "10"}
    async with http.post(
        provider.url + "/v1/chat/completions", data=b"{}", headers=headers
    ) as response:
        assert response.content_length == len(whole)
        with pytest.raises(aiohttp.ClientPayloadError):
            await read_into(response, received)

    assert bytes(received) == whole[:10]


async def test_stall_control_stalls_a_whole_body_before_its_last_byte(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    _, whole = await call(http, provider.url + "/v1/messages", {})
    received = bytearray()
    headers = {"x-fake-stall-after": str(len(whole) + 50)}
    async with http.post(provider.url + "/v1/messages", data=b"{}", headers=headers) as response:
        assert response.content_length == len(whole)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(read_into(response, received), 0.3)

    assert bytes(received) == whole[:-1]  # all but one byte, however large K is


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/messages", {"stream": True}),
        ("/v1/chat/completions", {"stream": True}),
        ("/v1/responses", {"stream": True}),
        (GEMINI_MODEL + ":streamGenerateContent?alt=sse", {}),
        (GEMINI_MODEL + ":streamGenerateContent", {}),
    ],
)
async def test_stream_error_control_sends_the_in_stream_error(
    provider: FakeProvider, http: aiohttp.ClientSession, path: str, body: dict[str, Any]
) -> None:
    response, raw = await call(http, provider.url + path, body, {"x-fake-stream-error": "1"})

    assert response.status == 200
    assert raw.count(b"tok0 ") == 1
    assert b"tok1" not in raw
    if path.endswith(":streamGenerateContent"):
        last = orjson.loads(raw)[-1]
    else:
        last = sse_events(raw)[-1][1]
    if path == "/v1/messages":
        assert sse_events(raw)[-1][0] == "error"
        assert last["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    elif path == "/v1/responses":
        assert last["type"] == "response.failed"
        assert last["response"]["status"] == "failed"
        assert last["response"]["error"]["code"] == "server_error"
        assert last["response"]["usage"]["output_tokens"] == 1
    else:
        assert "error" in last
        assert b"[DONE]" not in raw


async def test_gzip_control_compresses_json(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        provider.url + "/v1/messages",
        data=b"{}",
        headers={"x-fake-gzip": "1"},
        auto_decompress=False,
    ) as response:
        raw = await response.read()

    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) == len(raw)
    assert orjson.loads(gzip.decompress(raw))["type"] == "message"


async def test_echo_control_reports_the_request_as_received(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    headers = {"x-fake-echo": "1", "X-Custom": "Yes"}
    _, raw = await call(http, provider.url + "/v1/embeddings?a=1&b=2", {"input": "x"}, headers)

    echo = orjson.loads(raw)["_echo"]
    assert (echo["method"], echo["path"], echo["query"]) == ("POST", "/v1/embeddings", "a=1&b=2")
    assert echo["headers"]["x-custom"] == "Yes"
    assert orjson.loads(raw)["object"] == "list"


# --- Recording ------------------------------------------------------------------------------


async def test_requests_are_recorded_and_clearable(
    provider: FakeProvider, http: aiohttp.ClientSession
) -> None:
    await call(http, provider.url + "/v1/messages?beta=true", {"x": 1}, {"X-Api-Key": "sk-up"})

    assert provider.requests == [
        RecordedRequest(
            method="POST",
            path="/v1/messages",
            query_string="beta=true",
            headers=provider.requests[0].headers,
            body=b'{"x":1}',
        )
    ]
    assert provider.requests[0].headers["x-api-key"] == "sk-up"
    provider.clear()
    assert provider.requests == []


async def test_recording_keeps_only_the_most_recent(http: aiohttp.ClientSession) -> None:
    app = build_app(record_limit=2)
    async with serve(app) as url:
        for index in range(3):
            await call(http, f"{url}/v1/models?i={index}", method="GET")
        recorded = app[STATE].requests

    assert [r.query_string for r in recorded] == ["i=1", "i=2"]


# --- Official SDKs and the CLI --------------------------------------------------------------


# google-genai subclasses aiohttp.ClientSession, which aiohttp itself warns about.
@pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")
async def test_official_sdks_understand_the_wire_format(provider: FakeProvider) -> None:
    oai = openai.AsyncOpenAI(base_url=provider.url + "/v1", api_key="sk-openai", max_retries=0)
    claude = anthropic.AsyncAnthropic(base_url=provider.url, api_key="sk-ant", max_retries=0)
    # Pinned to v1beta, the version the gateway routes; newer google-genai defaults to v1.
    gemini_options = genai.types.HttpOptions(base_url=provider.url, api_version="v1beta")
    gemini = genai.Client(api_key="gemini-key", http_options=gemini_options)
    try:
        stream = await oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        embedding = await oai.embeddings.create(model="text-embedding-3-small", input=["a"])

        async with claude.messages.stream(
            model="claude-sonnet-4-6", max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        ) as claude_stream:
            claude_text = "".join([text async for text in claude_stream.text_stream])
            message = await claude_stream.get_final_message()
        batch = await claude.messages.batches.create(
            requests=[
                {"custom_id": "r1", "params": {"model": "m", "max_tokens": 8, "messages": []}}
            ]
        )
        results = [result async for result in await claude.messages.batches.results(batch.id)]

        gemini_chunks = [
            chunk
            async for chunk in await gemini.aio.models.generate_content_stream(
                model="gemini-2.5-flash", contents="hi"
            )
        ]
    finally:
        await oai.close()
        await claude.close()
        await gemini.aio.aclose()
        gemini.close()

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "tok0 tok1 tok2 tok3 "
    )
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 17
    assert embedding.data[0].embedding[:2] == [1 / 32, 2 / 32]
    assert claude_text == "tok0 tok1 tok2 tok3 "
    assert (message.usage.input_tokens, message.usage.output_tokens) == (10, 4)
    assert message.usage.cache_read_input_tokens == 3
    assert results[0].custom_id == "r1"
    assert results[0].result.type == "succeeded"
    assert "".join(chunk.text or "" for chunk in gemini_chunks) == "tok0 tok1 tok2 tok3 "
    final_usage = gemini_chunks[-1].usage_metadata
    assert final_usage is not None
    assert final_usage.candidates_token_count == 4
    # anthropic 2.x sends api_key as `Authorization: Bearer`, older releases as x-api-key.
    credentials = {
        value.removeprefix("Bearer ")
        for request in provider.requests
        for name, value in request.headers.items()
        if name in {"authorization", "x-api-key", "x-goog-api-key"}
    }
    assert credentials == {"sk-openai", "sk-ant", "gemini-key"}


async def test_cli_serves_until_terminated(http: aiohttp.ClientSession) -> None:
    src = str(Path(gateway.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.devtools.fake_provider",
        "--port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        assert line.startswith("fake provider listening on http://127.0.0.1:")
        _, raw = await call(http, line.rpartition(" ")[2] + "/v1/models", method="GET")
        assert orjson.loads(raw)["object"] == "list"
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0
