"""Streams pass through as they arrive, and end the way the upstream or the client ended them."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from pytest_mock import MockerFixture

from gateway.application.exchange import RelayExchange
from gateway.devtools.fake_provider import FakeProvider
from gateway.entrypoints.http.protocol import GatewayHttpProtocol
from tests.conftest import LiveGateway, gateway_settings, running_gateway
from tests.fakes import ScriptedResponse, ScriptedUpstream

CHAT = "/v1/chat/completions"
AUTH = {"authorization": "Bearer k"}
STREAM_BODY = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]}


async def test_stream_is_incremental(gateway: LiveGateway, mocker: MockerFixture) -> None:
    # Observed, not replaced: the chunks after the first are pushed, one read at a time.
    pushed = mocker.spy(RelayExchange, "_take")
    headers = {**AUTH, "x-fake-chunks": "6", "x-fake-chunk-delay-ms": "150"}
    arrivals: list[float] = []
    async with aiohttp.ClientSession() as http:
        start = time.perf_counter()
        async with http.post(gateway.url + CHAT, json=STREAM_BODY, headers=headers) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            assert "content-length" not in r.headers
            async for _ in r.content.iter_any():
                arrivals.append(time.perf_counter() - start)
    # The first chunk is there long before the last (6 x 150 ms apart), not all at the end.
    assert arrivals[0] < 0.3 and arrivals[-1] - arrivals[0] > 0.6
    event = gateway.events.events[-1]
    assert event.stream and event.ttft_ms is not None and event.ttft_ms < 300
    assert pushed.call_count >= 5  # each delayed chunk its own read, after the first


async def test_a_stream_asks_a_reverse_proxy_not_to_buffer_it(gateway: LiveGateway) -> None:
    """nginx buffers what it proxies unless the answer says `X-Accel-Buffering: no`: a stream's
    deltas would reach the client in bursts. A whole answer gains nothing from it."""
    async with aiohttp.ClientSession() as http:
        async with http.post(gateway.url + CHAT, json=STREAM_BODY, headers=AUTH) as r:
            await r.read()
            assert r.headers.getall("x-accel-buffering") == ["no"]
        whole = {**STREAM_BODY, "stream": False}
        async with http.post(gateway.url + CHAT, json=whole, headers=AUTH) as r:
            await r.read()
            assert "x-accel-buffering" not in r.headers


async def test_an_upstreams_own_proxy_buffering_answer_stands(fake_provider: FakeProvider) -> None:
    chunks = [b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n', b"data: [DONE]\n\n"]
    upstream = ScriptedUpstream(
        ScriptedResponse(
            headers=(("content-type", "text/event-stream"), ("X-Accel-Buffering", "yes")),
            body_chunks=chunks,
        )
    )
    settings = gateway_settings(fake_provider.url)
    async with (
        running_gateway(settings, upstream=upstream) as gw,
        aiohttp.ClientSession() as http,
        http.post(gw.url + CHAT, json=STREAM_BODY, headers=AUTH) as r,
    ):
        assert await r.read() == b"".join(chunks)
        assert r.headers.getall("x-accel-buffering") == ["yes"]


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        (
            "/v1/messages",
            {"model": "c", "max_tokens": 8, "stream": True, "messages": []},
            {"x-api-key": "k"},
        ),
        (CHAT, STREAM_BODY, AUTH),
        ("/v1/responses", {"model": "gpt-5", "input": "hi", "stream": True}, AUTH),
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            {"contents": []},
            {"x-goog-api-key": "k"},
        ),
        (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            {"contents": []},
            {"x-goog-api-key": "k"},
        ),
    ],
)
async def test_upstream_cut_mid_stream_reaches_the_client_as_a_truncation(
    gateway: LiveGateway,
    path: str,
    body: dict,
    headers: dict[str, str],  # type: ignore[type-arg]
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(gateway.url + path, json=body, headers={**headers, "x-fake-cut-after": "2"}) as r,
    ):
        assert r.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    event = (await gateway.events.wait_for(1))[-1]
    assert event.outcome == "upstream_error" and event.error is not None
    assert event.error.type == "upstream_cut_off" and event.usage_partial


async def test_upstream_silent_mid_stream_is_a_timeout(fake_provider: FakeProvider) -> None:
    settings = gateway_settings(fake_provider.url, upstreams={"read_timeout": "0.3s"})
    async with running_gateway(settings) as gw, aiohttp.ClientSession() as http:
        headers = {**AUTH, "x-fake-stall-after": "2"}
        async with http.post(gw.url + CHAT, json=STREAM_BODY, headers=headers) as r:
            with pytest.raises(aiohttp.ClientPayloadError):
                await r.read()
        event = (await gw.events.wait_for(1))[-1]
        assert event.outcome == "timeout" and event.status == 200


async def test_a_stream_longer_than_the_write_timeout_is_cut(fake_provider: FakeProvider) -> None:
    """server.http.write_timeout bounds the whole response, streams included (the contract);
    Sanic's own response timeout only bounds silence, which a steady stream never has."""
    http_settings = {"addr": "127.0.0.1:0", "write_timeout": "0.6s"}
    settings = gateway_settings(fake_provider.url, server={"http": http_settings})
    async with running_gateway(settings) as gw, aiohttp.ClientSession() as http:
        headers = {**AUTH, "x-fake-chunks": "12", "x-fake-chunk-delay-ms": "150"}
        started = time.perf_counter()
        async with http.post(gw.url + CHAT, json=STREAM_BODY, headers=headers) as r:
            assert r.status == 200
            received = bytearray()

            async def read_all() -> None:
                async for chunk in r.content.iter_any():
                    received.extend(chunk)

            with pytest.raises(aiohttp.ClientPayloadError):
                await read_all()
        took = time.perf_counter() - started
        event = (await gw.events.wait_for(1))[-1]
    assert 0.5 < took < 1.5, took  # cut at 0.6 s, where the whole stream takes 1.8 s
    assert 0 < received.count(b'"content":"tok') < 12 and b"[DONE]" not in received
    assert event.outcome == "timeout" and event.status == 200 and event.error is not None
    assert event.error.type == "timeout" and "write_timeout (0.6 s)" in event.error.message
    assert event.usage_partial and event.usage.output_tokens > 0


