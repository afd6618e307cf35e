"""The reference billing service of docs/billing-api.md, for tests, benchmarks and trying out.

Keys (by sha256 hash) with token quotas; usage records stored once per request id (a replay is
answered `{"duplicate": true}`); state in memory, saved to a JSON snapshot (`--db`) after
changes and loaded at start. Tests start it in-process (`start_billing_server`) and can stop and
restart it on the same port (billing down, then back), slow it down (`delay`) or make it fail
(`fail_next`). It charges `usage.total_tokens` (pricing multipliers are the gateway's local-mode
feature; a real service would apply its own prices).

    python -m gateway.devtools.billing_server --port 18200 --db data/billing-server.json \\
        --api-key SECRET --add-key alice=gw-alice-key:100000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

_RECORD_FIELDS = {"request_id", "ts", "provider", "operation", "usage", "outcome", "status"}
_COUNTS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "total_tokens",
)


@dataclass
class Key:
    name: str
    quota: int | None = None
    used: int = 0
    revoked: bool = False


@dataclass
class Ledger:
    keys: dict[str, Key] = field(default_factory=dict)  # by sha256 hex of the key
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)  # by request id

    def save(self, path: Path) -> None:
        doc = {"keys": {h: asdict(k) for h, k in self.keys.items()}, "usage": self.usage}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(doc))
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path) -> Ledger:
        if not path.exists():
            return cls()
        doc = json.loads(path.read_text())
        return cls({h: Key(**k) for h, k in doc["keys"].items()}, doc["usage"])


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class _Api:
    """The HTTP handlers, over one Ledger; `delay`, `fail_next` simulate a service in trouble."""

    def __init__(self, ledger: Ledger, api_key: str | None, db: Path | None) -> None:
        self.ledger = ledger
        self.api_key = api_key
        self.db = db
        self.delay = 0.0
        self.fail_next = 0
        self.fail_status = 503
        self.usage_posts = 0  # every POST /v1/usage, replays included
        self.authorizations = 0

    async def _gate(self, request: web.Request) -> web.Response | None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.json_response({"error": "simulated failure"}, status=self.fail_status)
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": "unauthorized"}, status=401)
        return None

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def authorize(self, request: web.Request) -> web.Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        self.authorizations += 1
        try:
            doc = await request.json()
            caller = doc["caller"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "malformed authorize request"}, status=400)
        return web.json_response(self._decide(caller))

    def _decide(self, caller: object) -> dict[str, Any]:
        if not isinstance(caller, str):
            return {"allowed": False, "reason": "missing_key", "message": "no API key"}
        key = self.ledger.keys.get(caller)
        if key is None:
            return {"allowed": False, "reason": "unknown_key", "message": "unknown API key"}
        if key.revoked:
            return {"allowed": False, "reason": "revoked_key", "message": "revoked API key"}
        if key.quota is not None and key.used >= key.quota:
            return {"allowed": False, "reason": "quota_exceeded", "message": "quota used up"}
        remaining = None if key.quota is None else key.quota - key.used
        return {"allowed": True, "remaining_tokens": remaining}

    async def usage(self, request: web.Request) -> web.Response:
        if (refused := await self._gate(request)) is not None:
            return refused
        self.usage_posts += 1
        try:
            record = await request.json()
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        problem = _problem(record, request.headers.get("idempotency-key"))
        if problem:
            return web.json_response({"error": problem}, status=422)
        request_id = record["request_id"]
        if (seen := self.ledger.usage.get(request_id)) is not None:
            if seen != record:
                return web.json_response({"error": "idempotency key reused"}, status=409)
            return web.json_response({"request_id": request_id, "duplicate": True})
        self._store(record)
        return web.json_response({"request_id": request_id, "duplicate": False}, status=201)

    def _store(self, record: dict[str, Any]) -> None:
        self.ledger.usage[record["request_id"]] = record
        key = self.ledger.keys.get(record.get("caller") or "")
        if key is not None:
            key.used += int(record["usage"]["total_tokens"])
        if self.db is not None:
            self.ledger.save(self.db)


def _problem(record: object, idempotency_key: str | None) -> str | None:
    if not isinstance(record, dict):
        return "the record must be a JSON object"
    if missing := sorted(_RECORD_FIELDS - record.keys()):
        return f"missing fields: {', '.join(missing)}"
    if idempotency_key != record["request_id"]:
        return "Idempotency-Key must equal request_id"
    usage = record["usage"]
    if not isinstance(usage, dict) or not all(
        isinstance(usage.get(n, 0), int) and usage.get(n, 0) >= 0 for n in _COUNTS
    ):
        return "usage counts must be non-negative integers"
    return None


def build_app(api: _Api) -> web.Application:
    app = web.Application()
    app.router.add_get("/health", api.health)
    app.router.add_post("/v1/authorize", api.authorize)
    app.router.add_post("/v1/usage", api.usage)
    return app


class BillingServer:
    """A running reference billing service: keys, recorded usage, and outage simulation."""

    def __init__(self, api: _Api, host: str, port: int) -> None:
        self._api = api
        self._host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self._runner: web.AppRunner | None = None

    @property
    def usage(self) -> dict[str, dict[str, Any]]:
        """Every usage record received, by request id."""
        return self._api.ledger.usage

    @property
    def usage_posts(self) -> int:
        return self._api.usage_posts

    @property
    def authorizations(self) -> int:
        return self._api.authorizations

    @property
    def delay(self) -> float:
        return self._api.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        """Wait this long before answering any API call (a slow service)."""
        self._api.delay = seconds

    def fail_next(self, count: int, status: int = 503) -> None:
        self._api.fail_next, self._api.fail_status = count, status

    def add_key(self, name: str, key: str, quota: int | None = None) -> None:
        self._api.ledger.keys[_hash(key)] = Key(name, quota)

    def revoke(self, key: str) -> None:
        self._api.ledger.keys[_hash(key)].revoked = True

    def used(self, key: str) -> int:
        return self._api.ledger.keys[_hash(key)].used

    async def start(self) -> None:
        """Listen (again) on the same port: the service is back, with the same state."""
        if self._runner is not None:
            return
        runner = web.AppRunner(build_app(self._api), access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self.port, reuse_address=True).start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = int(runner.addresses[0][1])
        self.url = f"http://{self._host}:{self.port}"
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening: the service is down (connections refused) until `start`."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def close(self) -> None:
        await self.stop()
        if self._api.db is not None:
            self._api.ledger.save(self._api.db)


async def start_billing_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    api_key: str | None = None,
    db: str | Path | None = None,
) -> BillingServer:
    """Start the reference billing service in the running loop (port 0: a free port)."""
    path = Path(db) if db is not None else None
    ledger = Ledger.load(path) if path is not None else Ledger()
    server = BillingServer(_Api(ledger, api_key, path), host, port)
    await server.start()
    return server


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.devtools.billing_server",
        description="Serve the reference billing API (docs/billing-api.md).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18200)
    parser.add_argument("--db", default=None, help="JSON snapshot file (default: memory only)")
    parser.add_argument("--api-key", default=os.environ.get("BILLING_API_KEY") or None)
    parser.add_argument(
        "--add-key", action="append", default=[], metavar="NAME=KEY[:QUOTA]", help="a client key"
    )
    return parser.parse_args(argv)


async def _run_forever(args: argparse.Namespace) -> None:
    server = await start_billing_server(args.host, args.port, api_key=args.api_key, db=args.db)
    for spec in args.add_key:
        name, _, rest = spec.partition("=")
        key, _, quota = rest.partition(":")
        server.add_key(name, key, int(quota) if quota else None)
    print(f"billing server listening on {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_run_forever(_parse_args(argv)))


if __name__ == "__main__":
    main()
