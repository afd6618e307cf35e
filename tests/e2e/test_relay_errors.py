"""Errors the gateway makes itself, in each provider's envelope; upstream errors pass through."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import zstandard

from gateway.devtools.fake_provider import FakeProvider
from gateway.devtools.loopback import free_port
from tests.conftest import LiveGateway, gateway_settings, raw_request, running_gateway

CLAUDE = ("/v1/messages", {"x-api-key": "k", "anthropic-version": "2023-06-01"})
OPENAI = ("/v1/chat/completions", {"authorization": "Bearer k"})
GEMINI = ("/v1beta/models/gemini-2.5-flash:generateContent", {"x-goog-api-key": "k"})
BODY = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}


def assert_envelope(path: str, status: int, body: dict) -> None:  # type: ignore[type-arg]
    if path.startswith("/v1beta"):
        assert (
            body["error"]["code"] == status and body["error"]["status"] and body["error"]["message"]
        )
    elif path.startswith("/v1/messages"):
        assert body["type"] == "error" and body["error"]["type"] and body["error"]["message"]
    else:
        assert set(body["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(("path", "headers"), [CLAUDE, OPENAI, GEMINI])
async def test_malformed_json_is_400_and_nothing_is_forwarded(
    gateway: LiveGateway, fake_provider: FakeProvider, path: str, headers: dict[str, str]
) -> None:
    url = gateway.url + path
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=b'{"model": ', headers=headers) as r,
    ):
        assert r.status == 400
        assert_envelope(path, 400, await r.json())
    assert fake_provider.requests == []
    event = gateway.events.events[-1]
    assert event.status == 400 and event.outcome == "client_error"


@pytest.mark.parametrize(("path", "headers"), [CLAUDE, OPENAI, GEMINI])
async def test_body_over_max_body_size_is_413(
    fake_provider: FakeProvider, path: str, headers: dict[str, str]
) -> None:
    settings = gateway_settings(
        fake_provider.url, server={"http": {"addr": "127.0.0.1:0", "max_body_size": "1KiB"}}
    )
    async with running_gateway(settings) as gw, aiohttp.ClientSession() as http:
        big = json.dumps({**BODY, "pad": "x" * 4096}).encode()
        async with http.post(gw.url + path, data=big, headers=headers) as r:
            assert r.status == 413
            assert_envelope(path, 413, await r.json())
        # A compressed body that inflates past the limit is refused too (no decompression bomb).
        bomb = zstandard.ZstdCompressor().compress(b"{" + b" " * 100_000 + b"}")
        async with http.post(
            gw.url + path, data=bomb, headers={**headers, "content-encoding": "zstd"}
        ) as r:
            assert r.status == 413

        async def chunked() -> AsyncIterator[bytes]:  # no content-length: refused as it comes
            for _ in range(4):
                yield b"x" * 1024

        async with http.post(gw.url + path, data=chunked(), headers=headers) as r:
            assert r.status == 413
        events = await gw.events.wait_for(3)
    assert fake_provider.requests == []
    # Each refusal ends in its request-log event, as a malformed body's 400 does (Sanic refused
    # the first and the last before any handler ran, and left no event).
    assert [(e.status, e.outcome) for e in events] == [(413, "client_error")] * 3
    assert all(e.error is not None and e.error.type == "request_too_large" for e in events)
    provider = {CLAUDE[0]: "claude", OPENAI[0]: "openai", GEMINI[0]: "gemini"}[path]
    assert all(e.provider == provider and e.caller.startswith("fp_") for e in events)
    assert [e.bytes_in for e in events] == [len(big), len(bomb), 0]


MODELS_AS = [
    ("GET", "/v1/models", {"x-api-key": "k", "anthropic-version": "2023-06-01"}, None),
    ("GET", "/v1/models", {"x-goog-api-key": "k"}, None),
    ("GET", "/v1/models", {"authorization": "Bearer k"}, None),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "body"),
    [*[("POST", path, headers, BODY) for path, headers in (CLAUDE, OPENAI, GEMINI)], *MODELS_AS],
)
async def test_the_event_counts_the_bytes_of_the_error_the_gateway_answered(
    fake_provider: FakeProvider,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
) -> None:
    # Refused (malformed JSON), upstream unreachable, body cut after the upstream's head: each
    # answer is the gateway's own envelope, and bytes_out is its size, not 0 nor the upstream's.
    reachable = gateway_settings(fake_provider.url, upstreams={"read_timeout": "0.3s"})
    unreachable = gateway_settings(f"http://127.0.0.1:{free_port()}")
    whole = json.dumps(body).encode() if body is not None else None
    cases = [(unreachable, {}, whole), (reachable, {"x-fake-cut-after": "3"}, whole)]
    if body is not None:  # a GET has no body to refuse
        cases.append((reachable, {}, b'{"model": '))
    for settings, extra, data in cases:
        async with running_gateway(settings) as gw, aiohttp.ClientSession() as http:
            async with http.request(
                method, gw.url + path, data=data, headers={**headers, **extra}
            ) as r:
                assert r.status in (400, 502)
                raw = await r.read()
            (event,) = await gw.events.wait_for(1)
        assert raw.startswith(b"{") and event.status == r.status
        assert event.bytes_out == len(raw)


@pytest.mark.parametrize(
    ("headers", "check"),
    [
        ({"x-goog-api-key": "k"}, lambda e: e["error"]["status"] == "NOT_FOUND"),
        ({"anthropic-version": "2023-06-01"}, lambda e: e["error"]["type"] == "not_found_error"),
        ({"authorization": "Bearer k"}, lambda e: e["error"]["code"] == "not_found"),
    ],
    ids=["google-genai", "anthropic", "openai"],
)
async def test_a_path_no_route_matches_answers_in_the_envelope_of_the_sdk_that_called(
    gateway: LiveGateway, headers: dict[str, str], check: Any
) -> None:
    """google-genai's files.list and anthropic's beta.files.list call /v1/files: each SDK parses
    only its own provider's error body."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(gateway.url + "/v1/files", headers=headers) as r,
    ):
        assert r.status == 404
        assert check(await r.json())


