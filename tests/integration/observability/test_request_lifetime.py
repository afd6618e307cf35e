"""A finished request leaves nothing for the garbage collector (no reference cycle through it),
and its end-of-request work does not delay its answer.

A cycle keeps a request's objects (headers, body, scope, callbacks) alive until the next
collection, and makes collections frequent under load: it measured as tens of µs of CPU per
request. Every request-end hook (access log, metrics, tracing) is switched on here, for JSON and
streamed answers.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import time

import pytest
from sanic import Request

from gateway.devtools.fake_provider import FakeProvider
from gateway.domain.events import RequestLogEvent
from tests.conftest import gateway_settings, raw_request, running_gateway
from tests.fakes import MemoryEventPublisher
from tests.integration.observability.conftest import ObservedGateway

pytestmark = pytest.mark.integration

CHAT = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'
STREAM = b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'


async def test_no_request_is_left_in_a_reference_cycle(observed_gateway: ObservedGateway) -> None:
    # Production mode (JSON access lines), tracing at sample rate 1, metrics and access log on.
    async with observed_gateway(logging={"access_log": True}) as observed:
        live = observed.live
        for body in (CHAT, STREAM):  # warm-up: caches and pools filled
            await raw_request(live.url, "POST", "/v1/chat/completions", body)
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds is kept in gc.garbage to look at
        try:
            for _ in range(5):
                for body in (CHAT, STREAM, b"{not json"):
                    status, _ = await raw_request(live.url, "POST", "/v1/chat/completions", body)
                    assert status in (200, 400)
            gc.collect()
            cyclic_requests = [o for o in gc.garbage if isinstance(o, Request)]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    assert cyclic_requests == []


class SlowPublisher(MemoryEventPublisher):
    """Holds the event loop while it publishes, as a slow end-of-request hook would."""

    def __init__(self, hold: float) -> None:
        super().__init__()
        self.hold = hold
        self.published_at: list[float] = []

    def publish(self, event: RequestLogEvent) -> None:
        time.sleep(self.hold)  # blocks the loop; a thread can still read the socket
        self.published_at.append(time.perf_counter())
        super().publish(event)


def _receive_whole_response(url: str, request: bytes) -> tuple[bytes, float]:
    """Blocking client for a thread: sends, reads to the end of a content-length body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < _expected_length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data, time.perf_counter()


def _expected_length(data: bytes) -> int:
    head, _, _ = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(data) + 1


async def test_a_buffered_answer_reaches_the_client_before_the_requests_end_work(
    fake_provider: FakeProvider,
) -> None:
    # The event, the usage record, the access line and the metrics of a buffered answer are
    # done after its bytes are written, not before: the client does not wait for them.
    publisher = SlowPublisher(hold=0.5)
    async with running_gateway(gateway_settings(fake_provider.url), events=publisher) as live:
        request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\n"
            b"authorization: Bearer k\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%b" % (len(CHAT), CHAT)
        )
        response, received_at = await asyncio.to_thread(_receive_whole_response, live.url, request)
        events = await publisher.wait_for(1)
    assert response.startswith(b"HTTP/1.1 200")
    assert b'"choices"' in response
    assert events[0].status == 200 and events[0].outcome == "ok"
    # The client had the whole answer while the publisher still held the loop.
    assert received_at < publisher.published_at[0]
