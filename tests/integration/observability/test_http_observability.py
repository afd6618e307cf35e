"""The live gateway's metrics, spans, logs, CORS and readiness, against the fake provider."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping

import aiohttp
import orjson

from gateway.adapters.observability.reachability import TcpReachability
from gateway.devtools.fake_provider import FakeProvider, start_fake_provider
from tests.conftest import UPSTREAM_KEYS
from tests.integration.observability.conftest import ObservedGateway
from tests.unit.observability.helpers import value

CLIENT_KEY = "sk-client-PRIVATE-0123456789abcdef"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
CLAUDE = {"model": "claude-x", "max_tokens": 8, "messages": [], "stream": True}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


async def _post(
    http: aiohttp.ClientSession, url: str, body: dict[str, object], **headers: str
) -> tuple[int, bytes, Mapping[str, str]]:
    async with http.post(url, data=orjson.dumps(body), headers=headers) as r:
        return r.status, await r.read(), r.headers.copy()  # case-insensitive


async def test_metrics_after_known_requests(observed_gateway: ObservedGateway) -> None:
    async with observed_gateway() as obs, aiohttp.ClientSession() as http:
        url = obs.live.url
        for _ in range(2):
            status, _, headers = await _post(
                http, url + "/v1/chat/completions", CHAT, authorization=f"Bearer {CLIENT_KEY}"
            )
            assert status == 200
            assert float(headers["x-gateway-overhead-ms"]) >= 0
            assert headers["x-gateway-request-id"] in {e.id for e in obs.live.events.events}
        status, body, _ = await _post(http, url + "/v1/messages", CLAUDE, **{"x-api-key": "k"})
        assert status == 200 and b"message_stop" in body
        await obs.live.events.wait_for(3)
        async with http.get(url + "/metrics") as r:
            text = await r.read()
    ok = {"operation": "chat_completions", "status": "200", "outcome": "ok"}
    assert value(text, "gateway_requests_total", provider="openai", **ok) == 2
    assert value(text, "gateway_requests_total", provider="claude", outcome="ok") == 1
    # Fake usage: OpenAI prompt 13 (3 cached) + 4 completion; Claude 10 in, 3 read, 2 written.
    assert value(text, "gateway_tokens_total", provider="openai", type="input") == 20
    assert value(text, "gateway_tokens_total", provider="openai", type="output") == 8
    assert value(text, "gateway_tokens_total", provider="claude", type="cache_write") == 2
    assert value(text, "gateway_time_to_first_byte_seconds_count", provider="claude") == 1
    assert value(text, "gateway_stream_chunk_gap_seconds_count", provider="claude") >= 1
    assert value(text, "gateway_overhead_seconds_count") == 3
    assert value(text, "gateway_requests_in_flight") == 1  # the scrape itself


async def test_a_scrape_flushes_on_the_event_loop_and_renders_off_it(
    observed_gateway: ObservedGateway,
) -> None:
    """The buffered counts and the counter hooks belong to the loop's thread; the exposition
    (which reads every worker's files) runs in another."""
    async with observed_gateway() as obs, aiohttp.ClientSession() as http:
        metrics = obs.observability.metrics
        assert metrics is not None
        hook_threads: list[int] = []
        metrics.before_scrape(lambda: hook_threads.append(threading.get_ident()))
        status, _, _ = await _post(
            http, obs.live.url + "/v1/chat/completions", CHAT, authorization="Bearer k"
        )
        assert status == 200
        await obs.live.events.wait_for(1)
        async with http.get(obs.live.url + "/metrics") as r:
            text = await r.read()
    # The scrape ran the hooks, and so did the shutdown (the last counts reach prometheus-client),
    # each time on the loop's thread: the test's loop is the server's.
    assert len(hook_threads) == 2 and set(hook_threads) == {threading.get_ident()}
    assert value(text, "gateway_requests_total", provider="openai", status="200") == 1


async def test_stalled_stream_is_counted(observed_gateway: ObservedGateway) -> None:
    async with observed_gateway(stall_threshold=0.2) as obs, aiohttp.ClientSession() as http:
        slow = {"x-api-key": "k", "x-fake-chunks": "2", "x-fake-chunk-delay-ms": "300"}
        status, _, _ = await _post(http, obs.live.url + "/v1/messages", CLAUDE, **slow)
        assert status == 200
        async with http.get(obs.live.url + "/metrics") as r:
            text = await r.read()
    assert value(text, "gateway_stream_stalls_total", provider="claude") == 1
    assert value(text, "gateway_stream_chunk_gap_seconds_bucket", le="0.25") < value(
        text, "gateway_stream_chunk_gap_seconds_count"
    )


async def test_spans_parent_child_and_traceparent_upstream(
    observed_gateway: ObservedGateway, fake_provider: FakeProvider
) -> None:
    async with observed_gateway() as obs, aiohttp.ClientSession() as http:
        status, _, _ = await _post(
            http,
            obs.live.url + "/v1/chat/completions",
            CHAT,
            authorization=f"Bearer {CLIENT_KEY}",
            traceparent=TRACEPARENT,
        )
        assert status == 200
    spans = {span.kind.name: span for span in obs.spans.get_finished_spans()}
    server, client = spans["SERVER"], spans["CLIENT"]
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert server.parent is not None and format(server.parent.span_id, "016x") == TRACEPARENT[36:52]
    assert client.parent is not None and client.parent.span_id == server.context.span_id
    assert client.end_time is not None and server.end_time is not None
    assert client.end_time <= server.end_time
    seen = fake_provider.requests[-1].headers["traceparent"]
    assert seen.split("-")[1] == TRACE_ID
    assert seen.split("-")[2] == format(client.context.span_id, "016x")
    attributes = server.attributes or {}
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o"
    assert attributes["gen_ai.usage.output_tokens"] == 4
    assert attributes["http.response.status_code"] == 200


async def test_an_unsampled_request_records_no_span_and_passes_its_trace_on(
    observed_gateway: ObservedGateway, fake_provider: FakeProvider
) -> None:
    caller_span = TRACEPARENT[36:52]
    async with observed_gateway() as obs, aiohttp.ClientSession() as http:
        for traceparent in (f"00-{TRACE_ID}-{caller_span}-00", None):
            headers = {"authorization": f"Bearer {CLIENT_KEY}"}
            if traceparent is not None:
                headers["traceparent"] = traceparent
            status, _, _ = await _post(http, obs.live.url + "/v1/chat/completions", CHAT, **headers)
            assert status == 200
    # The caller's trace is not sampled: nothing of it is recorded, not even the upstream call.
    finished = obs.spans.get_finished_spans()
    assert all(format(s.context.trace_id, "032x") != TRACE_ID for s in finished)
    # ...but the upstream still joins it: same trace, not sampled, the gateway's span as parent.
    unsampled_request = fake_provider.requests[-2].headers["traceparent"]
    version, trace_id, parent_id, flags = unsampled_request.split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "00")
    assert parent_id != caller_span and int(parent_id, 16) != 0
    # The second request, without a caller's trace, is sampled (rate 1.0) as before.
    assert {s.kind.name for s in finished} == {"SERVER", "CLIENT"}
    sampled_request = fake_provider.requests[-1].headers["traceparent"]
    client = next(s for s in finished if s.kind.name == "CLIENT")
    assert sampled_request.split("-")[2] == format(client.context.span_id, "016x")
    assert int(sampled_request.split("-")[3], 16) & 1  # the sampled flag


