"""A finished request leaves nothing for the garbage collector: no reference cycle through it.

A cycle keeps a request's objects (headers, body, scope, callbacks) alive until the next
collection, and makes collections frequent under load: it measured as tens of µs of CPU per
request. Every request-end hook (access log, metrics, tracing) is switched on here, for JSON and
streamed answers.
"""

from __future__ import annotations

import gc

import pytest
from sanic import Request

from tests.conftest import raw_request
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
