"""Both upstream clients (http1, aiohttp) against a raw loopback HTTP server scripted per test.

The server sees the exact bytes the client sends and answers with exact bytes, so framing
(content-length, chunked, end of connection), keep-alive reuse, timeouts, cut-offs, backpressure
and the pool's limits are checked on the wire, not through a library's view of it.
"""

from __future__ import annotations

import asyncio
import contextvars
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
import trustme

from gateway.adapters.upstream.factory import ManagedUpstream, upstream_for
from gateway.adapters.upstream.pool_settings import UpstreamPoolSettings
from gateway.devtools.loopback import free_port
from gateway.domain.errors import (
    InvalidRequest,
    UpstreamCutOff,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.domain.ports.upstream import UpstreamRequest

pytestmark = pytest.mark.integration

CLIENTS = ["http1", "aiohttp"]
JSON_ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: r1\r\n"
    b'content-length: 11\r\n\r\n{"ok":true}'
)


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def request(self, timeout: float = 5.0) -> bytes:
        """One request, head and body (by its content-length); b"" at the end of the connection."""
        try:
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        except asyncio.IncompleteReadError:
            return b""
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return head + (await self.reader.readexactly(length) if length else b"")

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def closed_by_peer(self, timeout: float = 3.0) -> bool:
        try:
            return await asyncio.wait_for(self.reader.read(1), timeout) == b""
        except (TimeoutError, ConnectionError):
            return False


Handler = Callable[[Conn], Awaitable[None]]


@dataclass
class Server:
    url: str
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


