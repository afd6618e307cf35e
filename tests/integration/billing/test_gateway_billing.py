"""Billing through a live gateway and the fake provider: refusals in each provider's envelope,
exact usage in the ledger, partial records for clients that leave mid-stream."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import pytest_asyncio

from gateway.adapters.billing.local_ledger import LocalBilling, LocalBillingSettings
from gateway.devtools.fake_provider import FakeProvider
from tests.conftest import LiveGateway, gateway_settings, running_gateway
from tests.unit.billing.helpers import add_key

KEY = "gw-e2e-key-000001"
CLAUDE = ("/v1/messages", {"x-api-key": KEY}, {"model": "c", "max_tokens": 8, "messages": []})
OPENAI_STREAM = (
    "/v1/chat/completions",
    {"authorization": f"Bearer {KEY}"},
    {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
)
GEMINI = ("/v1beta/models/gemini-2.5-flash:generateContent", {"x-goog-api-key": KEY}, {})


@dataclass
class Billed:
    gateway: LiveGateway
    db: Path

    def rows(self) -> list[dict[str, Any]]:
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM usage ORDER BY ts")]

    async def wait_rows(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(5):
            while len(rows := self.rows()) < count:
                await asyncio.sleep(0.02)
        return rows


@pytest_asyncio.fixture
async def billed(fake_provider: FakeProvider, tmp_path: Path) -> AsyncIterator[Billed]:
    db = tmp_path / "ledger.sqlite3"
    ledger = LocalBilling(
        LocalBillingSettings(
            db_path=db, outbox_dir=tmp_path / "outbox", multipliers={}, cache_ttl=0.0
        )
    )
    await ledger.start()
    settings = gateway_settings(fake_provider.url)
    try:
        async with running_gateway(settings, billing=ledger) as live:
            yield Billed(live, db)
    finally:
        await ledger.close()


async def post(url: str, headers: dict[str, str], body: object) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(url, json=body, headers=headers) as r:
        return r.status, await r.read()


@pytest.mark.parametrize(
    ("path", "headers", "body", "envelope_check"),
    [
        (*CLAUDE, lambda doc: doc["error"]["type"] == "authentication_error"),
        (*OPENAI_STREAM, lambda doc: doc["error"]["code"] == "invalid_api_key"),
        (*GEMINI, lambda doc: doc["error"]["status"] == "UNAUTHENTICATED"),
    ],
)
async def test_unknown_key_is_401_in_the_providers_envelope(
    billed: Billed, path: str, headers: dict[str, str], body: object, envelope_check: Any
) -> None:
    status, raw = await post(billed.gateway.url + path, headers, body)
    assert status == 401
    assert envelope_check(orjson.loads(raw))
    assert billed.rows() == []  # nothing reached the upstream, nothing billed


async def test_usage_is_recorded_with_the_providers_exact_numbers(billed: Billed) -> None:
    add_key(billed.db, "alice", KEY)
    for path, headers, body in (CLAUDE, OPENAI_STREAM, GEMINI):
        status, _ = await post(billed.gateway.url + path, headers, body)
        assert status == 200
    rows = {r["provider"]: r for r in await billed.wait_rows(3)}
    claude, openai, gemini = rows["claude"], rows["openai"], rows["gemini"]
    assert (claude["input_tokens"], claude["cache_read_tokens"], claude["cache_write_tokens"]) == (
        10,
        3,
        2,
    )
    assert (claude["output_tokens"], claude["total_tokens"]) == (4, 19)
    assert (openai["input_tokens"], openai["cache_read_tokens"], openai["output_tokens"]) == (
        10,
        3,
        4,
    )
    assert (openai["reasoning_tokens"], openai["total_tokens"]) == (1, 17)
    assert (gemini["input_tokens"], gemini["cache_read_tokens"]) == (10, 3)
    assert (gemini["output_tokens"], gemini["reasoning_tokens"], gemini["total_tokens"]) == (
        6,
        2,
        19,
    )
    assert all(r["outcome"] == "ok" and not r["partial"] for r in rows.values())
    with sqlite3.connect(billed.db) as conn:
        assert conn.execute("SELECT used_tokens FROM api_keys").fetchone()[0] == 19 + 17 + 19


async def test_exhausted_quota_is_429(billed: Billed) -> None:
    add_key(billed.db, "alice", KEY, quota=19)
    path, headers, body = CLAUDE
    assert (await post(billed.gateway.url + path, headers, body))[0] == 200
    await billed.wait_rows(1)
    status, raw = await post(billed.gateway.url + path, headers, body)
    assert status == 429 and b"rate_limit_error" in raw


async def test_a_client_gone_mid_stream_leaves_a_partial_record(billed: Billed) -> None:
    add_key(billed.db, "alice", KEY)
    path, headers, body = OPENAI_STREAM
    slow = {**headers, "x-fake-chunks": "50", "x-fake-chunk-delay-ms": "50"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(billed.gateway.url + path, json=body, headers=slow) as response,
    ):
        assert response.status == 200
        await response.content.readuntil(b"tok2")  # a few deltas, then hang up
    (row,) = await billed.wait_rows(1)
    assert row["outcome"] == "client_cancelled"
    assert row["partial"] == 1 and row["estimated"] == 1
    assert 0 < row["output_tokens"] < 50


async def test_a_batchs_results_are_charged_once_however_often_they_are_fetched(
    billed: Billed,
) -> None:
    add_key(billed.db, "alice", KEY)
    params = {"model": "c", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
    requests = [{"custom_id": name, "params": params} for name in ("a", "b")]
    url = billed.gateway.url + "/v1/messages/batches"
    status, raw = await post(url, {"x-api-key": KEY}, {"requests": requests})
    assert status == 200
    results = f"{url}/{orjson.loads(raw)['id']}/results"
    async with aiohttp.ClientSession() as http:
        for _ in range(3):  # the SDK's results() fetched three times, whole
            async with http.get(results, headers={"x-api-key": KEY}) as r:
                assert r.status == 200 and (await r.read()).count(b'"succeeded"') == 2
        cut = {"x-api-key": KEY, "x-fake-cut-after": "200"}  # then once cut short
        async with http.get(results, headers=cut) as r:
            with pytest.raises(aiohttp.ClientPayloadError):
                await r.read()
    async with asyncio.timeout(5):  # the cut fetch's record is the last to come
        rows = billed.rows()
        while not any(r["partial"] for r in rows):
            await asyncio.sleep(0.02)
            rows = billed.rows()
    rows = [r for r in rows if r["operation"] == "batch_results"]
    whole = [r for r in rows if r["request_id"].startswith("batch_results:")]
    assert len(whole) == 1 and whole[0]["total_tokens"] == 2 * 19  # two results of 19
    assert [r["partial"] for r in rows if r not in whole] == [1]  # the cut fetch, its own
    with sqlite3.connect(billed.db) as conn:
        used = conn.execute("SELECT used_tokens FROM api_keys").fetchone()[0]
    cut_row = next(r for r in rows if r not in whole)
    assert used == 2 * 19 + cut_row["total_tokens"]
