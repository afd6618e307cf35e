"""What authorize + record cost per request, for billing.mode local and http.

    PYTHONPATH=src python bench/billing_bench.py [--requests 5000] [--concurrency 64]

local: a LocalBilling on a fresh SQLite file in a temporary directory (one key, cache on).
http: an HttpBilling against the reference billing server in the same process and loop (so the
figure includes the server's own work: an upper bound for the client's cost).
Each request is `authorize` then `record`, `concurrency` requests at a time; bounded loops only.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from gateway.adapters.billing import ledger_store
from gateway.adapters.billing.http_billing import HttpBilling, HttpBillingSettings
from gateway.adapters.billing.local_ledger import LocalBilling, LocalBillingSettings
from gateway.devtools.billing_server import start_billing_server
from gateway.domain.caller import Caller, CredentialPlace
from gateway.domain.outcome import Outcome
from gateway.domain.ports.billing import AuthorizationRequest, Billing, UsageRecord
from gateway.domain.provider import Operation, Provider
from gateway.domain.secrets import Secret, key_hash
from gateway.domain.usage import Usage

KEY = "gw-bench-key-0000000000"
CALLER = Caller(Secret(KEY), CredentialPlace.BEARER)


def _request(i: int) -> AuthorizationRequest:
    return AuthorizationRequest(
        request_id=f"req{i}",
        caller=CALLER,
        provider=Provider.OPENAI,
        operation=Operation.CHAT_COMPLETIONS,
        model="gpt-4o",
    )


def _record(i: int) -> UsageRecord:
    return UsageRecord(
        request_id=f"req{i}",
        ts=datetime.now(UTC),
        caller_key_hash=CALLER.key_hash,
        caller_fingerprint=CALLER.fingerprint,
        provider=Provider.OPENAI,
        operation=Operation.CHAT_COMPLETIONS,
        model="gpt-4o",
        usage=Usage(input_tokens=10, output_tokens=20, cache_read_tokens=3),
        outcome=Outcome.OK,
        status=200,
    )


async def _one(billing: Billing, i: int) -> None:
    decision = await billing.authorize(_request(i))
    assert decision.allowed
    await billing.record(_record(i))


async def _run(billing: Billing, requests: int, concurrency: int) -> float:
    """Seconds for `requests` authorize+record pairs, `concurrency` at a time."""
    semaphore = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with semaphore:
            await _one(billing, i)

    await asyncio.gather(*(guarded(-i - 1) for i in range(min(requests, 200))))  # warm up
    started = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(requests)))
    return time.perf_counter() - started


async def _local(directory: Path, requests: int, concurrency: int) -> float:
    db = directory / "ledger.sqlite3"
    conn = ledger_store.connect(db)
    ledger_store.add_key(conn, name="bench", key_hash=key_hash(KEY), prefix=KEY[:10], quota=None)
    conn.close()
    billing = LocalBilling(
        LocalBillingSettings(db_path=db, outbox_dir=directory / "outbox", multipliers={})
    )
    return await _measure(billing, requests, concurrency)


async def _http(directory: Path, requests: int, concurrency: int) -> float:
    server = await start_billing_server(api_key="bench")
    server.add_key("bench", KEY)
    billing = HttpBilling(
        HttpBillingSettings(
            url=server.url,
            api_key=Secret("bench"),
            authorize_timeout=2.0,
            fail_open=False,
            outbox_dir=directory / "outbox",
        )
    )
    try:
        return await _measure(billing, requests, concurrency)
    finally:
        await server.close()


async def _measure(billing: LocalBilling | HttpBilling, requests: int, concurrency: int) -> float:
    await billing.start()
    try:
        return await _run(billing, requests, concurrency)
    finally:
        await billing.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    modes: dict[str, Callable[[Path, int, int], Awaitable[float]]] = {
        "local": _local,
        "http": _http,
    }
    for name, run in modes.items():
        with tempfile.TemporaryDirectory() as directory:
            seconds = await run(Path(directory), args.requests, args.concurrency)
        per_request = seconds / args.requests * 1e6
        print(
            f"{name:>5}: {args.requests} requests, concurrency {args.concurrency}: "
            f"{per_request:8.1f} µs per authorize+record ({args.requests / seconds:8.0f} req/s)"
        )


if __name__ == "__main__":
    asyncio.run(main())