async def test_stream_client_span_ends_with_the_body(observed_gateway: ObservedGateway) -> None:
    async with observed_gateway() as obs, aiohttp.ClientSession() as http:
        slow = {"x-api-key": "k", "x-fake-chunks": "3", "x-fake-chunk-delay-ms": "100"}
        status, _, _ = await _post(http, obs.live.url + "/v1/messages", CLAUDE, **slow)
        assert status == 200
    client = next(s for s in obs.spans.get_finished_spans() if s.kind.name == "CLIENT")
    assert client.end_time is not None and client.start_time is not None
    assert (client.end_time - client.start_time) / 1e9 >= 0.25  # not just the headers


async def test_key_appears_in_no_log_line_and_no_span(observed_gateway: ObservedGateway) -> None:
    async with observed_gateway() as obs, aiohttp.ClientSession() as http:
        for path, body in (("/v1/chat/completions", CHAT), ("/v1/nowhere", CHAT)):
            await _post(http, obs.live.url + path, body, authorization=f"Bearer {CLIENT_KEY}")
        gemini = "/v1beta/models/gemini-x:generateContent?key=" + CLIENT_KEY
        await _post(http, obs.live.url + gemini, {"contents": []})
        await obs.live.events.wait_for(2)
    logs = obs.logs.getvalue().decode()
    assert CLIENT_KEY not in logs and "sk-openai-upstream-SECRET" not in logs
    for span in obs.spans.get_finished_spans():
        assert CLIENT_KEY not in repr(dict(span.attributes or {})) + span.name
    access = [line for line in obs.log_lines() if line["event"] == "access"]
    assert len(access) == 3  # two relayed (from their events), one 404 (from the middleware)
    relayed = access[0]
    assert relayed["provider"] == "openai" and relayed["status"] == 200
    assert relayed["outcome"] == "ok" and relayed["total_tokens"] == 17
    assert relayed["request_id"] == obs.live.events.events[0].id
    assert {line["status"] for line in access} == {200, 404}