async def test_a_client_that_stops_at_done_before_the_bodys_end_is_not_cancelled(
    gateway: LiveGateway,
) -> None:
    """The OpenAI SDK stops reading at `[DONE]` and closes. Here the upstream holds back the
    end of its chunked body, so the client is gone before the gateway has it: the request
    still ended as its stream said, not as a cancellation."""
    headers = {**AUTH, "x-fake-chunks": "3", "x-fake-stall-after": "1000"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(gateway.url + CHAT, json=STREAM_BODY, headers=headers) as r,
    ):
        async for line in r.content:
            if line.startswith(b"data: [DONE]"):
                break  # and leave, the body's end unread
    event = (await gateway.events.wait_for(1))[-1]
    assert event.outcome == "ok" and event.error is None and event.status == 200
    assert not event.usage_partial and not event.usage_estimated
    assert event.usage.output_tokens == 3 and event.terminal_status == "stop"


async def test_a_stream_with_no_chunk_within_the_write_timeout_is_answered_504(
    fake_provider: FakeProvider,
) -> None:
    """The head waits for the first chunk: when the write timeout ends the wait, nothing was
    sent, so the client gets the gateway's 504 in its provider's envelope, not a cut."""
    http_settings = {"addr": "127.0.0.1:0", "write_timeout": "0.4s"}
    settings = gateway_settings(fake_provider.url, server={"http": http_settings})
    async with running_gateway(settings) as gw, aiohttp.ClientSession() as http:
        headers = {**AUTH, "x-fake-stall-after": "0"}
        async with http.post(gw.url + CHAT, json=STREAM_BODY, headers=headers) as r:
            assert r.status == 504
            error = (await r.json())["error"]
        event = (await gw.events.wait_for(1))[-1]
    assert error["code"] == "timeout" and "write_timeout (0.4 s)" in error["message"]
    assert event.outcome == "timeout" and event.status == 504


