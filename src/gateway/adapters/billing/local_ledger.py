"""billing.mode = local: the embedded ledger, a SQLite file shared by every worker of the host.

authorize: the caller's key (by sha256) must exist, not be revoked, and have used less than its
quota. Key states are cached for `cache_ttl` seconds per worker, so a key added, revoked or
exhausted by another worker takes effect within that time; this worker's own charges update the
cache at once.

record: charged tokens (pricing.py) are added to the key in the same transaction as the usage
row, and only when the row is new (INSERT OR IGNORE on request_id): a replay never charges twice.
Rows are written by group commit (group_commit.py); `record` returns once its transaction is
committed. A row whose transaction keeps failing goes to the durable outbox (outbox.py), which
writes it to the ledger later, also after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from gateway.adapters.billing import ledger_store
from gateway.adapters.billing.group_commit import CommitFailed, GroupCommit
from gateway.adapters.billing.ledger_store import KeyState, UsageRow
from gateway.adapters.billing.outbox import ACKED, Delivered, DeliveryResult, Outbox, OutboxTuning
from gateway.adapters.billing.pricing import Pricing
from gateway.adapters.billing.wire import MalformedRecord, decode_record, encode_record
from gateway.domain.errors import QuotaExceeded, Unauthenticated
from gateway.domain.ports.billing import ALLOW, AuthorizationRequest, Decision, UsageRecord

log = logging.getLogger(__name__)

T = TypeVar("T")
_CACHE_LIMIT = 100_000  # distinct keys cached before the cache is emptied


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalBillingSettings:
    db_path: Path
    outbox_dir: Path
    multipliers: dict[str, float]
    cache_ttl: float = 1.0
    max_batch: int = 1024
    # Gather concurrent requests' records into one transaction (see group_commit.py). A
    # transaction costs about 300 µs of CPU whatever it holds: at W3's 156 streams a second a
    # 5 ms linger committed one row each, and 20 ms cut 146 µs per stream off production's CPU
    # (docs/performance-history.md, sixteenth round), with no change at W2's 5,000 requests a
    # second.
    # It is also the window in which a SIGKILL loses the records not yet committed.
    commit_linger: float = 0.02
    outbox: OutboxTuning = field(default_factory=OutboxTuning)


class LocalBilling:
    def __init__(self, settings: LocalBillingSettings) -> None:
        self._settings = settings
        self._pricing = Pricing(settings.multipliers)
        # One thread each: SQLite calls never block the event loop, and a writer waiting for
        # another worker's lock (busy_timeout) does not hold up key lookups.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="ledger-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="ledger-reader")
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None
        self._cache: dict[str, tuple[float, KeyState | None]] = {}
        # Charges of records expected (`expect`) or handed to the group commit and not yet
        # committed, by request id, and their sum per key: authorize counts them, or every
        # request that ends within a commit's linger (20 ms: hundreds, in a tight loop) would
        # pass a quota that its predecessors used up. Only keys with a quota are held.
        self._held: dict[str, tuple[str, int]] = {}
        self._pending: dict[str, int] = {}
        self._commits: GroupCommit[UsageRow, list[tuple[str, int]]] = GroupCommit(
            self._commit_held,
            self._charged,
            max_batch=settings.max_batch,
            linger=settings.commit_linger,
        )
        self._outbox = Outbox(settings.outbox_dir, self._redeliver, settings.outbox)

    @property
    def needs_usage(self) -> bool:
        return True

    @property
    def outbox(self) -> Outbox:
        """Records the ledger could not take yet (its metrics gauge their backlog)."""
        return self._outbox

    async def start(self) -> None:
        if self._write_conn is not None:
            return  # started already (a test may start it before the container does)
        path = self._settings.db_path
        self._write_conn = await self._in(self._writer, ledger_store.connect, path)
        self._read_conn = await self._in(self._reader, ledger_store.connect, path)
        self._commits.start()
        await self._outbox.start()

    async def close(self) -> None:
        if self._write_conn is None:
            return
        await self._commits.close()
        await self._outbox.close()
        for executor, conn in ((self._writer, self._write_conn), (self._reader, self._read_conn)):
            if conn is not None:
                await self._in(executor, conn.close)
            executor.shutdown(wait=True)
        self._write_conn = self._read_conn = None

    async def authorize(self, request: AuthorizationRequest) -> Decision:
        key_hash = request.caller.key_hash
        if key_hash is None:
            return Decision(False, Unauthenticated("an API key is required"))
        state = await self._key_state(key_hash)
        if state is None:
            return Decision(False, Unauthenticated("invalid API key"))
        if state.revoked:
            return Decision(False, Unauthenticated("this API key has been revoked"))
        quota = state.quota_tokens
        if quota is not None and state.used_tokens + self._pending.get(key_hash, 0) >= quota:
            return Decision(False, QuotaExceeded("the token quota of this API key is used up"))
        return ALLOW

    async def record(self, record: UsageRecord) -> None:
        await self.record_many((record,))

    async def record_many(self, records: Sequence[UsageRecord]) -> None:
        for record in records:
            self._hold(record)
        rows = [self._row(record) for record in records]
        try:
            await self._commits.add_many(rows)
        except CommitFailed:
            self._release(rows)  # the outbox charges them when it delivers
            log.error("ledger unwritable; %d usage record(s) kept in the outbox", len(records))
            for record in records:
                await self._outbox.submit(record.request_id, encode_record(record))

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        details: dict[str, object] = {
            "mode": "local",
            "queued": self._commits.queued,
            "outbox_pending": self._outbox.pending,
        }
        if self._read_conn is None:
            return False, {**details, "error": "not started"}
        try:
            await self._in(self._reader, self._read_conn.execute, "SELECT 1")
        except sqlite3.Error as exc:
            return False, {**details, "error": type(exc).__name__}
        return True, details

    # -- keys -------------------------------------------------------------------------------

    async def _key_state(self, key_hash: str) -> KeyState | None:
        now = time.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        conn = self._read_conn
        if conn is None:
            raise RuntimeError("LocalBilling is not started")
        state = await self._in(self._reader, ledger_store.key_state, conn, key_hash)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[key_hash] = (now + self._settings.cache_ttl, state)
        return state

    def _hold(self, record: UsageRecord) -> None:
        """Count `record`'s charge against its key until `_release`, once per request id. Only
        for a key with a quota, as this worker last saw it (every request is authorized before
        its record exists): the others have nothing to check, and cost a lookup."""
        key_hash = record.caller_key_hash
        if key_hash is None or record.request_id in self._held:
            return
        cached = self._cache.get(key_hash)
        if cached is None or cached[1] is None or cached[1].quota_tokens is None:
            return
        charged = self._pricing.charged_tokens(record.usage.total_tokens, record.model)
        if charged:
            self._held[record.request_id] = (key_hash, charged)
            self._pending[key_hash] = self._pending.get(key_hash, 0) + charged

    expect = _hold  # the Billing port's name for it

    def _release(self, rows: Sequence[UsageRow]) -> None:
        held, pending = self._held, self._pending
        if not held:
            return
        for row in rows:
            charge = held.pop(row[0], None)
            if charge is None:
                continue  # not held (no quota, an outbox redelivery), or released already
            key_hash, charged = charge
            left = pending.get(key_hash, 0) - charged
            if left > 0:
                pending[key_hash] = left
            else:
                pending.pop(key_hash, None)

    def _charged(self, charges: list[tuple[str, int]]) -> None:
        for key_hash, tokens in charges:
            cached = self._cache.get(key_hash)
            if cached is not None and cached[1] is not None:
                state = cached[1]
                self._cache[key_hash] = (
                    cached[0],
                    replace(state, used_tokens=state.used_tokens + tokens),
                )

    # -- usage ------------------------------------------------------------------------------

    def _row(self, record: UsageRecord) -> UsageRow:
        usage = record.usage
        total = usage.total_tokens
        return (
            record.request_id,
            record.ts.isoformat(),
            record.caller_key_hash,
            str(record.provider),
            str(record.operation),
            record.model,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_tokens,
            usage.cache_write_tokens,
            usage.reasoning_tokens,
            total,
            str(self._pricing.multiplier(record.model)),
            self._pricing.charged_tokens(total, record.model),
            str(record.outcome),
            record.status,
            int(record.partial),
            int(record.estimated),
        )

    async def _commit(self, rows: list[UsageRow]) -> list[tuple[str, int]]:
        conn = self._write_conn
        if conn is None:
            raise sqlite3.ProgrammingError("ledger closed")
        return await self._in(self._writer, ledger_store.insert_usage, conn, rows)

    async def _commit_held(self, rows: list[UsageRow]) -> list[tuple[str, int]]:
        """The group commit's: rows `record_many` holds as pending. Once committed they are no
        longer pending; the group commit hands the charges to `_charged` with no wait in
        between, so an authorize never counts them both pending and in the cache."""
        charges = await self._commit(rows)
        self._release(rows)
        return charges

    async def _redeliver(self, request_id: str, body: bytes) -> DeliveryResult:
        """The outbox's delivery: a record the ledger could not take earlier."""
        try:
            row = self._row(decode_record(body))
        except MalformedRecord as exc:
            return DeliveryResult(Delivered.REJECTED, f"unreadable record ({exc})")
        try:
            self._charged(await self._commit([row]))
        except (sqlite3.Error, OSError) as exc:
            return DeliveryResult(Delivered.RETRY, type(exc).__name__)
        return ACKED

    @staticmethod
    async def _in(executor: ThreadPoolExecutor, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