@asynccontextmanager
async def scripted(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    port = free_port()
    server = Server(f"{'https' if tls else 'http'}://127.0.0.1:{port}")
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.connections += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(Conn(reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", port, ssl=tls)
    try:
        yield server
    finally:
        listener.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def answer_each(answer: bytes, server_log: list[bytes] | None = None) -> Handler:
    async def handler(conn: Conn) -> None:
        while request := await conn.request():
            if server_log is not None:
                server_log.append(request)
            await conn.send(answer)

    return handler


@asynccontextmanager
async def client(name: str, **overrides: float) -> AsyncIterator[ManagedUpstream]:
    settings = UpstreamPoolSettings(
        connect_timeout=overrides.pop("connect_timeout", 2.0),
        read_timeout=overrides.pop("read_timeout", 5.0),
        pool_size=int(overrides.pop("pool_size", 16)),
        keepalive_timeout=overrides.pop("keepalive_timeout", 30.0),
    )
    upstream = upstream_for(name, settings)
    await upstream.start()
    try:
        yield upstream
    finally:
        await upstream.close()


def post(url: str, body: bytes = b'{"model":"m"}', **headers: str) -> UpstreamRequest:
    pairs = [("content-type", "application/json"), *headers.items()]
    return UpstreamRequest("POST", url + "/v1/chat/completions?x=1", pairs, body)


@pytest.mark.parametrize("name", CLIENTS)
async def test_json_answer_and_keep_alive_reuse(name: str) -> None:
    seen: list[bytes] = []
    async with scripted(answer_each(JSON_ANSWER, seen)) as server, client(name) as upstream:
        for _ in range(3):
            response = await upstream.send(post(server.url, authorization="Bearer k"))
            assert response.status == 200
            assert ("x-request-id", "r1") in [(n.lower(), v) for n, v in response.headers]
            assert response.content_length == 11
            assert await response.read() == b'{"ok":true}'
            response.release()
    assert server.connections == 1
    head, _, body = seen[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions?x=1 HTTP/1.1"
    sent = dict(line.lower().split(b": ", 1) for line in lines[1:])
    assert sent[b"host"] == server.url.removeprefix("http://").encode()
    assert sent[b"content-length"] == b"13" and body == b'{"model":"m"}'
    assert sent[b"authorization"] == b"bearer k"


@pytest.mark.parametrize("name", CLIENTS)
async def test_chunked_body_arrives_as_it_is_sent(name: str) -> None:
    go_on = asyncio.Event()

    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n7\r\ndata: 1\r\n"
        )
        await go_on.wait()
        await conn.send(b"7\r\ndata: 2\r\n0\r\n\r\n")
        await conn.request(timeout=3)

    async with scripted(handler) as server, client(name) as upstream:
        response = await upstream.send(post(server.url))
        chunks = response.chunks()
        assert await anext(chunks) == b"data: 1"  # before the rest exists
        go_on.set()
        assert b"".join([chunk async for chunk in chunks]) == b"data: 2"
        response.release()


@pytest.mark.parametrize("name", CLIENTS)
async def test_body_ending_with_the_connection(name: str) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + b"x" * 70_000)

    async with scripted(handler) as server, client(name) as upstream:
        response = await upstream.send(post(server.url))
        assert await response.read() == b"x" * 70_000
        response.release()


@pytest.mark.parametrize("name", CLIENTS)
async def test_connection_cut_mid_body_is_a_cut_off(name: str) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")

    async with scripted(handler) as server, client(name) as upstream:
        response = await upstream.send(post(server.url))
        with pytest.raises(UpstreamCutOff):
            await response.read()
        response.release()


@pytest.mark.parametrize("name", CLIENTS)
async def test_silence_before_the_headers_times_out(name: str) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await asyncio.sleep(10)

    async with scripted(handler) as server, client(name, read_timeout=0.3) as upstream:
        began = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await upstream.send(post(server.url))
        assert 0.25 < time.monotonic() - began < 2.0


@pytest.mark.parametrize("name", CLIENTS)
async def test_silence_between_chunks_times_out_but_steady_talk_does_not(name: str) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for _ in range(6):  # 0.6 s in all, never 0.3 s silent
            await asyncio.sleep(0.1)
            await conn.send(b"1\r\na\r\n")
        await asyncio.sleep(10)

    async with scripted(handler) as server, client(name, read_timeout=0.3) as upstream:
        response = await upstream.send(post(server.url))
        received: list[bytes] = []

        async def read_all() -> None:
            async for chunk in response.chunks():
                received.append(chunk)

        with pytest.raises(UpstreamTimeout):
            await read_all()
        assert b"".join(received) == b"a" * 6
        response.release()


@pytest.mark.parametrize("name", CLIENTS)
async def test_nobody_listening_is_unreachable(name: str) -> None:
    async with client(name) as upstream:
        with pytest.raises(UpstreamUnreachable) as caught:
            await upstream.send(post(f"http://127.0.0.1:{free_port()}"))
        assert "127.0.0.1" not in str(caught.value)


@pytest.mark.parametrize("name", CLIENTS)
async def test_upstream_closing_an_idle_connection_is_not_an_error(name: str) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(JSON_ANSWER)
        # then closes the kept-alive connection, as servers do after their idle timeout

    async with scripted(handler) as server, client(name) as upstream:
        for _ in range(3):
            response = await upstream.send(post(server.url))
            assert await response.read() == b'{"ok":true}'
            response.release()
            await asyncio.sleep(0.1)
    assert server.connections == 3


async def test_a_post_is_never_sent_twice() -> None:
    """An upstream that takes a request and closes without a word: the POST may have been acted
    on, so it fails (502) rather than going out again on another connection."""
    seen: list[bytes] = []

    async def handler(conn: Conn) -> None:
        seen.append(await conn.request())
        if len(seen) == 1:
            await conn.send(JSON_ANSWER)
            seen.append(await conn.request())  # the second request, on the kept-alive connection

    async with scripted(handler) as server, client("http1") as upstream:
        first = await upstream.send(post(server.url))
        await first.read()
        first.release()
        with pytest.raises(UpstreamUnreachable):
            await upstream.send(post(server.url))
    assert len(seen) == 2 and server.connections == 1


async def test_a_get_on_a_connection_closed_under_it_goes_out_again() -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(JSON_ANSWER)
        await conn.request()  # a second request arrives as the server closes: never answered

    async with scripted(handler) as server, client("http1") as upstream:
        response = await upstream.send(post(server.url))
        await response.read()
        response.release()
        again = UpstreamRequest("GET", server.url + "/v1/models", [], b"")
        response = await upstream.send(again)
        assert await response.read() == b'{"ok":true}'
        response.release()
    assert server.connections == 2


@pytest.mark.parametrize("name", CLIENTS)
async def test_released_before_the_end_drops_the_connection(name: str) -> None:
    closed = asyncio.get_running_loop().create_future()

    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
        closed.set_result(await conn.closed_by_peer())

    async with scripted(handler) as server, client(name) as upstream:
        response = await upstream.send(post(server.url))
        assert await anext(response.chunks()) == b"abc"
        response.release()  # a client that left: the upstream must stop generating
        assert await asyncio.wait_for(closed, 3) is True


@pytest.mark.parametrize("name", CLIENTS)
async def test_cancelled_while_waiting_for_headers_drops_the_connection(name: str) -> None:
    closed = asyncio.get_running_loop().create_future()

    async def handler(conn: Conn) -> None:
        await conn.request()
        closed.set_result(await conn.closed_by_peer())

    async with scripted(handler) as server, client(name) as upstream:
        task = asyncio.create_task(upstream.send(post(server.url)))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.wait_for(closed, 3) is True


async def test_pool_limit_makes_requests_wait_for_a_connection() -> None:
    async def handler(conn: Conn) -> None:
        while await conn.request():
            await asyncio.sleep(0.05)
            await conn.send(JSON_ANSWER)

    async def one(upstream: ManagedUpstream, url: str) -> bytes:
        response = await upstream.send(post(url))
        try:
            return await response.read()
        finally:
            response.release()

    async with scripted(handler) as server, client("http1", pool_size=2) as upstream:
        bodies = await asyncio.gather(*(one(upstream, server.url) for _ in range(8)))
    assert bodies == [b'{"ok":true}'] * 8
    assert server.connections == 2


async def test_idle_connections_close_after_keepalive_timeout() -> None:
    closed = asyncio.get_running_loop().create_future()

    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(JSON_ANSWER)
        closed.set_result(await conn.closed_by_peer(timeout=3))

    async with scripted(handler) as server, client("http1", keepalive_timeout=0.3) as upstream:
        response = await upstream.send(post(server.url))
        await response.read()
        response.release()
        began = time.monotonic()
        assert await asyncio.wait_for(closed, 5) is True
        assert time.monotonic() - began < 2.0


async def test_a_slow_consumer_pauses_reading_instead_of_buffering_everything() -> None:
    size = 64 * 2**20
    sent_all = asyncio.Event()

    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(f"HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n".encode())
        block = b"z" * 2**20
        for _ in range(size // len(block)):
            await conn.send(block)
        sent_all.set()

    async with scripted(handler) as server, client("http1") as upstream:
        response = await upstream.send(post(server.url))
        chunks = response.chunks()
        received = len(await anext(chunks))
        await asyncio.sleep(0.5)  # not reading: the server must be held back
        assert not sent_all.is_set()
        async for chunk in chunks:
            received += len(chunk)
        assert received == size and sent_all.is_set()
        response.release()


async def test_informational_answers_are_skipped() -> None:
    answer = b"HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\n" + JSON_ANSWER
    async with scripted(answer_each(answer)) as server, client("http1") as upstream:
        response = await upstream.send(post(server.url))
        assert response.status == 200 and await response.read() == b'{"ok":true}'
        assert "link" not in {n.lower() for n, _ in response.headers}
        response.release()


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_a_header_with_a_line_break_is_refused_before_sending(client_name: str) -> None:
    seen: list[bytes] = []
    async with scripted(answer_each(JSON_ANSWER, seen)) as server, client(client_name) as upstream:
        with pytest.raises(InvalidRequest):
            await upstream.send(post(server.url, authorization="Bearer k\r\nx-evil: 1"))
    assert seen == []


async def test_invalid_http_from_the_upstream_is_a_bad_gateway() -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(b"SMTP ready\r\n\r\n")

    async with scripted(handler) as server, client("http1") as upstream:
        with pytest.raises(UpstreamUnreachable):
            await upstream.send(post(server.url))


@pytest.mark.parametrize("client_name", CLIENTS)
@pytest.mark.parametrize(
    "name",
    ["transfer-encoding ", "content length", "", "x\tbad", "x:y"],
    ids=["space-before-colon", "space-inside", "empty", "tab", "colon"],
)
async def test_a_header_name_that_is_not_a_token_is_refused_before_sending(
    name: str, client_name: str
) -> None:
    # Sanic keeps what a client wrote before the colon: forwarded, "transfer-encoding : chunked"
    # could frame the request differently upstream (RFC 9110 5.1, RFC 9112 5.1).
    seen: list[bytes] = []
    async with scripted(answer_each(JSON_ANSWER, seen)) as server, client(client_name) as upstream:
        request = post(server.url)
        bad = UpstreamRequest("POST", request.url, [*request.headers, (name, "chunked")], b"{}")
        with pytest.raises(InvalidRequest, match="not a token"):
            await upstream.send(bad)
        nul = UpstreamRequest("POST", request.url, [*request.headers, ("x-a", "a\x00b")], b"{}")
        with pytest.raises(InvalidRequest, match="NUL"):
            await upstream.send(nul)
    assert seen == []


async def test_a_header_value_goes_upstream_as_the_bytes_the_client_sent() -> None:
    # Sanic decodes a head as UTF-8 with surrogateescape: "café" and invalid UTF-8 both go back
    # to their own bytes (they were rewritten to Latin-1, or failed with a 500).
    seen: list[bytes] = []
    sent = b"caf\xc3\xa9 \xff\xfe"
    value = sent.decode("utf-8", "surrogateescape")
    async with scripted(answer_each(JSON_ANSWER, seen)) as server, client("http1") as upstream:
        response = await upstream.send(post(server.url, **{"x-note": value}))
        assert response.status == 200
        response.release()
    assert b"\r\nx-note: " + sent + b"\r\n" in seen[0]


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 999 Odd\r\ncontent-length: 2\r\n\r\n{}",
        b"HTTP/1.1 199 Odd\r\ncontent-length: 9\r\n\r\nGARBAGE!!" + JSON_ANSWER,
        b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * (65 << 10) + b"\r\ncontent-length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\n" + b"x-h: 1\r\n" * 12_000 + b"content-length: 2\r\n\r\n{}",
    ],
    ids=["status-999", "1xx-with-a-body", "a-64-KiB-header", "12,000-headers"],
)
async def test_an_answer_not_fit_to_relay_is_a_bad_gateway_and_retires_its_connection(
    answer: bytes,
) -> None:
    async with scripted(answer_each(answer)) as server, client("http1") as upstream:
        with pytest.raises(UpstreamUnreachable, match="not valid HTTP"):
            await upstream.send(post(server.url))
    assert server.connections == 1


async def test_a_204_that_announces_a_body_retires_its_connection() -> None:
    # Its "body" would come after it, and be read as the next request's answer (pool poison).
    async def handler(conn: Conn) -> None:
        while await conn.request(timeout=3):
            await conn.send(b"HTTP/1.1 204 No Content\r\ncontent-length: 90\r\n\r\n")

    async with scripted(handler) as server, client("http1") as upstream:
        for _ in range(2):
            response = await upstream.send(post(server.url))
            assert response.status == 204
            response.release()
    assert server.connections == 2


async def test_https_upstream(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    with authority.cert_pem.tempfile() as ca_file:
        # The client trusts the system's authorities; here the test's authority is the system's.
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)
        async with (
            scripted(answer_each(JSON_ANSWER), tls=server_context) as server,
            client("http1") as upstream,
        ):
            for _ in range(2):
                response = await upstream.send(post(server.url))
                assert await response.read() == b'{"ok":true}'
                response.release()
            assert server.connections == 1


async def test_https_upstream_with_an_untrusted_certificate_is_unreachable() -> None:
    certificate = trustme.CA().issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    async with (
        scripted(answer_each(JSON_ANSWER), tls=server_context) as server,
        client("http1") as upstream,
    ):
        with pytest.raises(UpstreamUnreachable):
            await upstream.send(post(server.url))


@pytest.mark.parametrize(
    ("name", "kind"), [("http1", "Http1Upstream"), ("aiohttp", "AiohttpUpstream")]
)
def test_the_configured_client_is_the_one_built(name: str, kind: str) -> None:
    built = upstream_for(name, UpstreamPoolSettings(connect_timeout=1, read_timeout=1))
    assert type(built).__name__ == kind


async def test_bytes_past_the_end_of_an_answer_retire_the_connection() -> None:
    """A server answering twice (or sending more than its content-length): the first answer is
    the answer, and the connection is not used again."""

    async def handler(conn: Conn) -> None:
        while await conn.request():
            await conn.send(JSON_ANSWER + b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nbad")

    async with scripted(handler) as server, client("http1") as upstream:
        for _ in range(2):
            response = await upstream.send(post(server.url))
            assert response.status == 200 and await response.read() == b'{"ok":true}'
            response.release()
    assert server.connections == 2


CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def held_pieces(go_on: asyncio.Event) -> Handler:
    """A chunked body whose second piece waits for `go_on`; then a JSON answer to the next
    request on the connection."""

    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(CHUNKED_HEAD + b"7\r\ndata: 1\r\n")
        await go_on.wait()
        await conn.send(b"7\r\ndata: 2\r\n0\r\n\r\n")
        if await conn.request(timeout=3):
            await conn.send(JSON_ANSWER)

    return handler


async def paced_pieces(conn: Conn) -> None:
    """To each request on the connection, a chunked body of three 7-byte pieces, 50 ms apart."""
    while await conn.request(timeout=3):
        await conn.send(CHUNKED_HEAD + b"7\r\ndata: 1\r\n")
        for piece in (b"7\r\ndata: 2\r\n", b"7\r\ndata: 3\r\n0\r\n\r\n"):
            await asyncio.sleep(0.05)
            await conn.send(piece)


def head_then(after_head: bytes) -> Handler:
    """The headers, then 50 ms later `after_head` in one write."""

    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(CHUNKED_HEAD)
        await asyncio.sleep(0.05)
        await conn.send(after_head)
        await conn.request(timeout=3)

    return handler


@pytest.mark.parametrize("name", CLIENTS)
async def test_push_hands_over_the_body_as_it_arrives_and_the_connection_is_kept(
    name: str,
) -> None:
    go_on = asyncio.Event()
    async with scripted(held_pieces(go_on)) as server, client(name) as upstream:
        response = await upstream.send(post(server.url))
        taken: list[bytes] = []
        in_callback: list[bool] = []

        def sink(chunk: bytes) -> bool:
            taken.append(chunk)
            in_callback.append(asyncio.current_task() is None)
            go_on.set()  # the first piece came before the rest existed
            return True

        await asyncio.wait_for(response.push(sink), 5)
        assert b"".join(taken) == b"data: 1data: 2"
        if name == "http1":  # from the connection's own callback, not a wake-up of the task
            assert in_callback[-1] is True
        response.release()
        again = await upstream.send(post(server.url))
        assert await again.read() == b'{"ok":true}'
        again.release()
    assert server.connections == 1


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("sink_ends", ["refusing", "raising"])
async def test_a_push_ends_at_the_piece_its_sink_refuses_or_raises_on(
    name: str, sink_ends: str
) -> None:
    async with scripted(paced_pieces) as server, client(name) as upstream:
        response = await upstream.send(post(server.url))
        taken: list[bytes] = []

        def sink(chunk: bytes) -> bool:
            taken.append(chunk)
            if len(taken) == 1:  # the piece that came with the headers
                return True
            if sink_ends == "raising":
                raise ValueError("a bug in the consumer")
            return False  # taken, but nothing more now (a paused client transport)

        if sink_ends == "raising":
            with pytest.raises(ValueError, match="a bug in the consumer"):
                await asyncio.wait_for(response.push(sink), 5)
        else:
            await asyncio.wait_for(response.push(sink), 5)
        assert taken == [b"data: 1", b"data: 2"]  # never called again
        rest = b"".join([chunk async for chunk in response.chunks()])
        assert rest == b"data: 3"  # nothing lost: the rest can be read
        response.release()


@pytest.mark.parametrize("name", CLIENTS)
async def test_a_push_gets_one_piece_per_read_however_many_frames_it_holds(name: str) -> None:
    frames = b"7\r\ndata: 1\r\n7\r\ndata: 2\r\n7\r\ndata: 3\r\n0\r\n\r\n"
    async with scripted(head_then(frames)) as server, client(name) as upstream:
        response = await upstream.send(post(server.url))
        taken: list[bytes] = []
        await asyncio.wait_for(response.push(lambda c: taken.append(c) is None), 5)
        assert b"".join(taken) == b"data: 1data: 2data: 3"
        if name == "http1":  # one write to the client, one gap, one parse per read
            assert taken == [b"data: 1data: 2data: 3"]
        response.release()


@pytest.mark.parametrize("sink", ["taking", "refusing"])
async def test_a_piece_before_invalid_framing_in_the_same_read_is_not_lost(sink: str) -> None:
    """A refusal hands the piece back even when the read that brought it also broke the
    framing: the error comes with the next read."""
    after_head = b"7\r\ndata: 1\r\nzz\r\n"  # a chunk, then a size that is not hex
    async with scripted(head_then(after_head)) as server, client("http1") as upstream:
        response = await upstream.send(post(server.url))
        taken: list[bytes] = []

        def take(chunk: bytes) -> bool:
            taken.append(chunk)
            return sink == "taking"

        if sink == "taking":
            with pytest.raises(UpstreamCutOff):
                await asyncio.wait_for(response.push(take), 5)
        else:
            await asyncio.wait_for(response.push(take), 5)
            with pytest.raises(UpstreamCutOff):
                await anext(response.chunks())
        assert taken == [b"data: 1"]
        response.release()


@pytest.mark.parametrize("name", CLIENTS)
async def test_the_sink_sees_the_pushing_requests_context(name: str) -> None:
    """A pooled connection's callbacks run in the context of the request that opened it: the
    sink must see its own request's context variables (log fields, the trace's span)."""
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    seen: list[str] = []

    async def one_request(rid: str) -> None:
        request_id.set(rid)
        response = await upstream.send(post(server.url))
        await asyncio.wait_for(response.push(lambda c: seen.append(request_id.get()) is None), 5)
        response.release()

    async with scripted(paced_pieces) as server, client(name) as upstream:
        await asyncio.create_task(one_request("first"))
        seen.clear()
        await asyncio.create_task(one_request("second"))
    assert seen and set(seen) == {"second"}
    assert server.connections == 1  # the second request went out on the first's connection


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("upstream_ends", ["cut", "silent"])
async def test_a_cut_or_silent_upstream_ends_a_push_with_its_error(
    name: str, upstream_ends: str
) -> None:
    async def handler(conn: Conn) -> None:
        await conn.request()
        await conn.send(CHUNKED_HEAD + b"7\r\ndata: 1\r\n")
        # then the connection ends mid-body, or nothing more comes
        await asyncio.sleep(0.05 if upstream_ends == "cut" else 10)

    error = UpstreamCutOff if upstream_ends == "cut" else UpstreamTimeout
    async with scripted(handler) as server, client(name, read_timeout=0.3) as upstream:
        response = await upstream.send(post(server.url))
        taken: list[bytes] = []
        with pytest.raises(error):
            await asyncio.wait_for(response.push(lambda c: taken.append(c) is None), 5)
        assert taken == [b"data: 1"]
        response.release()


async def test_a_cancelled_push_hands_nothing_more_to_its_sink() -> None:
    go_on = asyncio.Event()
    async with scripted(held_pieces(go_on)) as server, client("http1") as upstream:
        response = await upstream.send(post(server.url))
        taken: list[bytes] = []
        pushing = asyncio.create_task(response.push(lambda c: taken.append(c) is None))
        while not taken:
            await asyncio.sleep(0.01)
        pushing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pushing
        go_on.set()
        await asyncio.sleep(0.2)
        assert taken == [b"data: 1"]
        response.release()
