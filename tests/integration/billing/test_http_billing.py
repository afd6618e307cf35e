"""HttpBilling against the reference billing server: decisions, outages, exactly-once usage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp

from gateway.adapters.billing.http_billing import HttpBilling
from gateway.devtools.billing_server import BillingServer
from gateway.devtools.fake_provider import FakeProvider
from gateway.domain.errors import BillingUnavailable, QuotaExceeded, Unauthenticated
from gateway.domain.secrets import Secret
from tests.conftest import gateway_settings, running_gateway
from tests.unit.billing.helpers import authorization, usage_record
from tests.unit.observability.helpers import value
from tests.waiting import wait_until

KEY = "gw-http-test-key"


async def test_authorize_allows_and_denies(
    billing_server: BillingServer, make_http_billing: Callable[..., HttpBilling]
) -> None:
    billing_server.add_key("alice", KEY, quota=10)
    billing = make_http_billing()
    await billing.start()
    assert (await billing.authorize(authorization(KEY))).allowed
    unknown = await billing.authorize(authorization("gw-who"))
    assert isinstance(unknown.denial, Unauthenticated)
    await billing.record(usage_record("r1", KEY, total=10))
    exhausted = await billing.authorize(authorization(KEY))
    assert isinstance(exhausted.denial, QuotaExceeded)
    billing_server.revoke(KEY)
    assert isinstance((await billing.authorize(authorization(KEY))).denial, Unauthenticated)


async def test_usage_arrives_with_the_idempotency_key_once(
    billing_server: BillingServer, make_http_billing: Callable[..., HttpBilling]
) -> None:
    billing_server.add_key("alice", KEY)
    billing = make_http_billing()
    await billing.start()
    record = usage_record("once", KEY, total=12)
    await billing.record(record)
    await billing.record(record)  # a replay
    other = make_http_billing()  # another worker replaying it
    await other.start()
    await other.record(record)
    assert billing_server.used(KEY) == 12
    assert billing_server.usage["once"]["usage"]["total_tokens"] == 12
    assert billing_server.usage["once"]["caller"] == record.caller_key_hash


async def test_a_batch_of_records_arrives_whole_and_once(
    billing_server: BillingServer, make_http_billing: Callable[..., HttpBilling]
) -> None:
    billing_server.add_key("alice", KEY)
    billing = make_http_billing()
    await billing.start()
    batch = [usage_record(f"batch-{i}", KEY, total=10 + i) for i in range(5)]
    await billing.record_many(batch + batch[:2])  # two of them twice
    assert sorted(billing_server.usage) == [f"batch-{i}" for i in range(5)]
    assert billing_server.used(KEY) == sum(10 + i for i in range(5))


async def test_down_for_a_while_then_back_every_record_arrives_once(
    billing_server: BillingServer, make_http_billing: Callable[..., HttpBilling]
) -> None:
    billing_server.add_key("alice", KEY)
    billing = make_http_billing()
    await billing.start()
    await billing.record(usage_record("before", KEY))
    await billing_server.stop()
    await asyncio.gather(*(billing.record(usage_record(f"down{i}", KEY)) for i in range(60)))
    assert billing.outbox.pending == 60
    await asyncio.sleep(0.5)  # retries against a closed port
    billing_server.fail_next(3)  # then a few 503s as it comes back
    await billing_server.start()
    await wait_until(lambda: billing.outbox.pending == 0)
    assert set(billing_server.usage) == {"before", *(f"down{i}" for i in range(60))}
    assert billing_server.used(KEY) == 61 * 10  # each charged exactly once


async def test_fail_closed_denies_with_503_within_the_timeout(
    billing_server: BillingServer, make_http_billing: Callable[..., HttpBilling]
) -> None:
    billing_server.add_key("alice", KEY)
    billing = make_http_billing(authorize_timeout=0.3)
    await billing.start()
    billing_server.delay = 2.0  # slow
    started = time.perf_counter()
    decision = await billing.authorize(authorization(KEY))
    assert time.perf_counter() - started < 0.6
    assert isinstance(decision.denial, BillingUnavailable) and decision.denial.status == 503
    billing_server.delay = 0
    await billing_server.stop()  # down
    decision = await billing.authorize(authorization(KEY))
    assert isinstance(decision.denial, BillingUnavailable)
    billing_server.fail_next(1, status=500)
    await billing_server.start()
    assert isinstance((await billing.authorize(authorization(KEY))).denial, BillingUnavailable)


async def test_fail_open_allows_when_slow_or_down(
    billing_server: BillingServer, make_http_billing: Callable[..., HttpBilling]
) -> None:
    billing = make_http_billing(authorize_timeout=0.3, fail_open=True)
    await billing.start()
    billing_server.delay = 2.0
    started = time.perf_counter()
    assert (await billing.authorize(authorization("gw-anyone"))).allowed
    assert time.perf_counter() - started < 0.6
    await billing_server.stop()
    decision = await billing.authorize(authorization("gw-anyone"))
    assert decision.allowed and decision.fail_open
    assert billing.unavailable == 2
    ready, details = await billing.readiness()
    assert ready and details["reachable"] is False


async def test_a_wrong_service_key_is_unavailable_not_a_client_error(
    billing_server: BillingServer, make_http_billing: Callable[..., HttpBilling]
) -> None:
    billing = make_http_billing(api_key=Secret("wrong"))
    await billing.start()
    decision = await billing.authorize(authorization(KEY))
    assert isinstance(decision.denial, BillingUnavailable)
    await billing.record(usage_record("kept", KEY))
    assert billing.outbox.pending == 1  # 401 from the service: retried, not dead-lettered


async def test_readiness_says_when_the_service_rejects_the_gateways_key(
    billing_server: BillingServer, make_http_billing: Callable[..., HttpBilling]
) -> None:
    # /health takes no key, so only an authorize tells: every request got a 503 while /ready
    # said ready.
    billing_server.add_key("alice", KEY)
    wrong = make_http_billing(api_key=Secret("wrong"))
    await wrong.start()
    assert (await wrong.readiness())[0]  # nothing asked yet
    await wrong.authorize(authorization(KEY))
    ready, details = await wrong.readiness()
    assert not ready and details["reachable"] is True
    assert "billing.api_key" in str(details["error"]) and "wrong" not in str(details)
    right = make_http_billing()
    await right.start()
    assert (await right.authorize(authorization(KEY))).allowed
    assert (await right.readiness())[0]
    open_anyway = make_http_billing(api_key=Secret("wrong"), fail_open=True)
    await open_anyway.start()
    await open_anyway.authorize(authorization(KEY))
    assert (await open_anyway.readiness())[0]  # fail_open: ready without billing


async def test_the_outbox_backlog_is_a_metric_while_billing_is_down(
    billing_server: BillingServer,
    make_http_billing: Callable[..., HttpBilling],
    fake_provider: FakeProvider,
) -> None:
    # Records wait in the outbox without loss while the service is away: a gauge shows them.
    billing = make_http_billing(fail_open=True)
    await billing.start()
    url = "/v1/chat/completions"
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    async with (
        running_gateway(gateway_settings(fake_provider.url), billing=billing) as gw,
        aiohttp.ClientSession() as http,
    ):

        async def backlog() -> float:
            async with http.get(gw.url + "/metrics") as r:
                return value(await r.text(), "gateway_billing_outbox_pending")

        await billing_server.stop()
        async with http.post(gw.url + url, json=body, headers={"authorization": "Bearer k"}) as r:
            assert r.status == 200  # fail_open
        await wait_until(lambda: billing.outbox.pending == 1, timeout=5)
        assert await backlog() == 1
        await billing_server.start()
        await wait_until(lambda: billing.outbox.pending == 0, timeout=10)
        assert await backlog() == 0
