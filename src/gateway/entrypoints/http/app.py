"""The Sanic app factory. The composition root hands it a Runtime; the app only serves."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Protocol

from sanic import Sanic
from sanic.config import Config

from gateway.application.relay import RelayService
from gateway.domain.secrets import mask_key_shaped
from gateway.entrypoints.http.errors import conclude_abandoned_body, register_error_handlers
from gateway.entrypoints.http.middleware import install_middleware
from gateway.entrypoints.http.observability import HttpObservability
from gateway.entrypoints.http.protocol import GatewayHttpProtocol
from gateway.entrypoints.http.readiness import Probe, Readiness
from gateway.entrypoints.http.routes_claude import claude
from gateway.entrypoints.http.routes_gemini import gemini
from gateway.entrypoints.http.routes_openai import openai
from gateway.entrypoints.http.routes_system import system
from gateway.settings import Settings

_app_numbers = itertools.count()


class Runtime(Protocol):
    """What the app needs from the composition root, per worker process."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def relay_service(self) -> RelayService: ...

    def readiness_probes(self) -> Mapping[str, Probe]: ...

    def observability(self) -> HttpObservability: ...


def sanic_config(settings: Settings) -> Config:
    http = settings.server.http
    config = Config()
    config.update(
        {
            "REQUEST_MAX_SIZE": http.max_body_size,
            "REQUEST_TIMEOUT": http.read_timeout,
            # Sanic's response timeout is inactivity on the client connection. It must outlast
            # the upstream's allowed silence, or a slow-thinking model would get Sanic's 503
            # before the gateway's 504. The write timeout, a bound on the whole response, is the
            # relay handler's (relay_handler._within_write_timeout).
            "RESPONSE_TIMEOUT": max(http.write_timeout, settings.upstreams.read_timeout + 5),
            "KEEP_ALIVE_TIMEOUT": http.idle_timeout,
            # SIGTERM lets in-flight requests and streams finish, bounded by the write timeout.
            "GRACEFUL_SHUTDOWN_TIMEOUT": http.write_timeout,
            "NOISY_EXCEPTIONS": False,
            "MOTD": False,
            "ACCESS_LOG": False,
            "KEEP_ALIVE": True,
        }
    )
    return config


def create_app(settings: Settings, runtime: Runtime, name: str | None = None) -> Sanic:  # type: ignore[type-arg]
    app: Sanic = Sanic(  # type: ignore[type-arg]
        name or f"gateway_{next(_app_numbers)}",
        config=sanic_config(settings),
        # Sanic's loggers propagate to the root logger, which observability formats (JSON in
        # production) and redacts; Sanic's own handlers would print every line twice.
        configure_logging=False,
    )
    app.ctx.max_body = settings.server.http.max_body_size
    # Whoever serves the app passes it on (Sanic takes the protocol only as a serving argument).
    app.ctx.http_protocol = GatewayHttpProtocol
    app.ctx.on_abandoned_body = conclude_abandoned_body  # the protocol's hook (protocol.py)
    app.ctx.write_timeout = settings.server.http.write_timeout
    # Sanic reads a client address from proxy headers only when told to trust them (its
    # FORWARDED_SECRET, REAL_IP_HEADER or PROXIES_COUNT, e.g. from SANIC_* variables).
    # Otherwise the answer is always the peer's address: no header parse per request.
    config = app.config
    app.ctx.trusts_proxies = bool(
        config.FORWARDED_SECRET or config.REAL_IP_HEADER or config.PROXIES_COUNT
    )
    app.ctx.public_url = settings.server.public_url
    for blueprint in (claude, openai, gemini, system):
        app.blueprint(blueprint)
    register_error_handlers(app)
    install_middleware(app, settings)
    app.ctx.tracer = None
    app.ctx.http_metrics = None
    app.ctx.scrub = mask_key_shaped

    @app.before_server_start
    async def start(app: Sanic) -> None:  # type: ignore[type-arg]
        await runtime.start()
        app.ctx.relay = runtime.relay_service()
        app.ctx.readiness = Readiness(runtime.readiness_probes())
        observability: HttpObservability = runtime.observability()
        app.ctx.tracer = observability.tracer
        app.ctx.http_metrics = observability.http_metrics
        app.ctx.scrub = observability.scrub

    @app.after_server_stop
    async def stop(app: Sanic) -> None:  # type: ignore[type-arg]
        await runtime.stop()

    return app
