"""LocalBilling against a real SQLite file: keys, quotas, idempotent records, multipliers."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.adapters.billing import ledger_store
from gateway.adapters.billing.local_ledger import LocalBilling, LocalBillingSettings
from gateway.domain.errors import QuotaExceeded, Unauthenticated
from gateway.domain.secrets import key_hash
from tests.unit.billing.helpers import add_key, authorization, usage_record

KEY = "gw-test-key-0001"


def used_tokens(db: Path, key: str) -> int:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT used_tokens FROM api_keys WHERE key_hash = ?", (key_hash(key),)
        ).fetchone()
    return int(row[0])


def make_billing(tmp_path: Path, **kwargs: object) -> LocalBilling:
    settings = LocalBillingSettings(
        db_path=tmp_path / "ledger.sqlite3",
        outbox_dir=tmp_path / "outbox",
        multipliers=kwargs.pop("multipliers", {}),  # type: ignore[arg-type]
        cache_ttl=kwargs.pop("cache_ttl", 0.0),  # type: ignore[arg-type]
        commit_linger=kwargs.pop("commit_linger", 0.02),  # type: ignore[arg-type]
    )
    return LocalBilling(settings)


@pytest.fixture
async def billing(tmp_path: Path) -> AsyncIterator[LocalBilling]:
    ledger = make_billing(tmp_path, multipliers={"gpt-big": 2.5})
    await ledger.start()
    try:
        yield ledger
    finally:
        await ledger.close()


async def test_unknown_and_missing_keys_are_unauthenticated(billing: LocalBilling) -> None:
    for key in ("gw-nobody", ""):
        decision = await billing.authorize(authorization(key))
        assert not decision.allowed
        assert isinstance(decision.denial, Unauthenticated)


async def test_known_key_is_allowed_and_the_key_is_stored_hashed(
    billing: LocalBilling, tmp_path: Path
) -> None:
    add_key(tmp_path / "ledger.sqlite3", "alice", KEY, quota=None)
    assert (await billing.authorize(authorization(KEY))).allowed
    dump = "\n".join(sqlite3.connect(tmp_path / "ledger.sqlite3").iterdump())
    assert KEY not in dump and key_hash(KEY) in dump


async def test_quota_is_exhausted_by_recorded_usage(billing: LocalBilling, tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    add_key(db, "alice", KEY, quota=25)
    await billing.record(usage_record("r1", KEY, total=10))
    await billing.record(usage_record("r2", KEY, total=10))
    assert (await billing.authorize(authorization(KEY))).allowed  # 20 < 25
    await billing.record(usage_record("r3", KEY, total=10))
    decision = await billing.authorize(authorization(KEY))
    assert isinstance(decision.denial, QuotaExceeded) and decision.denial.status == 429
    assert used_tokens(db, KEY) == 30


async def test_usage_waiting_for_its_commit_counts_against_the_quota(tmp_path: Path) -> None:
    # A key's next request is authorized while its predecessors' records still wait for the
    # group commit (1 s here): they must count already, and once committed, count once.
    db = tmp_path / "ledger.sqlite3"
    billing = make_billing(tmp_path, cache_ttl=60.0, commit_linger=1.0)
    await billing.start()
    small, large = KEY, "gw-test-key-0002"
    try:
        add_key(db, "small", small, quota=25)
        add_key(db, "large", large, quota=55)
        for key in (small, large):
            assert (await billing.authorize(authorization(key))).allowed  # cached: 0 used
        recording = [
            asyncio.create_task(billing.record(usage_record(f"{key}-{i}", key, total=10)))
            for key in (small, large)
            for i in range(3)
        ]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in recording)  # not committed yet
        assert isinstance((await billing.authorize(authorization(small))).denial, QuotaExceeded)
        assert (await billing.authorize(authorization(large))).allowed  # 30 of 55
        await asyncio.gather(*recording)
        assert isinstance((await billing.authorize(authorization(small))).denial, QuotaExceeded)
        assert (await billing.authorize(authorization(large))).allowed  # still 30, not 60
        assert used_tokens(db, small) == used_tokens(db, large) == 30
    finally:
        await billing.close()


async def test_an_expected_record_counts_from_then_on_and_once(
    billing: LocalBilling, tmp_path: Path
) -> None:
    # The relay's recorder expects a record while the batch before it is being committed.
    add_key(tmp_path / "ledger.sqlite3", "alice", KEY, quota=25)
    assert (await billing.authorize(authorization(KEY))).allowed  # as every request is, first
    record = usage_record("expected", KEY, total=20)
    billing.expect(record)
    billing.expect(record)  # told twice: held once
    assert (await billing.authorize(authorization(KEY))).allowed  # 20 of 25
    billing.expect(usage_record("next", KEY, total=10))
    assert isinstance((await billing.authorize(authorization(KEY))).denial, QuotaExceeded)
    await billing.record_many([record, usage_record("next", KEY, total=10)])
    assert used_tokens(tmp_path / "ledger.sqlite3", KEY) == 30
    assert isinstance((await billing.authorize(authorization(KEY))).denial, QuotaExceeded)


async def test_recording_is_idempotent_by_request_id(billing: LocalBilling, tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    add_key(db, "alice", KEY)
    record = usage_record("same", KEY, total=7)
    await asyncio.gather(*(billing.record(record) for _ in range(5)))
    await billing.record(record)
    assert used_tokens(db, KEY) == 7
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 1


async def test_a_batch_mixing_recorded_and_new_rows_charges_only_the_new(
    billing: LocalBilling, tmp_path: Path
) -> None:
    db = tmp_path / "ledger.sqlite3"
    add_key(db, "alice", KEY)
    await billing.record(usage_record("old", KEY, total=5))
    before = billing._commits.transactions
    await asyncio.gather(
        billing.record(usage_record("old", KEY, total=5)),  # a redelivery
        billing.record(usage_record("new1", KEY, total=3)),
        billing.record(usage_record("new2", KEY, total=2)),
    )
    assert billing._commits.transactions == before + 1  # one batch, so the mixed path ran
    assert used_tokens(db, KEY) == 10
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 3


async def test_record_many_charges_each_new_record_once(
    billing: LocalBilling, tmp_path: Path
) -> None:
    add_key(tmp_path / "ledger.sqlite3", "alice", KEY, quota=None)
    batch = [usage_record(f"many-{i}", KEY, total=10) for i in range(4)]
    await billing.record_many(batch)
    await billing.record_many(batch[1:3])  # replayed
    assert used_tokens(tmp_path / "ledger.sqlite3", KEY) == 40


async def test_model_multiplier_charges_exactly(billing: LocalBilling, tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    add_key(db, "alice", KEY)
    await billing.record(usage_record("a", KEY, model="gpt-big", total=101))  # 252.5 -> 253
    await billing.record(usage_record("b", KEY, model="gpt-big-2", total=10))  # no exact match
    assert used_tokens(db, KEY) == 253 + 10
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT request_id, multiplier FROM usage").fetchall())
    assert rows == {"a": "2.5", "b": "1"}


async def test_revoked_key_is_refused(billing: LocalBilling, tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    add_key(db, "alice", KEY)
    assert (await billing.authorize(authorization(KEY))).allowed
    conn = ledger_store.connect(db)
    assert ledger_store.revoke(conn, "alice") == "alice"
    conn.close()
    decision = await billing.authorize(authorization(KEY))
    assert isinstance(decision.denial, Unauthenticated)
    assert "revoked" in decision.denial.message


async def test_many_concurrent_records_share_transactions(
    billing: LocalBilling, tmp_path: Path
) -> None:
    db = tmp_path / "ledger.sqlite3"
    add_key(db, "alice", KEY)
    await asyncio.gather(*(billing.record(usage_record(f"r{i}", KEY, total=1)) for i in range(500)))
    assert used_tokens(db, KEY) == 500
    assert billing._commits.transactions < 100  # grouped, not one transaction per record


async def test_cached_key_state_sees_own_charges_at_once(tmp_path: Path) -> None:
    db = tmp_path / "ledger.sqlite3"
    add_key(db, "alice", KEY, quota=10)
    ledger = make_billing(tmp_path, cache_ttl=60.0)
    await ledger.start()
    try:
        assert (await ledger.authorize(authorization(KEY))).allowed  # cached now
        await ledger.record(usage_record("r1", KEY, total=10))
        assert isinstance((await ledger.authorize(authorization(KEY))).denial, QuotaExceeded)
    finally:
        await ledger.close()


async def test_two_ledgers_on_one_file_charge_once(tmp_path: Path) -> None:
    """Two workers share the file: a record replayed through the other worker is ignored."""
    db = tmp_path / "ledger.sqlite3"
    add_key(db, "alice", KEY)
    first, second = make_billing(tmp_path), make_billing(tmp_path)
    await first.start()
    await second.start()
    try:
        records = [usage_record(f"r{i}", KEY, total=2) for i in range(200)]
        await asyncio.gather(
            *(first.record(r) for r in records), *(second.record(r) for r in records)
        )
    finally:
        await first.close()
        await second.close()
    assert used_tokens(db, KEY) == 400


async def test_unwritable_ledger_keeps_records_in_the_outbox_until_it_is_writable(
    tmp_path: Path,
) -> None:
    db = tmp_path / "ledger.sqlite3"
    add_key(db, "alice", KEY)
    ledger = make_billing(tmp_path)
    await ledger.start()
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("PRAGMA busy_timeout = 0")
    blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock for too long
    try:
        # The ledger waits 5 s for the lock per attempt: too long for a unit test.
        assert ledger._write_conn is not None
        ledger._write_conn.execute("PRAGMA busy_timeout = 10")
        await ledger.record(usage_record("r1", KEY, total=3))
        assert ledger._outbox.pending == 1
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await ledger.close()  # the outbox's last attempt writes it
    assert used_tokens(db, KEY) == 3
