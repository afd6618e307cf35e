"""`gateway keys`: the local billing ledger's API keys (billing.mode = local).

  gateway keys add NAME [--quota TOKENS] [-conf PATH]   create a key; printed once, never stored
  gateway keys list [-conf PATH]
  gateway keys revoke NAME|PREFIX [-conf PATH]
  gateway keys usage [NAME] [-conf PATH]                used/quota per key, tokens per model

The ledger is `billing.local_db` of the config file (default configs/config.yaml).
"""

from __future__ import annotations

import argparse
import secrets
import sqlite3
import sys

from gateway.adapters.billing import ledger_store
from gateway.domain.secrets import key_hash
from gateway.settings import ConfigError, load_settings

DEFAULT_CONFIG = "configs/config.yaml"
KEY_PREFIX = "gw-"
SHOWN_PREFIX = 10  # characters of a key kept to recognise it: "gw-" + 7


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway keys", description=__doc__.split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-conf", "--conf", "-c", dest="conf", default=DEFAULT_CONFIG)
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", parents=[common], help="create a key")
    add.add_argument("name")
    add.add_argument("--quota", type=int, default=None, help="tokens (default: unlimited)")
    commands.add_parser("list", parents=[common], help="list keys")
    revoke = commands.add_parser("revoke", parents=[common], help="revoke a key")
    revoke.add_argument("name_or_prefix")
    usage = commands.add_parser("usage", parents=[common], help="usage per key and model")
    usage.add_argument("name", nargs="?")
    return parser


def _open(conf: str) -> sqlite3.Connection:
    try:
        settings = load_settings(conf)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    return ledger_store.connect(settings.billing.local_db)


def _quota(quota: int | None) -> str:
    return "unlimited" if quota is None else str(quota)


def _add(conn: sqlite3.Connection, name: str, quota: int | None) -> None:
    if quota is not None and quota < 0:
        raise SystemExit("gateway keys: --quota must be >= 0")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        ledger_store.add_key(
            conn, name=name, key_hash=key_hash(key), prefix=key[:SHOWN_PREFIX], quota=quota
        )
    except sqlite3.IntegrityError:
        raise SystemExit(f"gateway keys: a key named {name!r} exists already") from None
    print(f"created key {name!r} (quota: {_quota(quota)} tokens). It is shown only this once:")
    print(key)


def _list(conn: sqlite3.Connection) -> None:
    print(f"{'NAME':<24} {'PREFIX':<12} {'USED':>12} {'QUOTA':>12} {'STATE':<8} CREATED")
    for k in ledger_store.list_keys(conn):
        state = "revoked" if k.revoked else "active"
        print(
            f"{k.name:<24} {k.prefix + '…':<12} {k.used_tokens:>12} {_quota(k.quota_tokens):>12}"
            f" {state:<8} {k.created_at}"
        )


def _revoke(conn: sqlite3.Connection, name_or_prefix: str) -> None:
    try:
        name = ledger_store.revoke(conn, name_or_prefix)
    except ledger_store.AmbiguousPrefix as exc:
        raise SystemExit(f"gateway keys: the prefix matches several keys: {exc}") from None
    if name is None:
        raise SystemExit(
            f"gateway keys: no key named {name_or_prefix!r} or with that prefix"
            f" (prefixes need {ledger_store.MIN_PREFIX}+ characters)"
        )
    print(f"revoked key {name!r} (takes effect within a second)")


def _usage(conn: sqlite3.Connection, name: str | None) -> None:
    keys = [k for k in ledger_store.list_keys(conn) if name is None or k.name == name]
    if name is not None and not keys:
        raise SystemExit(f"gateway keys: no key named {name!r}")
    per_model: dict[str, list[tuple[str | None, int, int, int]]] = {}
    for key_name, model, requests, total, charged in ledger_store.usage_by_model(conn, name):
        per_model.setdefault(key_name, []).append((model, requests, total, charged))
    for k in keys:
        print(f"{k.name}: {k.used_tokens} / {_quota(k.quota_tokens)} tokens charged")
        for model, requests, total, charged in per_model.get(k.name, []):
            label = model or "-"
            print(f"  {label:<32} {requests:>8} requests {total:>12} tokens {charged:>12} charged")


def main(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    conn = _open(args.conf)
    try:
        if args.command == "add":
            _add(conn, args.name, args.quota)
        elif args.command == "list":
            _list(conn)
        elif args.command == "revoke":
            _revoke(conn, args.name_or_prefix)
        else:
            _usage(conn, args.name)
    finally:
        conn.close()
