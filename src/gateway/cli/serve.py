"""`gateway` (serve) and `gateway check-config`: the gateway's processes and their app."""

from __future__ import annotations

import glob
import os
import signal
import sys
import tempfile
from collections.abc import Sequence
from functools import partial

from sanic import Sanic
from sanic.worker.loader import AppLoader

from gateway.cli import USAGE, parent_death, stop_signals
from gateway.cli.gc_tuning import tune_gc_after_start
from gateway.cli.server_stop import take_over_stop_signals
from gateway.cli.worker_manager import use_gateway_worker_manager
from gateway.container import ContainerRuntime, build_container
from gateway.entrypoints.http.app import create_app
from gateway.settings import ConfigError, Settings, load_settings, render_effective_config

DEFAULT_CONFIG = "configs/config.yaml"


def _config_path(args: Sequence[str]) -> str:
    path = DEFAULT_CONFIG
    items = list(args)
    while items:
        arg = items.pop(0)
        if arg in ("-conf", "--conf", "-c"):
            if not items:
                raise SystemExit(f"gateway: {arg} needs a path\n{USAGE}")
            path = items.pop(0)
        elif arg.startswith(("--conf=", "-conf=")):
            path = arg.split("=", 1)[1]
        elif arg in ("-h", "--help"):
            print(USAGE, end="")
            raise SystemExit(0)
        else:
            raise SystemExit(f"gateway: unknown argument {arg!r}\n{USAGE}")
    return path


def _load(path: str) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None


def app_for(config_path: str) -> Sanic:  # type: ignore[type-arg]
    """Build the app in a worker process (Sanic spawns workers; each builds its own container)."""
    # In a worker (spawned, it did not run the launcher): hold stop signals until its server
    # can act on them. The launcher already holds them in its own process.
    stop_signals.hold(second_kills=False)
    # And it drains and ends if the main process dies without stopping it (parent_death.py).
    parent_death.end_with_parent(signal.SIGTERM)
    settings = load_settings(config_path)
    runtime = ContainerRuntime(build_container(settings), settings.server.http.write_timeout)
    app = create_app(settings, runtime, name="gateway")
    app.after_server_start(take_over_stop_signals)  # first: see server_stop.py

    @app.after_server_start
    async def tune_gc(app: Sanic) -> None:  # type: ignore[type-arg]
        tune_gc_after_start()

    return app


def _prepare_metrics_dir(settings: Settings) -> None:
    """Several workers share Prometheus metrics through files in PROMETHEUS_MULTIPROC_DIR. It is
    set here, in the launcher, before any worker starts (workers inherit the environment and
    import prometheus_client afresh), and emptied of the last run's files here only: a worker
    wiping it would delete its siblings' live files."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not settings.metrics.enabled or (settings.server.workers == 1 and not configured):
        return  # one process: metrics stay in memory
    path = (
        settings.metrics.multiproc_dir
        or configured
        or os.path.join(tempfile.gettempdir(), f"gateway-metrics-{os.getpid()}")
    )
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):  # only metric files, never more
        os.remove(stale)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


def serve(config_path: str) -> None:
    settings = _load(config_path)
    _prepare_metrics_dir(settings)
    http = settings.server.http
    loader = AppLoader(factory=partial(app_for, config_path))
    app = loader.load()
    workers = settings.server.workers
    app.prepare(
        host=http.host,
        port=http.port,
        workers=workers,
        single_process=workers == 1,
        access_log=False,
        motd=False,
        protocol=app.ctx.http_protocol,
    )
    print(f"gateway listening on http://{http.host}:{http.port} ({workers} worker(s))", flush=True)
    if stop_signals.held():  # stopped while it loaded: there is nothing to start
        # Printed, as the line above: Sanic's loggers are not set up before it serves.
        print("gateway stopped: a stop signal came before it started serving", flush=True)
        return
    # A signal from here on is taken by the worker manager, or by the server once it serves.
    if workers == 1:
        Sanic.serve_single(primary=app)
    else:
        use_gateway_worker_manager()
        Sanic.serve(primary=app, app_loader=loader)


def check_config(config_path: str) -> None:
    settings = _load(config_path)
    print(render_effective_config(settings), end="")


def main(argv: Sequence[str]) -> None:
    serve(_config_path(argv))


def check_config_main(argv: Sequence[str]) -> None:
    check_config(_config_path(argv))