async def test_cors_preflight_is_answered_without_the_upstream(
    observed_gateway: ObservedGateway, fake_provider: FakeProvider
) -> None:
    async with observed_gateway() as obs, aiohttp.ClientSession() as http:
        before = len(fake_provider.requests)
        headers = {
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        }
        async with http.options(obs.live.url + "/v1/chat/completions", headers=headers) as r:
            assert r.status == 204
            assert r.headers["access-control-allow-origin"] == "https://app.example"
            assert "POST" in r.headers["access-control-allow-methods"]
            assert r.headers["access-control-allow-headers"] == "authorization, content-type"
        assert len(fake_provider.requests) == before
        status, _, got = await _post(
            http, obs.live.url + "/v1/chat/completions", CHAT, origin="https://app.example"
        )
        assert status == 200 and got["access-control-allow-origin"] == "https://app.example"
        exposed = got["access-control-expose-headers"]
        assert "x-gateway-request-id" in exposed and "retry-after" in exposed


async def test_cors_refuses_unlisted_origins(observed_gateway: ObservedGateway) -> None:
    cors = {"mode": "production", "cors": {"allow_origins": ["https://ok.example"]}}
    async with observed_gateway(server=cors) as obs, aiohttp.ClientSession() as http:
        headers = {"origin": "https://evil.example", "access-control-request-method": "POST"}
        async with http.options(obs.live.url + "/v1/messages", headers=headers) as r:
            assert r.status == 204 and "access-control-allow-origin" not in r.headers


async def test_ready_flips_to_503_and_back_with_the_upstream(
    observed_gateway: ObservedGateway,
) -> None:
    upstream = await start_fake_provider()
    port = upstream.port
    probes = {"upstream": TcpReachability(upstream.url, ttl=0.05)}
    async with (
        observed_gateway(upstream=upstream.url, overrides={"upstream_probes": probes}) as obs,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(obs.live.url + "/ready") as r:
            assert r.status == 200, await r.text()
        await upstream.close()
        await asyncio.sleep(0.1)
        async with http.get(obs.live.url + "/ready") as r:
            report = await r.json()
            assert r.status == 503 and report["failed"] == ["upstream"]
            assert report["checks"]["upstream"]["ready"] is False
        upstream = await start_fake_provider(port=port)
        try:
            await asyncio.sleep(0.1)
            async with http.get(obs.live.url + "/ready") as r:
                assert r.status == 200 and (await r.json())["failed"] == []
        finally:
            await upstream.close()


async def test_a_server_span_is_named_by_the_events_route_template(
    observed_gateway: ObservedGateway,
) -> None:
    async with observed_gateway() as obs, aiohttp.ClientSession() as http:
        gemini = "/v1beta/models/gemini-x:generateContent"
        await _post(http, obs.live.url + gemini, {"contents": []}, **{"x-goog-api-key": "k"})
        await _post(http, obs.live.url + "/v1/chat/completions", CHAT, authorization="Bearer k")
        events = await obs.live.events.wait_for(2)
    servers = [s for s in obs.spans.get_finished_spans() if s.kind.name == "SERVER"]
    names = sorted(s.name for s in servers)
    assert names == sorted(f"POST {event.route}" for event in events)
    assert names == ["POST /v1/chat/completions", "POST /v1beta/models/{model}:{action}"]
    assert {(s.attributes or {})["http.route"] for s in servers} == {e.route for e in events}


async def test_a_key_a_client_puts_in_a_model_name_or_user_agent_is_masked_everywhere(
    observed_gateway: ObservedGateway,
) -> None:
    # The event copies these two fields from the client: a key there (its own, or one of the
    # gateway's configured keys) must not reach the stream, the metrics' labels or the spans.
    configured = UPSTREAM_KEYS["gemini"]  # not shaped like a key: masked as configured
    leaky = "sk-LEAKmodelname00000000007"
    async with observed_gateway() as obs, aiohttp.ClientSession() as http:
        for model in (leaky, f"m-{configured}"):
            body = {**CHAT, "model": model}
            headers = {"authorization": "Bearer k", "user-agent": f"app/1 {leaky}"}
            await _post(http, obs.live.url + "/v1/chat/completions", body, **headers)
        for model in ("AIzaLEAKinpath0000000000000016", f"m-{configured}"):
            gemini = f"/v1beta/models/{model}:generateContent"
            await _post(http, obs.live.url + gemini, {"contents": []}, **{"x-goog-api-key": "k"})
        events = await obs.live.events.wait_for(4)
        async with http.get(obs.live.url + "/metrics") as r:
            metrics = await r.text()
    seen = repr([(e.model, e.user_agent) for e in events]) + metrics
    for span in obs.spans.get_finished_spans():
        seen += repr(dict(span.attributes or {})) + span.name
    for secret in ("LEAK", configured):
        at = seen.find(secret)
        assert at < 0, seen[max(at - 150, 0) : at + 40]
    assert events[0].model == "***" and events[0].user_agent == "app/1 ***"