class _SlowUpstream:
    """An SSE upstream that notes when its client (the gateway) goes away."""

    def __init__(self) -> None:
        self.gone_at: float | None = None

    async def handler(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        try:
            for i in range(200):
                await response.write(
                    b'data: {"choices":[{"delta":{"content":"x"}}],"n":%d}\n\n' % i
                )
                await asyncio.sleep(0.05)
        except (ConnectionResetError, asyncio.CancelledError):
            self.gone_at = time.perf_counter()
            raise
        return response


@pytest.fixture
async def slow_upstream() -> AsyncIterator[tuple[str, _SlowUpstream]]:
    upstream = _SlowUpstream()
    app = web.Application(handler_args={"handler_cancellation": True})
    app.router.add_post(CHAT, upstream.handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", upstream
    await runner.cleanup()


async def test_client_leaving_cancels_the_upstream_at_once(
    slow_upstream: tuple[str, _SlowUpstream],
) -> None:
    url, upstream = slow_upstream
    async with running_gateway(gateway_settings(url)) as gw:
        async with aiohttp.ClientSession() as http:
            r = await http.post(gw.url + CHAT, json=STREAM_BODY, headers=AUTH)
            await r.content.readany()
            left_at = time.perf_counter()
            r.close()  # the client hangs up mid-stream
        event = (await gw.events.wait_for(1))[-1]
        for _ in range(40):
            if upstream.gone_at is not None:
                break
            await asyncio.sleep(0.05)
        assert upstream.gone_at is not None and upstream.gone_at - left_at < 1.0
        assert event.outcome == "client_cancelled" and event.usage_partial
        assert event.usage.output_tokens >= 1  # billed for what it consumed (estimated)


async def _read_chunked(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """A response's head and its chunked body, de-framed (raising if the framing is wrong)."""
    head = await reader.readuntil(b"\r\n\r\n")
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
        data = await reader.readexactly(size + 2)
        assert data[-2:] == b"\r\n", "a chunk must end where its size says"
        if size == 0:
            return head, bytes(body)
        body += data[:-2]


async def _slow_reader_asks_for_a_stream(
    url: str, version: str, deltas: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection with a small receive buffer (its reads are the test's to pace), on which a
    Claude stream of `deltas` text deltas was asked for over HTTP/`version`."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
    body = b'{"model":"c","max_tokens":8,"stream":true,"messages":[]}'
    writer.write(
        (
            f"POST /v1/messages HTTP/{version}\r\nhost: {host}\r\nx-api-key: k\r\n"
            f"x-fake-chunks: {deltas}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode()
        + body
    )
    return reader, writer


@pytest.mark.parametrize("metrics", [True, False], ids=["metrics", "no-metrics"])
async def test_a_client_reading_slower_than_the_upstream_gets_the_whole_stream(
    fake_provider: FakeProvider, metrics: bool, mocker: MockerFixture
) -> None:
    """The client does not read for a while, with a small receive buffer: the gateway's writes
    fill it and its transport's buffer, the transport pauses, and chunks go through Sanic's
    waiting send until the client reads again. Every chunk must arrive, whole and in order, and
    the connection must serve the next request."""
    written = mocker.spy(GatewayHttpProtocol, "write_chunk")  # observed, not replaced
    deltas = 100_000  # ~12 MB of Claude SSE: more than the sockets hold (~10 pauses, counted)
    settings = gateway_settings(fake_provider.url, metrics={"enabled": metrics})
    async with running_gateway(settings) as gw:
        reader, writer = await _slow_reader_asks_for_a_stream(gw.url, "1.1", deltas)
        await asyncio.sleep(1.0)  # not reading: the upstream's deltas pile up in the gateway
        head, stream = await asyncio.wait_for(_read_chunked(reader), 60)
        host = gw.url.removeprefix("http://")
        writer.write(  # the same connection, kept alive after the stream
            f"GET /v1/models HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer k\r\n\r\n".encode()
        )
        next_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.close()
        event = (await gw.events.wait_for(2))[0]
    # The paused path was taken (else this test would not test it): some chunks went Sanic's way.
    assert False in written.spy_return_list and True in written.spy_return_list
    assert next_head.startswith(b"HTTP/1.1 200")
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head.lower()
    texts = [
        json.loads(line[6:])["delta"]["text"]
        for line in stream.split(b"\n")
        if line.startswith(b"data: ") and b'"text_delta"' in line
    ]
    assert "".join(texts) == "".join(f"tok{i} " for i in range(deltas))
    assert stream.rstrip().endswith(b'data: {"type":"message_stop"}')
    assert event.outcome == "ok" and event.usage.output_tokens == deltas
    assert event.bytes_out == len(stream)


async def test_a_fault_of_the_gateway_mid_stream_reaches_the_client_as_a_truncation(
    fake_provider: FakeProvider,
) -> None:
    """A bug that raises once the headers are out (here: an upstream adapter's) must cut the
    connection: a clean end would make a truncated answer look whole."""
    chunks = [b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n'] * 3
    broken = ScriptedUpstream(
        ScriptedResponse(
            headers=(("content-type", "text/event-stream"),),
            body_chunks=chunks,
            fail_with=RuntimeError("a bug in an adapter"),
        )
    )
    settings = gateway_settings(fake_provider.url)
    async with running_gateway(settings, upstream=broken) as gw, aiohttp.ClientSession() as http:
        async with http.post(gw.url + CHAT, json=STREAM_BODY, headers=AUTH) as r:
            assert r.status == 200
            received: list[bytes] = []

            async def read_all() -> None:
                async for piece in r.content.iter_any():
                    received.append(piece)

            with pytest.raises(aiohttp.ClientPayloadError):
                await read_all()
        assert b"".join(received) == b"".join(chunks)
        event = (await gw.events.wait_for(1))[-1]
        assert event.outcome == "upstream_error" and event.error is not None
        assert event.error.type == "internal" and event.error.message == "RuntimeError"


async def _http10(url: str, path: str, body: bytes, headers: str) -> tuple[bytes, bytes]:
    """One HTTP/1.0 request; the response's head and all it sent until it closed."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            f"POST {path} HTTP/1.0\r\nhost: {host}\r\n{headers}"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        ).encode()
        + body
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    rest = await asyncio.wait_for(reader.read(), 10)  # to the close, which ends the body
    writer.close()
    return head, rest


@pytest.mark.parametrize("keep_alive", [False, True], ids=["plain", "asks-keep-alive"])
async def test_an_http10_client_gets_its_stream_unframed_and_ended_by_the_close(
    gateway: LiveGateway, keep_alive: bool, mocker: MockerFixture
) -> None:
    """HTTP/1.0 has no chunked coding (RFC 9112 6.1): chunk sizes would read as part of the
    stream. The stream goes as it came, and the connection's close ends it, even when the
    client asked to keep the connection. Its chunks take the direct write, as a chunked
    stream's do (nginx proxies with HTTP/1.0 by default)."""
    written = mocker.spy(GatewayHttpProtocol, "write_unframed")  # observed, not replaced
    body = b'{"model":"c","max_tokens":8,"stream":true,"messages":[]}'
    extra = "connection: keep-alive\r\n" if keep_alive else ""
    head, stream = await _http10(
        gateway.url,
        "/v1/messages",
        body,
        f"x-api-key: k\r\nx-fake-chunks: 40\r\nx-fake-chunk-delay-ms: 2\r\n{extra}",
    )
    lowered = head.lower()
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding" not in lowered and b"content-length" not in lowered
    assert b"connection: close" in lowered
    texts = [
        json.loads(line[6:])["delta"]["text"]
        for line in stream.split(b"\n")
        if line.startswith(b"data: ") and b'"text_delta"' in line
    ]
    assert "".join(texts) == "".join(f"tok{i} " for i in range(40))
    assert stream.startswith(b"event: message_start\n")  # no chunk size before it
    assert stream.rstrip().endswith(b'data: {"type":"message_stop"}')
    event = (await gateway.events.wait_for(1))[-1]
    assert event.outcome == "ok" and event.usage.output_tokens == 40
    assert event.bytes_out == len(stream)
    # The deltas 2 ms apart: those after the head's went by the direct write.
    assert True in written.spy_return_list


async def test_an_http10_client_reading_slower_than_the_upstream_gets_the_whole_stream(
    fake_provider: FakeProvider, mocker: MockerFixture
) -> None:
    """The HTTP/1.0 twin of the slow-client test above: pieces the paused transport refuses go
    through Sanic's waiting send, unframed like the rest, and none is lost or reordered."""
    written = mocker.spy(GatewayHttpProtocol, "write_unframed")  # observed, not replaced
    deltas = 100_000
    async with running_gateway(gateway_settings(fake_provider.url)) as gw:
        reader, writer = await _slow_reader_asks_for_a_stream(gw.url, "1.0", deltas)
        await asyncio.sleep(1.0)  # not reading: the upstream's deltas pile up in the gateway
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        stream = await asyncio.wait_for(reader.read(), 60)  # to the close, which ends it
        writer.close()
        event = (await gw.events.wait_for(1))[0]
    assert False in written.spy_return_list and True in written.spy_return_list
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding" not in head.lower()
    texts = [
        json.loads(line[6:])["delta"]["text"]
        for line in stream.split(b"\n")
        if line.startswith(b"data: ") and b'"text_delta"' in line
    ]
    assert "".join(texts) == "".join(f"tok{i} " for i in range(deltas))
    assert stream.startswith(b"event: message_start\n")
    assert stream.rstrip().endswith(b'data: {"type":"message_stop"}')
    assert event.outcome == "ok" and event.usage.output_tokens == deltas
    assert event.bytes_out == len(stream)


async def test_an_http10_client_gets_a_whole_answer_with_its_length(gateway: LiveGateway) -> None:
    body = b'{"model":"c","max_tokens":8,"messages":[]}'
    head, answer = await _http10(gateway.url, "/v1/messages", body, "x-api-key: k\r\n")
    lowered = head.lower()
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding" not in lowered
    assert f"content-length: {len(answer)}".encode() in lowered
    assert json.loads(answer)["type"] == "message"