async def _post_a_claude_head(
    gw: LiveGateway, framing: str, sent: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection that has sent a Claude request's head, framed as told, and `sent`."""
    host, port = gw.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST {CLAUDE[0]} HTTP/1.1\r\nhost: {host}\r\nx-api-key: k\r\n"
        f"content-type: application/json\r\n{framing}\r\n\r\n"
    )
    writer.write(head.encode() + sent)
    return reader, writer


@pytest.mark.parametrize(
    ("framing", "sent", "announced"),
    [
        ("content-length: 100", b'{"model":', 100),
        # Sanic clears its body mark at the last chunk, before the chunked body's final CRLF.
        ("transfer-encoding: chunked", b'9\r\n{"model":\r\n0\r\n', 0),
    ],
    ids=["content-length", "chunked-end"],
)
async def test_a_body_that_stops_arriving_is_408_after_the_read_timeout(
    fake_provider: FakeProvider, framing: str, sent: bytes, announced: int
) -> None:
    """Sanic's request timeout covered the headers only: a body cut short held its connection
    for the response timeout (305 s by default), then got a 503 and no event."""
    settings = gateway_settings(
        fake_provider.url, server={"http": {"addr": "127.0.0.1:0", "read_timeout": "0.5s"}}
    )
    async with running_gateway(settings) as gw:
        reader, writer = await _post_a_claude_head(gw, framing, sent)
        started = time.monotonic()
        answer = await asyncio.wait_for(reader.read(), 10)  # the gateway closes after it
        took = time.monotonic() - started
        writer.close()
        events = await gw.events.wait_for(1)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout", answer
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["type"]  # Claude's envelope
    assert 0.4 < took < 3, took
    assert fake_provider.requests == []
    event = events[0]
    assert (event.status, event.outcome, event.provider) == (408, "client_error", "claude")
    assert event.error is not None and event.error.type == "request_timeout"
    assert event.bytes_in == announced
    assert 400 < event.latency_ms < 3000  # from its arrival, not from its refusal


