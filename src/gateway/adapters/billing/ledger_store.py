"""The local ledger's SQLite file: schema, connection settings and every statement it runs.

Synchronous on purpose: LocalBilling runs these in its own threads, the `gateway keys` CLI
directly. Several Sanic workers share the file: WAL lets readers run beside the one writer,
`BEGIN IMMEDIATE` takes the write lock up front (a deferred transaction that upgrades would fail
at once with SQLITE_BUSY instead of waiting) and busy_timeout makes a writer wait its turn.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

BUSY_TIMEOUT_MS = 5000
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash     TEXT PRIMARY KEY,          -- sha256 hex of the key, never the key itself
    name         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,             -- the key's first characters, to recognise it
    quota_tokens INTEGER,                   -- NULL: unlimited
    used_tokens  INTEGER NOT NULL DEFAULT 0,
    revoked      INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS usage (
    request_id         TEXT PRIMARY KEY,    -- idempotency: a replayed record is ignored
    ts                 TEXT NOT NULL,
    key_hash           TEXT,
    provider           TEXT NOT NULL,
    operation          TEXT NOT NULL,
    model              TEXT,
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens   INTEGER NOT NULL,
    total_tokens       INTEGER NOT NULL,
    multiplier         TEXT NOT NULL,
    charged_tokens     INTEGER NOT NULL,
    outcome            TEXT NOT NULL,
    status             INTEGER NOT NULL,
    partial            INTEGER NOT NULL,
    estimated          INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS usage_by_key_model ON usage (key_hash, model);
"""

_INSERT_USAGE = (
    "INSERT OR IGNORE INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_USAGE_BY_MODEL = (
    "SELECT k.name, u.model, count(*), sum(u.total_tokens), sum(u.charged_tokens)"
    " FROM usage u JOIN api_keys k ON k.key_hash = u.key_hash"
)
_CHARGE = "UPDATE api_keys SET used_tokens = used_tokens + ? WHERE key_hash = ?"

UsageRow = tuple[
    str, str, str | None, str, str, str | None, int, int, int, int, int, int, str, int, str, int,
    int, int,
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class KeyState:
    quota_tokens: int | None
    used_tokens: int
    revoked: bool


@dataclass(frozen=True, slots=True)
class KeyInfo:
    name: str
    prefix: str
    quota_tokens: int | None
    used_tokens: int
    revoked: bool
    created_at: str


def connect(path: str | Path) -> sqlite3.Connection:
    """Open (and create, the first time) the ledger with the settings every user of it needs."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT).
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL in WAL: a commit survives the process dying; only an OS crash can lose the last ones.
    conn.execute("PRAGMA synchronous = NORMAL")
    if conn.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return conn


def key_state(conn: sqlite3.Connection, key_hash: str) -> KeyState | None:
    row = conn.execute(
        "SELECT quota_tokens, used_tokens, revoked FROM api_keys WHERE key_hash = ?", (key_hash,)
    ).fetchone()
    return None if row is None else KeyState(row[0], row[1], bool(row[2]))


def insert_usage(conn: sqlite3.Connection, rows: list[UsageRow]) -> list[tuple[str, int]]:
    """Insert the rows in one transaction; charge each key only for rows not already there.

    Returns (key_hash, charged tokens) for every row that was new.
    """
    # One UPDATE per key per transaction, not per row: a batch is mostly a few busy keys.
    charged: dict[str, int] = {}
    conn.execute("BEGIN IMMEDIATE")
    try:
        for row in rows:
            if conn.execute(_INSERT_USAGE, row).rowcount == 1 and row[2] is not None:
                charged[row[2]] = charged.get(row[2], 0) + row[13]
        conn.executemany(_CHARGE, [(tokens, key) for key, tokens in charged.items()])
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return list(charged.items())


def add_key(
    conn: sqlite3.Connection, *, name: str, key_hash: str, prefix: str, quota: int | None
) -> None:
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    conn.execute(
        "INSERT INTO api_keys (key_hash, name, prefix, quota_tokens, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (key_hash, name, prefix, quota, created),
    )


def list_keys(conn: sqlite3.Connection) -> list[KeyInfo]:
    rows = conn.execute(
        "SELECT name, prefix, quota_tokens, used_tokens, revoked, created_at"
        " FROM api_keys ORDER BY created_at, name"
    ).fetchall()
    return [KeyInfo(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows]


class AmbiguousPrefix(ValueError):
    """A prefix that matches several keys: revoking by it would revoke them all."""


MIN_PREFIX = 6


def revoke(conn: sqlite3.Connection, name_or_prefix: str) -> str | None:
    """Revoke the key with this name, else the one key whose prefix starts so; its name."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        names = _names_matching(conn, name_or_prefix)
        if len(names) > 1:
            raise AmbiguousPrefix(", ".join(names))
        if names:
            conn.execute("UPDATE api_keys SET revoked = 1 WHERE name = ?", (names[0],))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return names[0] if names else None


def _names_matching(conn: sqlite3.Connection, name_or_prefix: str) -> list[str]:
    by_name = conn.execute("SELECT name FROM api_keys WHERE name = ?", (name_or_prefix,))
    names = [row[0] for row in by_name.fetchall()]
    if names or len(name_or_prefix) < MIN_PREFIX:
        return names
    by_prefix = conn.execute(
        "SELECT name FROM api_keys WHERE substr(prefix, 1, ?) = ? ORDER BY name",
        (len(name_or_prefix), name_or_prefix),
    )
    return [row[0] for row in by_prefix.fetchall()]


def usage_by_model(
    conn: sqlite3.Connection, name: str | None
) -> list[tuple[str, str | None, int, int, int]]:
    """(key name, model, requests, total tokens, charged tokens) per key and model."""
    where = "WHERE k.name = ?" if name is not None else ""
    rows = conn.execute(
        f"{_USAGE_BY_MODEL} {where} GROUP BY k.name, u.model ORDER BY k.name, u.model",
        (name,) if name is not None else (),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]
