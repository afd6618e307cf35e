"""The contenders: direct, the two floors, and the gateway in several configurations.

Each gateway contender is a config YAML generated from its feature set (keys from
src/gateway/settings/schema.py) and started with `python -m gateway -conf FILE`. A contender
whose config is rejected (`gateway check-config` fails), whose gateway does not start, or whose
feature is accepted but not live (no event reaches NATS, no ledger row, no span, no /metrics)
is reported as "not available" with the reason, rather than measured as something it is not.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import procs
from apis import API_NAMES, api_request

from gateway.devtools.loopback import free_port

PROXY_CPUS = "0"  # the proxy under test
LOAD_CPUS = "1"  # upstream, load generator, nats-server, OTLP sink
BOTH_CPUS = "0,1"  # 2-worker gateways: the machine has no third core to keep them apart


@dataclass(frozen=True)
class Contender:
    name: str
    kind: str  # direct | floor_aiohttp | floor_sanic | gateway
    workers: int = 1
    billing: str = "disabled"
    events: bool = False
    metrics: bool = False
    access_log: bool = False
    tracing: bool = False
    label: str = ""

    @property
    def cpus(self) -> str:
        return BOTH_CPUS if self.workers > 1 else PROXY_CPUS


CONTENDERS = (
    Contender("direct", "direct", label="direct (no proxy)"),
    Contender("floor_aiohttp", "floor_aiohttp", label="aiohttp floor"),
    Contender("floor_sanic", "floor_sanic", label="Sanic floor"),
    Contender("relay_1w", "gateway", label="gateway relay only, 1w"),
    Contender(
        "prod_1w",
        "gateway",
        billing="local",
        events=True,
        metrics=True,
        access_log=True,
        label="gateway production, tracing off, 1w",
    ),
    Contender(
        "prod_trace_1w",
        "gateway",
        billing="local",
        events=True,
        metrics=True,
        access_log=True,
        tracing=True,
        label="gateway production, tracing on, 1w",
    ),
    Contender("relay_2w", "gateway", workers=2, label="gateway relay only, 2w"),
    Contender(
        "prod_2w",
        "gateway",
        workers=2,
        billing="local",
        events=True,
        metrics=True,
        access_log=True,
        label="gateway production, tracing off, 2w",
    ),
)
# Optional: one feature at a time on top of the relay, to attribute each feature's cost.
LADDER = (
    Contender("relay_metrics", "gateway", metrics=True, label="relay + metrics"),
    Contender("relay_accesslog", "gateway", access_log=True, label="relay + access log"),
    Contender("relay_events", "gateway", events=True, label="relay + events (NATS)"),
    Contender("relay_billing", "gateway", billing="local", label="relay + billing local"),
)


@dataclass
class Environment:
    """What every contender shares: the upstream, NATS, the OTLP sink, the work directory."""

    work: Path
    upstream_port: int
    nats_url: str = ""
    otlp_port: int = 0
    span_file: Path = field(default_factory=Path)
    tracing_sample_rate: float = 0.1


@dataclass
class Running:
    contender: Contender
    port: int
    proc: procs.Proc | None
    key: str = "bench-key"
    notes: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


class NotAvailable(Exception):
    """The contender cannot be measured as configured; the message says why."""


def gateway_config(contender: Contender, env: Environment, port: int, data: Path) -> dict:  # type: ignore[type-arg]
    upstream = f"http://127.0.0.1:{env.upstream_port}"
    return {
        "server": {
            "mode": "production",
            "http": {"addr": f"127.0.0.1:{port}"},
            "workers": contender.workers,
        },
        "features": {"new_api_enabled": False, "async_logging": contender.events},
        "upstreams": {
            # Above the 2,000 concurrent streams W3 searches up to; production default is 512.
            "pool_size": 4096,
            # As in production, the gateway's own provider keys replace the callers' (ledger)
            # keys; the fast upstream does not check them.
            **{p: {"base_url": upstream, "api_key": "bench-upstream-key"} for p in API_NAMES},
        },
        "billing": {
            "mode": contender.billing,
            "local_db": str(data / "billing.sqlite3"),
            "outbox_dir": str(data / "billing-outbox"),
        },
        "nats": {
            "url": env.nats_url or "nats://127.0.0.1:4222",
            "spool_dir": str(data / "event-spool"),
        },
        "events": {
            "backend": "nats" if contender.events else "jsonl",
            "jsonl_path": str(data / "events.jsonl"),
        },
        "tracing": {
            "enabled": contender.tracing,
            "endpoint": f"127.0.0.1:{env.otlp_port or 4317}",
            "sample_rate": env.tracing_sample_rate,
        },
        "logging": {"level": "info", "access_log": contender.access_log},
        "metrics": {
            "enabled": contender.metrics,
            "multiproc_dir": str(data / "prometheus") if contender.workers > 1 else "",
        },
    }


def _check_config(path: Path) -> None:
    result = subprocess.run(
        [procs.PYTHON, "-m", "gateway", "check-config", "-conf", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise NotAvailable(f"config rejected: {(result.stderr or result.stdout).strip()[:300]}")


def _mint_key(path: Path) -> str:
    """A ledger API key for billing `local`, minted with `gateway keys add`."""
    result = subprocess.run(
        # A fresh name each time: repeats share one ledger file, and names are unique.
        [
            procs.PYTHON,
            "-m",
            "gateway",
            "keys",
            "add",
            f"bench-{time.time_ns()}",
            "-conf",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # `gateway keys add` prints the key alone on its last line ("gw-..."), shown only once.
    tokens = [token for token in result.stdout.split() if token.startswith("gw-")]
    if result.returncode != 0 or not tokens:
        reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no key printed"]
        raise NotAvailable(f"billing local: `gateway keys add` failed: {reason[0][:200]}")
    return tokens[-1]


def start(contender: Contender, env: Environment) -> Running:
    if contender.kind == "direct":
        return Running(contender, env.upstream_port, None)
    port = free_port()
    logs = env.work / "logs"
    upstream = f"http://127.0.0.1:{env.upstream_port}"
    bench_dir = Path(__file__).resolve().parent
    if contender.kind in ("floor_aiohttp", "floor_sanic"):
        script = str(bench_dir / f"{contender.kind}.py")
        argv = [procs.PYTHON, script, "--port", str(port), "--upstream", upstream]
        proc = procs.start(contender.name, argv, contender.cpus, logs)
        error = procs.wait_http(proc, f"http://127.0.0.1:{port}/health")
        if error:
            proc.stop()
            raise NotAvailable(error)
        return Running(contender, port, proc)
    return _start_gateway(contender, env, port)


def _start_gateway(contender: Contender, env: Environment, port: int) -> Running:
    data = env.work / contender.name
    data.mkdir(parents=True, exist_ok=True)
    path = data / "config.yaml"
    # JSON is YAML: no YAML emitter needed.
    path.write_text(json.dumps(gateway_config(contender, env, port, data), indent=2))
    _check_config(path)
    key = _mint_key(path) if contender.billing == "local" else "bench-key"
    argv = [procs.PYTHON, "-m", "gateway", "-conf", str(path)]
    extra = {"PROMETHEUS_MULTIPROC_DIR": str(data / "prometheus")} if contender.workers > 1 else {}
    if extra:
        (data / "prometheus").mkdir(exist_ok=True)
    proc = procs.start(contender.name, argv, contender.cpus, env.work / "logs", extra)
    error = procs.wait_http(proc, f"http://127.0.0.1:{port}/health", timeout=45)
    if error:
        proc.stop()
        raise NotAvailable(f"gateway failed to start: {error[:400]}")
    return Running(contender, port, proc, key=key)


def preflight(running: Running) -> None:
    """One request per API must succeed through the contender."""
    for api in API_NAMES:
        request = api_request(api, key=running.key)
        http = urllib.request.Request(
            f"http://127.0.0.1:{running.port}{request.path}",
            data=request.body,
            headers={**dict(request.headers), "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http, timeout=10) as response:  # noqa: S310 - 127.0.0.1
                response.read()
        except OSError as exc:
            raise NotAvailable(f"preflight {api} request failed: {exc}") from exc


def feature_baseline(env: Environment) -> dict[str, int]:
    """Counts before a contender runs, so the next one is judged on what *it* produced."""
    return {"events": _nats_messages(env, wait=False) if env.nats_url else 0, "spans": _spans(env)}


def verify_features(running: Running, env: Environment, baseline: dict[str, int]) -> None:
    """Each enabled feature must leave its trace after the preflight requests."""
    contender = running.contender
    if contender.kind != "gateway":
        return
    problems = []
    if contender.events and _nats_messages(env, above=baseline["events"]) <= baseline["events"]:
        problems.append("events: no event reached the NATS stream (adapter not wired?)")
    if contender.billing == "local" and _ledger_rows(env.work / contender.name) == 0:
        problems.append("billing local: no usage row in the SQLite ledger (adapter not wired?)")
    if contender.metrics and not _metrics_served(running.port):
        problems.append("metrics: GET /metrics does not serve Prometheus text")
    if (
        contender.tracing
        and env.tracing_sample_rate > 0
        and not _spans_seen(running, env, baseline["spans"])
    ):
        problems.append("tracing: no span reached the OTLP collector")
    if problems:
        raise NotAvailable("; ".join(problems))


def _nats_messages(env: Environment, above: int = 0, wait: bool = True) -> int:
    async def count() -> int:
        import nats

        connection = await nats.connect(env.nats_url, connect_timeout=2, max_reconnect_attempts=0)
        try:
            streams = await connection.jetstream().streams_info()
            return sum(stream.state.messages for stream in streams)
        finally:
            await connection.close()

    found = 0
    for _ in range(20 if wait else 1):  # publishing is asynchronous: give it up to 2 s
        try:
            found = asyncio.run(count())
        except Exception:
            found = 0
        if found > above:
            return found
        time.sleep(0.1)
    return found


def _ledger_rows(data: Path) -> int:
    """Usage rows in the contender's ledger; recording is asynchronous: give it up to 2 s."""
    for _ in range(20):
        rows = _count_ledger_rows(data / "billing.sqlite3")
        if rows:
            return rows
        time.sleep(0.1)
    return 0


def _count_ledger_rows(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        tables = [row[0] for row in db.execute("select name from sqlite_master where type='table'")]
        usage_tables = [table for table in tables if "key" not in table.lower()] or tables
        # Table names come from sqlite_master, not from input.
        queries = [f'select count(*) from "{table}"' for table in usage_tables]  # noqa: S608
        return sum(db.execute(query).fetchone()[0] for query in queries)


def _metrics_served(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.status == 200 and b"# TYPE" in response.read()
    except OSError:
        return False


def _spans(env: Environment) -> int:
    try:
        return int(env.span_file.read_text() or "0") if env.otlp_port else 0
    except (OSError, ValueError):
        return 0


def _spans_seen(running: Running, env: Environment, above: int) -> bool:
    # At sample_rate 0.1 three preflight requests may all go unsampled: send more, then wait
    # for the batch exporter (default schedule 5 s).
    for _ in range(40):
        preflight(running)
    for _ in range(80):
        if _spans(env) > above:
            return True
        time.sleep(0.1)
    return False