@pytest.mark.parametrize(
    ("framing", "sent", "announced"),
    [
        ("content-length: 100", b'{"model":', 100),
        ("content-length: 100", b"", 100),
        ("transfer-encoding: chunked", b'9\r\n{"model":\r\n', 0),
    ],
    ids=["content-length", "headers-only", "chunked"],
)
async def test_a_client_gone_while_sending_its_body_ends_in_its_event(
    fake_provider: FakeProvider, framing: str, sent: bytes, announced: int
) -> None:
    """Sanic cancels such a request before any handler or middleware runs: it left no event,
    no access line and no metric, where a client that stops (408) or leaves later leaves one."""
    async with running_gateway(gateway_settings(fake_provider.url)) as gw:
        _, writer = await _post_a_claude_head(gw, framing, sent)
        await writer.drain()
        await asyncio.sleep(0.2)  # the gateway is reading the body
        writer.close()
        (event,) = await gw.events.wait_for(1)
        await asyncio.sleep(0.1)
        assert len(gw.events.events) == 1  # once
    assert fake_provider.requests == []
    assert (event.status, event.outcome, event.provider) == (499, "client_cancelled", "claude")
    assert event.error is not None and event.error.type == "client_cancelled"
    assert event.bytes_in == announced and event.bytes_out == 0
    assert 150 < event.latency_ms < 3000  # from its arrival


