"""The relay use-case with in-memory fakes of its ports: no network, no Sanic."""

from __future__ import annotations

import asyncio
import dataclasses

import orjson
import pytest

from gateway.application.background import BackgroundTasks
from gateway.application.relay import RelayService
from gateway.application.relay_command import RelayCommand, RelaySettings, UpstreamTarget
from gateway.domain.clock import Clock, SystemClock
from gateway.domain.errors import (
    InvalidRequest,
    NoUpstreamKey,
    PayloadTooLarge,
    QuotaExceeded,
    Unauthenticated,
    UpstreamCutOff,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.domain.ports.billing import Decision
from gateway.domain.provider import Provider
from gateway.domain.routes import STATIC_ROUTES, gemini_model_route
from gateway.domain.secrets import Secret
from tests.fakes import MemoryBilling, MemoryEventPublisher, ScriptedResponse, ScriptedUpstream

DIRECT = RelaySettings(
    new_api=None,
    direct={
        Provider.CLAUDE: UpstreamTarget("https://claude.test", Secret("claude-key")),
        Provider.OPENAI: UpstreamTarget("https://openai.test", Secret("openai-key")),
        Provider.GEMINI: UpstreamTarget("https://gemini.test", Secret("gemini-key")),
    },
)
NEW_API = RelaySettings(
    new_api=UpstreamTarget("http://newapi.test", Secret("")), direct=DIRECT.direct
)

CHAT = STATIC_ROUTES[("POST", "/v1/chat/completions")]
MESSAGES = STATIC_ROUTES[("POST", "/v1/messages")]
SSE = (("content-type", "text/event-stream"),)
# A Claude stream that the upstream cuts after 40 bytes of text: 20 tokens in, 10 estimated out.
CUT_CLAUDE_STREAM = [
    b"event: message_start\ndata: "
    b'{"type":"message_start","message":{"usage":{"input_tokens":20,"output_tokens":1}}}\n\n',
    b"event: content_block_delta\ndata: "
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'
    + b"x" * 40
    + b'"}}\n\n',
]


def command(
    route=CHAT, body: bytes = b'{"model":"gpt-4o"}', headers=None, query: str = ""
) -> RelayCommand:  # type: ignore[no-untyped-def]
    return RelayCommand(
        route=route,
        route_name=route.upstream_path,
        method="POST",
        query=query,
        headers=headers or {"authorization": "Bearer client-key", "user-agent": "ua/1"},
        body=body,
        request_id="req-1",
    )


def service(
    upstream: ScriptedUpstream,
    settings: RelaySettings = DIRECT,
    billing: MemoryBilling | None = None,
    publish: bool = True,
    clock: Clock | None = None,
):  # type: ignore[no-untyped-def]
    events = MemoryEventPublisher()
    billing = billing or MemoryBilling()
    relay = RelayService(
        upstream=upstream,
        billing=billing,
        events=events if publish else None,
        settings=settings,
        background=BackgroundTasks(),
        clock=clock,
    )
    return relay, events, billing


async def test_direct_mode_replaces_the_credential_and_forwards_the_body_unchanged() -> None:
    upstream = ScriptedUpstream(
        ScriptedResponse(body_chunks=[b'{"usage":{"prompt_tokens":5,"completion_tokens":2}}'])
    )
    relay, events, billing = service(upstream)
    exchange = await relay.open(command())
    assert orjson.loads(await exchange.read_body())["usage"]["prompt_tokens"] == 5
    exchange.finish()
    sent = upstream.requests[0]
    assert sent.url == "https://openai.test/v1/chat/completions"
    assert ("authorization", "Bearer openai-key") in sent.headers
    assert all("client-key" not in v for _, v in sent.headers)
    assert sent.body == b'{"model":"gpt-4o"}'
    event = events.events[0]
    assert (event.outcome, event.status, event.model, event.usage.input_tokens) == (
        "ok",
        200,
        "gpt-4o",
        5,
    )
    assert (
        event.caller is not None
        and event.caller.startswith("fp_")
        and "client-key" not in event.caller
    )
    await relay.drain(1)
    assert billing.records["req-1"].usage.output_tokens == 2


async def test_new_api_passthrough_keeps_the_clients_credential_in_its_place() -> None:
    upstream = ScriptedUpstream(ScriptedResponse())
    relay, _, _ = service(upstream, NEW_API)
    headers = {"x-api-key": "client-key", "anthropic-version": "2023-06-01"}
    exchange = await relay.open(command(MESSAGES, headers=headers, query="beta=true"))
    await exchange.read_body()
    exchange.finish()
    sent = upstream.requests[0]
    assert sent.url == "http://newapi.test/v1/messages?beta=true"
    assert ("x-api-key", "client-key") in sent.headers


@pytest.mark.parametrize("new_api_key", ["", "new-api-key"])
async def test_new_api_gets_a_claude_bearer_in_x_api_key(new_api_key: str) -> None:
    """new-api lists models in Claude's format only to x-api-key with anthropic-version, and
    the Anthropic SDK 2.x sends its key as a Bearer."""
    upstream = ScriptedUpstream(ScriptedResponse())
    target = UpstreamTarget("http://newapi.test", Secret(new_api_key))
    relay, _, _ = service(upstream, RelaySettings(new_api=target, direct=DIRECT.direct))
    headers = {"authorization": "Bearer client-key", "anthropic-version": "2023-06-01"}
    exchange = await relay.open(command(MESSAGES, headers=headers))
    await exchange.read_body()
    exchange.finish()
    sent = dict(upstream.requests[0].headers)
    assert sent["x-api-key"] == (new_api_key or "client-key")
    assert "authorization" not in sent


async def test_gemini_query_key_never_travels_in_the_url() -> None:
    upstream = ScriptedUpstream(ScriptedResponse())
    relay, _, _ = service(upstream)
    route = gemini_model_route("gemini-2.5-flash:generateContent")
    exchange = await relay.open(command(route, b"{}", headers={}, query="key=client-key&x=1"))
    await exchange.read_body()
    exchange.finish()
    sent = upstream.requests[0]
    assert sent.url == "https://gemini.test/v1beta/models/gemini-2.5-flash:generateContent?x=1"
    assert ("x-goog-api-key", "gemini-key") in sent.headers


async def test_malformed_json_is_refused_before_anything_is_sent() -> None:
    upstream = ScriptedUpstream()
    relay, events, billing = service(upstream)
    with pytest.raises(InvalidRequest):
        await relay.open(command(body=b"{nope"))
    assert upstream.requests == [] and billing.authorizations == []
    assert events.events[0].outcome == "client_error" and events.events[0].status == 400
    await relay.drain(1)
    assert billing.records == {}  # nothing reached the upstream: nothing to bill


async def test_billing_denial_is_the_answer_and_nothing_is_sent() -> None:
    upstream = ScriptedUpstream()
    relay, events, _ = service(upstream, billing=MemoryBilling(deny=QuotaExceeded()))
    with pytest.raises(QuotaExceeded):
        await relay.open(command())
    assert upstream.requests == []
    assert events.events[0].outcome == "rejected" and events.events[0].status == 429


async def test_unreachable_upstream_is_recorded_with_zero_usage() -> None:
    relay, events, billing = service(ScriptedUpstream(UpstreamUnreachable()))
    with pytest.raises(UpstreamUnreachable):
        await relay.open(command())
    await relay.drain(1)
    assert events.events[0].outcome == "upstream_error" and events.events[0].status == 502
    assert billing.records["req-1"].usage.total_tokens == 0


async def test_openai_stream_asks_for_usage_and_hides_the_usage_chunk() -> None:
    chunks = [
        b'data: {"choices":[{"delta":{"content":"hello"}}],"usage":null}\n\n',
        b'data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}\n\n',
        b"data: [DONE]\n\n",
    ]
    upstream = ScriptedUpstream(ScriptedResponse(headers=SSE, body_chunks=chunks))
    relay, events, _ = service(upstream)
    exchange = await relay.open(command(body=b'{"model":"gpt-4o","stream":true}'))
    received = b"".join([c async for c in exchange])
    exchange.finish()
    assert orjson.loads(upstream.requests[0].body)["stream_options"] == {"include_usage": True}
    assert b'"usage"' not in received and received.endswith(b"data: [DONE]\n\n")
    assert b"hello" in received
    assert events.events[0].usage.input_tokens == 9 and events.events[0].usage.output_tokens == 3


async def test_client_that_asked_for_usage_gets_it_untouched() -> None:
    chunks = [b'data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}\n\n']
    upstream = ScriptedUpstream(ScriptedResponse(headers=SSE, body_chunks=chunks))
    relay, _, _ = service(upstream)
    body = b'{"model":"m","stream":true,"stream_options":{"include_usage":true}}'
    exchange = await relay.open(command(body=body))
    received = b"".join([c async for c in exchange])
    exchange.finish()
    assert upstream.requests[0].body == body and received == chunks[0]


@pytest.mark.parametrize("read", ["iterate", "push"])
async def test_cut_stream_is_billed_with_an_estimate_and_marked_partial(read: str) -> None:
    chunks = CUT_CLAUDE_STREAM
    upstream = ScriptedUpstream(
        ScriptedResponse(headers=SSE, body_chunks=chunks, fail_with=UpstreamCutOff())
    )
    relay, events, billing = service(upstream)
    exchange = await relay.open(
        command(MESSAGES, b'{"model":"c","stream":true}', {"x-api-key": "k"})
    )
    received: list[bytes] = []

    async def read_all() -> None:
        if read == "push":
            await exchange.push(lambda chunk: received.append(chunk) is None)
        else:
            async for chunk in exchange:
                received.append(chunk)

    with pytest.raises(UpstreamCutOff):
        await read_all()
    exchange.finish(UpstreamCutOff())
    await relay.drain(1)
    assert received == chunks
    record = billing.records["req-1"]
    assert record.partial and record.estimated
    assert record.usage.input_tokens == 20 and record.usage.output_tokens == 10  # 40 bytes / 4
    assert events.events[0].outcome == "upstream_error"


async def test_client_cancel_mid_stream_is_recorded_once() -> None:
    chunks = [b'data: {"choices":[{"delta":{"content":"abcdefgh"}}]}\n\n']
    upstream = ScriptedUpstream(ScriptedResponse(headers=SSE, body_chunks=chunks))
    relay, events, billing = service(upstream)
    exchange = await relay.open(command(body=b'{"model":"m","stream":true,"messages":[]}'))
    await exchange.__anext__()
    exchange.finish(asyncio.CancelledError())
    exchange.finish()  # idempotent: one event, one record
    await relay.drain(1)
    assert len(events.events) == 1 and events.events[0].outcome == "client_cancelled"
    assert billing.records["req-1"].partial and billing.records["req-1"].usage.output_tokens == 2


async def test_a_client_that_leaves_after_the_streams_last_event_was_not_cancelled() -> None:
    # The OpenAI SDK stops at [DONE] and may close before the body's own end arrives.
    chunks = [
        b'data: {"choices":[{"delta":{"content":"abcd"},"finish_reason":null}]}\n\n',
        b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n',
        b'data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}\n\n',
        b"data: [DONE]\n\n",
    ]
    for sent, outcome in [(len(chunks), "ok"), (2, "client_cancelled")]:
        upstream = ScriptedUpstream(ScriptedResponse(headers=SSE, body_chunks=chunks[:sent]))
        relay, events, billing = service(upstream)
        exchange = await relay.open(command(body=b'{"model":"m","stream":true,"messages":[]}'))
        async for _ in exchange:
            pass
        exchange.finish(asyncio.CancelledError())
        await relay.drain(1)
        event, record = events.events[0], billing.records["req-1"]
        assert event.outcome == record.outcome == outcome
        assert (event.error is None) is (outcome == "ok")
        assert record.partial is (outcome != "ok") and event.status == 200
    assert event.usage.output_tokens == 1  # cancelled before the usage: 4 bytes estimated


async def test_client_gone_before_the_answer_is_billed_for_the_prompt_it_sent() -> None:
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"' + b"x" * 400 + b'"}]}'
    relay, events, billing = service(ScriptedUpstream(asyncio.CancelledError()))
    with pytest.raises(asyncio.CancelledError):
        await relay.open(command(body=body))
    await relay.drain(1)
    record = billing.records["req-1"]
    assert record.partial and record.estimated and record.status == 499
    assert record.usage.input_tokens == -(-len(body) // 4) and record.usage.output_tokens == 0
    assert events.events[0].outcome == "client_cancelled"


async def test_a_whole_body_that_fails_is_recorded_with_the_status_the_client_gets() -> None:
    # The upstream answered 200, then its body went silent: the client gets the gateway's 504.
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"' + b"x" * 400 + b'"}]}'
    answer = ScriptedResponse(
        body_chunks=[b'{"id":'], fail_with=UpstreamTimeout(), announced_length=90
    )
    relay, events, billing = service(ScriptedUpstream(answer))
    exchange = await relay.open(command(body=body))
    assert not exchange.streaming
    with pytest.raises(UpstreamTimeout):
        await exchange.read_body()
    exchange.finish(UpstreamTimeout())
    await relay.drain(1)
    assert exchange.answer_withheld and exchange.client_status() == 504
    event, record = events.events[0], billing.records["req-1"]
    assert event.status == record.status == 504 and event.outcome == "timeout"
    # The provider read the prompt: billed as an estimate, as a stream cut before its text is.
    assert record.estimated and record.partial
    assert record.usage.input_tokens == -(-len(body) // 4) and record.usage.output_tokens == 0


@pytest.mark.parametrize(("sent", "status"), [(0, 502), (1, 200)])
async def test_a_stream_that_fails_is_recorded_with_the_status_the_client_got(
    sent: int, status: int
) -> None:
    # Before its first chunk the client has nothing and gets the gateway's 502; after it, the
    # upstream's 200 has gone out with the head.
    answer = ScriptedResponse(
        headers=SSE, body_chunks=CUT_CLAUDE_STREAM[:sent], fail_with=UpstreamCutOff()
    )
    relay, events, _ = service(ScriptedUpstream(answer))
    exchange = await relay.open(
        command(MESSAGES, b'{"model":"c","stream":true}', {"x-api-key": "k"})
    )

    async def read_all() -> None:
        await exchange.first_chunk()
        async for _ in exchange:
            pass

    with pytest.raises(UpstreamCutOff):
        await read_all()
    exchange.finish(UpstreamCutOff())
    await relay.drain(1)
    assert exchange.answer_withheld is (sent == 0)
    assert events.events[0].status == exchange.client_status() == status
    assert events.events[0].outcome == "upstream_error"


async def test_a_fault_of_the_gateways_own_before_the_answer_is_recorded_as_its_500() -> None:
    answer = ScriptedResponse(
        body_chunks=[b"{"], fail_with=RuntimeError("bug"), announced_length=10
    )
    relay, events, _ = service(ScriptedUpstream(answer))
    exchange = await relay.open(command())
    with pytest.raises(RuntimeError):
        await exchange.read_body()
    exchange.finish(RuntimeError("bug"))
    await relay.drain(1)
    assert events.events[0].status == 500


async def test_a_non_generative_call_left_without_its_answer_is_partial() -> None:
    # Embeddings sent, the client gone before the answer: nothing read and nothing estimated,
    # but the provider may have charged it: the zero is partial. An error answer is whole.
    embeddings = STATIC_ROUTES[("POST", "/v1/embeddings")]
    body = b'{"model":"e","input":"hi"}'
    relay, events, billing = service(ScriptedUpstream(asyncio.CancelledError()))
    with pytest.raises(asyncio.CancelledError):
        await relay.open(command(embeddings, body))
    await relay.drain(1)
    record = billing.records["req-1"]
    assert record.partial and not record.estimated and record.usage.total_tokens == 0
    assert events.events[0].usage_partial
    refused = ScriptedResponse(status=429, body_chunks=[b'{"error":{}}'])
    relay, _, billing = service(ScriptedUpstream(refused))
    exchange = await relay.open(command(embeddings, body))
    await exchange.read_body()
    exchange.finish()
    await relay.drain(1)
    assert not billing.records["req-1"].partial


async def test_terminal_status_tells_an_incomplete_answer_apart() -> None:
    chunks = [
        b"event: response.incomplete\ndata: "
        b'{"type":"response.incomplete","response":{"id":"r","status":"incomplete",'
        b'"usage":{"input_tokens":5,"output_tokens":7,"total_tokens":12}}}\n\n'
    ]
    upstream = ScriptedUpstream(ScriptedResponse(headers=SSE, body_chunks=chunks))
    relay, events, _ = service(upstream)
    route = STATIC_ROUTES[("POST", "/v1/responses")]
    exchange = await relay.open(command(route, b'{"model":"gpt-5","stream":true}'))
    async for _ in exchange:
        pass
    exchange.finish()
    event = events.events[0]
    assert event.outcome == "ok" and event.terminal_status == "incomplete"
    assert event.usage.output_tokens == 7 and not event.usage_partial


async def test_a_denial_without_a_reason_is_still_a_denial() -> None:
    upstream = ScriptedUpstream()
    billing = MemoryBilling()
    billing.authorize = _deny_without_reason  # type: ignore[method-assign]
    relay, _, _ = service(upstream, billing=billing)
    with pytest.raises(Unauthenticated):
        await relay.open(command())
    assert upstream.requests == []


async def _deny_without_reason(request: object) -> Decision:
    return Decision(False)


async def test_without_an_event_publisher_usage_records_stay_exact() -> None:
    upstream = ScriptedUpstream(
        ScriptedResponse(body_chunks=[b'{"usage":{"prompt_tokens":5,"completion_tokens":2}}'])
    )
    relay, _, billing = service(upstream, publish=False)
    exchange = await relay.open(command())
    await exchange.read_body()
    exchange.finish()
    await relay.drain(1)
    usage = billing.records["req-1"].usage
    assert (usage.input_tokens, usage.output_tokens) == (5, 2)


@pytest.mark.parametrize("stream", [False, True])
async def test_with_nothing_reading_usage_the_answer_is_relayed_unchanged(stream: bool) -> None:
    chunks = [b'data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}\n\n']
    answer = (
        ScriptedResponse(headers=SSE, body_chunks=chunks)
        if stream
        else ScriptedResponse(body_chunks=[b'{"usage":{"prompt_tokens":5}}'])
    )
    billing = MemoryBilling(needs_usage=False)
    relay, _, _ = service(ScriptedUpstream(answer), billing=billing, publish=False)
    body = b'{"model":"m","stream":true,"stream_options":{"include_usage":true}}'
    exchange = await relay.open(command(body=body if stream else b'{"model":"m"}'))
    if stream:
        received = b"".join([c async for c in exchange])
    else:
        received = await exchange.read_body()
    exchange.finish()
    await relay.drain(1)
    assert received == b"".join(answer.body_chunks)
    assert billing.records == {} and exchange.trace.report.usage.total_tokens == 0


async def test_a_refused_request_ends_in_its_event_without_upstream_or_billing() -> None:
    """A body the gateway could not read whole (over the size limit, undecodable)."""
    upstream = ScriptedUpstream(ScriptedResponse())
    relay, events, billing = service(upstream)
    refused = command(MESSAGES, body=b"", headers={"x-api-key": "client-key"})
    relay.refuse(refused, PayloadTooLarge(), waited=2.5)  # 2.5 s since it arrived
    await relay.drain(1)
    assert upstream.requests == [] and billing.authorizations == [] and billing.records == {}
    event = events.events[0]
    assert (event.provider, event.status, event.outcome) == ("claude", 413, "client_error")
    assert event.error is not None and event.error.type == "request_too_large"
    assert event.caller is not None and event.caller.startswith("fp_")
    assert event.usage.total_tokens == 0
    assert 2500 <= event.latency_ms < 2600


UNKEYED = RelaySettings(
    new_api=None,
    direct={**DIRECT.direct, Provider.OPENAI: UpstreamTarget("https://o.test", Secret(""))},
)


async def test_a_provider_without_a_key_gets_the_callers_own_credential() -> None:
    """Bring your own key: direct mode, no key configured for the provider."""
    upstream = ScriptedUpstream(ScriptedResponse())
    relay, _, _ = service(upstream, UNKEYED)
    exchange = await relay.open(command())
    await exchange.read_body()
    exchange.finish()
    assert ("authorization", "Bearer client-key") in upstream.requests[0].headers


@pytest.mark.parametrize(
    "credential",
    [
        ("authorization", "Bearer sk-ant-oat01-token"),  # Claude Code's OAuth token: Bearer only
        ("x-api-key", "sk-ant-key"),
    ],
)
async def test_a_claude_credential_keeps_its_place_when_brought_directly(
    credential: tuple[str, str],
) -> None:
    """Direct mode, no Claude key configured: the caller's credential goes where it came."""
    upstream = ScriptedUpstream(ScriptedResponse())
    unkeyed = {**DIRECT.direct, Provider.CLAUDE: UpstreamTarget("https://c.test", Secret(""))}
    relay, _, _ = service(upstream, RelaySettings(new_api=None, direct=unkeyed))
    headers = dict([credential, ("anthropic-version", "2023-06-01")])
    exchange = await relay.open(command(MESSAGES, headers=headers))
    await exchange.read_body()
    exchange.finish()
    sent = upstream.requests[0].headers
    assert [h for h in sent if h[0] in ("authorization", "x-api-key")] == [credential]


async def test_keys_the_gateway_issued_never_reach_a_provider_without_a_key() -> None:
    """Billing local: the caller's key is the gateway's own, meaningless to the provider."""
    upstream = ScriptedUpstream(ScriptedResponse())
    settings = dataclasses.replace(UNKEYED, forward_caller_keys=False)
    relay, events, billing = service(upstream, settings)
    with pytest.raises(NoUpstreamKey, match=r"upstreams\.openai\.api_key") as refused:
        await relay.open(command())
    assert "client-key" not in refused.value.message
    assert upstream.requests == []
    event = events.events[0]
    assert (event.status, event.outcome) == (500, "rejected")
    await relay.drain(1)
    assert billing.records == {}  # nothing was consumed
    # A provider with its own key is relayed as ever.
    exchange = await relay.open(command(MESSAGES, b'{"model":"c"}', {"x-api-key": "client-key"}))
    await exchange.read_body()
    exchange.finish()
    assert ("x-api-key", "claude-key") in upstream.requests[0].headers


async def test_keys_the_gateway_issued_never_reach_new_api_without_its_key() -> None:
    """new-api with no new_api_key passes the caller's credential through: a new-api token,
    unless billing local issued it."""
    upstream = ScriptedUpstream(ScriptedResponse())
    relay, events, _ = service(upstream, dataclasses.replace(NEW_API, forward_caller_keys=False))
    with pytest.raises(NoUpstreamKey, match=r"features\.new_api_key"):
        await relay.open(command())
    assert upstream.requests == [] and events.events[0].outcome == "rejected"


class Writer:
    """A client's transport for `RelayExchange.push`: takes chunks, or refuses the ones named."""

    def __init__(self, refuse: tuple[int, ...] = ()) -> None:
        self.written: list[bytes] = []
        self.calls = 0
        self._refuse = refuse

    def __call__(self, chunk: bytes) -> bool:
        self.calls += 1
        if self.calls in self._refuse:
            return False
        self.written.append(chunk)
        return True


async def test_push_relays_what_iterating_would_with_the_usage_chunk_hidden() -> None:
    chunks = [
        b'data: {"choices":[{"delta":{"content":"hello"}}],"usage":null}\n\n',
        b'data: {"choices":[{"delta":{"content":" you"}}],"usage":null}\n\ndata: {"choi',
        b'ces":[],"usage":{"prompt_tokens":9,"completion_tokens":3}}\n\n',
        b"data: [DONE]",  # no blank line: the filter holds it until the end, then flushes it
    ]
    upstream = ScriptedUpstream(ScriptedResponse(headers=SSE, body_chunks=chunks))
    relay, events, _ = service(upstream)
    exchange = await relay.open(command(body=b'{"model":"gpt-4o","stream":true}'))
    gaps: list[float] = []
    exchange.watch_gaps(gaps.append)
    first = await exchange.__anext__()  # the first chunk goes the handler's way
    write = Writer()
    assert await exchange.push(write) is None
    exchange.finish()
    received = first + b"".join(write.written)
    assert received == (
        b'data: {"choices":[{"delta":{"content":"hello"}}]}\n\n'
        b'data: {"choices":[{"delta":{"content":" you"}}]}\n\n'
        b"data: [DONE]"
    )
    assert exchange.trace.bytes_out == len(received)
    assert len(gaps) == 4 and all(gap >= 0 for gap in gaps)
    event = events.events[0]
    assert event.usage.input_tokens == 9 and event.usage.output_tokens == 3
    assert event.bytes_out == len(received) and event.outcome == "ok"


async def test_a_chunk_the_writer_refuses_comes_back_and_the_next_push_goes_on() -> None:
    chunks = [b"data: {}\n\n", b"data: {}\n\n", b"data: [DONE]\n\n"]
    upstream = ScriptedUpstream(ScriptedResponse(headers=SSE, body_chunks=chunks))
    relay, events, _ = service(upstream)
    exchange = await relay.open(command(body=b'{"model":"m","stream":true}'))
    write = Writer(refuse=(2,))
    assert await exchange.push(write) == chunks[1]  # sent some other way by the caller
    assert await exchange.push(write) is None
    exchange.finish()
    assert write.written == [chunks[0], chunks[2]]
    assert events.events[0].bytes_out == sum(map(len, chunks))


class ManualClock(SystemClock):
    """Wall time as the system's; monotonic time only moves when the test says so."""

    def __init__(self) -> None:
        self.t = 100.0

    def monotonic(self) -> float:  # type: ignore[override]
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.mark.parametrize("read", ["iterate", "push", "whole"])
async def test_a_request_that_ends_while_awaiting_the_upstream_counts_that_wait_as_its(
    read: str,
) -> None:
    # The upstream goes silent (4 s) and the request ends meanwhile (a timeout): those 4 s are
    # the upstream's, not the gateway's overhead. (A client gone before the headers, too.)
    clock = ManualClock()

    class Silent(ScriptedResponse):
        async def read(self) -> bytes:
            clock.advance(4.0)
            raise UpstreamTimeout()

        async def _iterate(self):  # type: ignore[no-untyped-def]
            yield b"data: {}\n\n"
            clock.advance(4.0)
            raise UpstreamTimeout()

    headers = (("content-type", "application/json"),) if read == "whole" else SSE
    relay, events, _ = service(
        ScriptedUpstream(Silent(headers=headers, announced_length=100)), clock=clock
    )
    exchange = await relay.open(command(body=b'{"model":"m","stream":true}'))

    async def read_all() -> None:
        if read == "whole":
            await exchange.read_body()
        elif read == "push":
            await exchange.first_chunk()
            await exchange.push(lambda chunk: True)
        else:
            async for _ in exchange:
                pass

    with pytest.raises(UpstreamTimeout):
        await read_all()
    clock.advance(0.5)  # the gateway's own time after it
    exchange.finish(UpstreamTimeout())
    await relay.drain(1)
    assert exchange.trace.upstream_wait == 4.0
    assert events.events[0].upstream_ms == 4000.0
    assert events.events[0].latency_ms == 4500.0


async def test_the_wait_for_headers_counts_when_the_client_leaves_meanwhile() -> None:
    clock = ManualClock()

    class Slow(ScriptedUpstream):
        async def send(self, request):  # type: ignore[no-untyped-def]
            clock.advance(0.7)
            raise asyncio.CancelledError()

    relay, events, _ = service(Slow(), clock=clock)
    with pytest.raises(asyncio.CancelledError):
        await relay.open(command())
    await relay.drain(1)
    assert events.events[0].upstream_ms == 700.0


async def test_push_times_the_upstreams_silence_and_not_the_clients() -> None:
    clock = ManualClock()
    chunks = [b"data: {}\n\n", b"data: {}\n\n", b"data: [DONE]\n\n"]
    # Each chunk comes after 1 s of the upstream's silence; the client takes 0.25 s per chunk.
    response = ScriptedResponse(
        headers=SSE, body_chunks=chunks, before_each=lambda: clock.advance(1.0)
    )
    relay, _, _ = service(ScriptedUpstream(response), clock=clock)
    exchange = await relay.open(command(body=b'{"model":"m","stream":true}'))
    gaps: list[float] = []
    exchange.watch_gaps(gaps.append)
    write = Writer(refuse=(2,))

    def slow_write(chunk: bytes) -> bool:
        taken = write(chunk)
        if taken:
            clock.advance(0.25)
        return taken

    refused = await exchange.push(slow_write)
    assert refused == chunks[1]
    clock.advance(5.0)  # the client is slow to take the refused chunk: not the upstream's silence
    assert exchange.silent_for() == 0.0
    assert await exchange.push(slow_write) is None
    clock.advance(2.0)
    assert exchange.silent_for() == 0.0  # the body has ended: nothing is awaited
    exchange.finish()
    assert gaps == [1.0, 1.0, 1.0]
    assert exchange.trace.upstream_wait == 3.0
