"""The gateway's HTTP middleware, in the seed's order: CORS -> Tracing -> Logger -> Metrics.

Request middleware runs in registration order; response middleware in reverse, so CORS headers
are added last, to every response (errors included). Per-request work that must wait for the
end of a stream is registered on the request's scope (see scope.py).
"""

from __future__ import annotations

from sanic import Sanic

from gateway.entrypoints.http.middleware import cors, metrics, request_log, scope, tracing
from gateway.settings import Settings


def install_middleware(app: Sanic, settings: Settings) -> None:  # type: ignore[type-arg]
    # First registered response middleware runs last: the scope closes after all the others.
    app.register_middleware(scope.close_on_response, "response")
    cors.install(app, settings.server.cors)
    if settings.tracing.enabled:  # off: not even registered, so tracing costs nothing
        tracing.install(app)
    request_log.install(app, access_log=settings.logging.access_log)
    if settings.metrics.enabled:
        metrics.install(app)