@pytest.mark.parametrize("framing", ["content-length: 0", "transfer-encoding: chunked"])
async def test_a_get_with_an_empty_body_waits_for_a_slow_upstream(
    fake_provider: FakeProvider, framing: str
) -> None:
    """Sanic leaves a GET's body unread, and its mark set: the read timeout must not take that
    for a body still coming and cut the wait for the upstream."""
    settings = gateway_settings(
        fake_provider.url, server={"http": {"addr": "127.0.0.1:0", "read_timeout": "0.5s"}}
    )
    async with running_gateway(settings) as gw:
        host, port = gw.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        body = b"0\r\n\r\n" if "chunked" in framing else b""
        head = (
            f"GET /v1/models HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer k\r\n"
            f"x-fake-delay-ms: 1200\r\nconnection: close\r\n{framing}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:200]


@pytest.mark.parametrize("path", ["/v1/messages/nope", "/v1/nope", "/v1beta/nope", "/nope"])
async def test_unknown_route_is_404_in_the_paths_envelope(gateway: LiveGateway, path: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(gateway.url + path, json=BODY) as r:
        assert r.status == 404
        assert_envelope(path, 404, await r.json())


@pytest.mark.parametrize(("path", "headers"), [CLAUDE, OPENAI, GEMINI])
async def test_unreachable_upstream_is_502(path: str, headers: dict[str, str]) -> None:
    settings = gateway_settings(f"http://127.0.0.1:{free_port()}")
    async with running_gateway(settings) as gw, aiohttp.ClientSession() as http:
        async with http.post(gw.url + path, json=BODY, headers=headers) as r:
            assert r.status == 502
            body = await r.json()
            assert_envelope(path, 502, body)
            assert "SECRET" not in json.dumps(body)
        assert gw.events.events[-1].outcome == "upstream_error"


@pytest.mark.parametrize(("path", "headers"), [CLAUDE, OPENAI, GEMINI])
async def test_upstream_silent_past_read_timeout_is_504(
    fake_provider: FakeProvider, path: str, headers: dict[str, str]
) -> None:
    # The client's own read timeout (30 s) is not what bounds this: the upstream's silence is.
    settings = gateway_settings(fake_provider.url, upstreams={"read_timeout": "0.3s"})
    async with running_gateway(settings) as gw, aiohttp.ClientSession() as http:
        async with http.post(
            gw.url + path, json=BODY, headers={**headers, "x-fake-delay-ms": "2000"}
        ) as r:
            assert r.status == 504
            assert_envelope(path, 504, await r.json())
        assert gw.events.events[-1].outcome == "timeout"


FAILURES = [("x-fake-stall-after", 504, "timeout"), ("x-fake-cut-after", 502, "upstream_error")]
# (path, headers, body, stream, the frames or bytes the upstream sends before it fails)
ANSWERS_THAT_FAIL = [
    *[(path, headers, BODY, False, "5") for path, headers in (CLAUDE, OPENAI, GEMINI)],
    ("/v1/messages", CLAUDE[1], {**BODY, "stream": True}, True, "0"),
    ("/v1/chat/completions", OPENAI[1], {**BODY, "stream": True}, True, "0"),
    ("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", GEMINI[1], BODY, True, "0"),
]


@pytest.mark.parametrize(("control", "status", "outcome"), FAILURES)
@pytest.mark.parametrize(("path", "headers", "body", "stream", "sent"), ANSWERS_THAT_FAIL)
async def test_an_answer_that_fails_before_the_gateway_began_it_is_the_gateways_error(
    fake_provider: FakeProvider,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any],
    stream: bool,
    sent: str,
    control: str,
    status: int,
    outcome: str,
) -> None:
    # The upstream's 200 head arrives, then 5 bytes of its JSON body (or none of its stream),
    # then silence or a cut. The client never had the 200: it gets an error in its provider's
    # envelope, not a cut with no status, and the event must not say 200 either.
    settings = gateway_settings(fake_provider.url, upstreams={"read_timeout": "0.3s"})
    async with running_gateway(settings) as gw, aiohttp.ClientSession() as http:
        async with http.post(gw.url + path, json=body, headers={**headers, control: sent}) as r:
            assert r.status == status
            assert r.headers["content-type"].startswith("application/json")
            assert_envelope(path, status, await r.json())
        (event,) = await gw.events.wait_for(1)
        assert (event.status, event.outcome, event.stream) == (status, outcome, stream)


async def test_slow_upstream_within_read_timeout_is_served(fake_provider: FakeProvider) -> None:
    settings = gateway_settings(fake_provider.url, upstreams={"read_timeout": "1s"})
    async with running_gateway(settings) as gw, aiohttp.ClientSession() as http:
        # 1.5 s in all, but never silent for 1 s: a long stream is not a timeout.
        headers = {**OPENAI[1], "x-fake-chunk-delay-ms": "300", "x-fake-chunks": "5"}
        async with http.post(
            gw.url + OPENAI[0], json={**BODY, "stream": True}, headers=headers
        ) as r:
            assert r.status == 200
            assert b"[DONE]" in await r.read()


@pytest.mark.parametrize(("path", "headers"), [CLAUDE, OPENAI, GEMINI])
async def test_upstream_errors_pass_through(
    gateway: LiveGateway, path: str, headers: dict[str, str]
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(gateway.url + path, json=BODY, headers={**headers, "x-fake-status": "429"}) as r,
    ):
        assert r.status == 429
        assert r.headers["retry-after"] == "1"
        assert_envelope(path, 429, await r.json())
    event = gateway.events.events[-1]
    assert (
        event.status == 429 and event.outcome == "upstream_error" and event.usage.total_tokens == 0
    )


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models/..%2F..%2Fv1%2Fmodels:generateContent",
        "/v1beta/models/%2e%2e:generateContent",
        "/v1beta/models/gemini%2Fx:generateContent",
        "/v1beta/models/..:generateContent",
        "/v1beta/models/gemini-2.5-flash:deleteEverything",
        "/v1/messages/batches/..%2F..%2Fmodels",
        "/v1/messages/batches/%2e%2e/results",
        "/v1/messages/batches/..",
    ],
)
async def test_path_segments_cannot_escape_their_route(
    gateway: LiveGateway, fake_provider: FakeProvider, path: str
) -> None:
    # A raw request: HTTP clients would normalize the path before sending it.
    method = "POST" if ":" in path else "GET"
    status, body = await raw_request(gateway.url, method, path, json.dumps(BODY).encode())
    assert status == 404, body
    assert fake_provider.requests == []


async def test_client_credentials_never_reach_the_upstream_in_direct_mode(
    gateway: LiveGateway, fake_provider: FakeProvider
) -> None:
    async with aiohttp.ClientSession() as http:
        path = "/v1beta/models/gemini-2.5-flash:generateContent?key=CLIENTKEY&foo=1"
        async with http.post(gateway.url + path, json={"contents": []}) as r:
            assert r.status == 200
        async with http.post(
            gateway.url + OPENAI[0],
            json=BODY,
            headers={
                "authorization": "Bearer CLIENTKEY",
                "openai-organization": "org-client",
                "connection": "keep-alive, x-hop",
                "x-hop": "1",
                "keep-alive": "timeout=5",
            },
        ) as r:
            assert r.status == 200
            assert "x-gateway-request-id" in r.headers
            assert r.headers.get("x-request-id", "").startswith("req_fake")
    gemini, chat = fake_provider.requests[-2:]
    assert (
        gemini.query_string == "foo=1"
        and gemini.headers["x-goog-api-key"] == "gemini-upstream-SECRET"
    )
    assert chat.headers["authorization"] == "Bearer sk-openai-upstream-SECRET"
    for recorded in (gemini, chat):
        assert "CLIENTKEY" not in json.dumps(recorded.headers) + recorded.query_string
        assert not {"x-hop", "keep-alive", "openai-organization"} & set(recorded.headers)


async def test_claude_code_query_is_forwarded(
    gateway: LiveGateway, fake_provider: FakeProvider
) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {**CLAUDE[1], "anthropic-beta": "a,b"}
        async with http.post(
            gateway.url + "/v1/messages?beta=true", json=BODY, headers=headers
        ) as r:
            assert r.status == 200
            assert r.headers["request-id"].startswith("req_fake")
    seen = fake_provider.requests[-1]
    assert seen.query_string == "beta=true" and seen.headers["anthropic-beta"] == "a,b"
    assert seen.headers["anthropic-version"] == "2023-06-01"


async def test_gzip_from_upstream_is_passed_through_once_encoded(gateway: LiveGateway) -> None:
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        headers = {**OPENAI[1], "x-fake-gzip": "1"}
        async with http.post(gateway.url + OPENAI[0], json=BODY, headers=headers) as r:
            raw = await r.read()
            assert r.headers["content-encoding"] == "gzip"
            assert int(r.headers["content-length"]) == len(raw)
    assert json.loads(gzip.decompress(raw))["usage"]["prompt_tokens"] == 13
    assert gateway.events.events[-1].usage.input_tokens == 10  # read from a decoded copy


@pytest.mark.parametrize("encoding", ["zstd", "gzip"])
async def test_compressed_request_bodies_are_decoded(
    gateway: LiveGateway, fake_provider: FakeProvider, encoding: str
) -> None:
    plain = json.dumps({"model": "gpt-5", "input": "hi"}).encode()
    body = (
        zstandard.ZstdCompressor().compress(plain) if encoding == "zstd" else gzip.compress(plain)
    )
    async with aiohttp.ClientSession() as http:
        headers = {"authorization": "Bearer k", "content-encoding": encoding}
        async with http.post(gateway.url + "/v1/responses", data=body, headers=headers) as r:
            assert r.status == 200
    seen = fake_provider.requests[-1]
    assert seen.body == plain and "content-encoding" not in seen.headers
    assert gateway.events.events[-1].model == "gpt-5"


@pytest.mark.parametrize("path", ["/v1/responses", "/responses"])
async def test_websocket_upgrade_attempt_gets_426(gateway: LiveGateway, path: str) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {"upgrade": "websocket", "connection": "Upgrade", "authorization": "Bearer k"}
        async with http.get(gateway.url + path, headers=headers) as r:
            assert r.status == 426
            assert_envelope(path, 426, await r.json())


@pytest.mark.parametrize(("path", "headers"), [CLAUDE, OPENAI, GEMINI])
async def test_a_header_block_over_the_limit_is_431(
    gateway: LiveGateway, path: str, headers: dict[str, str]
) -> None:
    # Sanic answers it 413, "body too large": it is the head (RFC 6585 5). Sanic refuses it
    # before it has parsed the request line, so the path is not known: OpenAI's envelope.
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            gateway.url + path, json=BODY, headers={**headers, "x-pad": "a" * (70 << 10)}
        ) as r,
    ):
        assert r.status == 431
        body = await r.json()
    assert_envelope("/v1/chat/completions", 431, body)
    assert body["error"]["message"] == "request header fields are too large"


@pytest.mark.parametrize("target", [b"/v1/chat/completions?a\nx-inj:1", b"/v1/models?a=\x01\x7f"])
async def test_a_target_with_a_line_feed_or_a_control_character_is_400(
    gateway: LiveGateway, fake_provider: FakeProvider, target: bytes
) -> None:
    # It closed the connection with no answer, and logged Sanic's traceback.
    host, port = gateway.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST " + target + b" HTTP/1.1\r\nhost: x\r\nauthorization: Bearer k\r\n"
        b"content-length: 2\r\n\r\n{}"
    )
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert fake_provider.requests == []
