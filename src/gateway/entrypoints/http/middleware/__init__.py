"""The gateway's HTTP middleware, in the seed's order: CORS -> Tracing -> Logger -> Metrics.

Sanic awaits each registered middleware between two signal dispatches, so the enabled hooks run
from one request middleware and one response middleware (instead of up to seven middlewares).
Both are plain functions, as every hook is: Sanic awaits only what is awaitable, so no coroutine
is made and awaited twice per request for nothing.
Request hooks run in order and the first answer wins (a CORS preflight); response hooks run in
reverse, so CORS headers are added last, to every response (errors included), and the request's
scope closes after all of them, unless the relay handler closes it after its answer is out.
Per-request work that must wait for the end of the request is registered on the request's
scope (see scope.py).
"""

from __future__ import annotations

from collections.abc import Callable

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse, HTTPResponse

from gateway.entrypoints.http.middleware import cors, metrics, request_log, scope, tracing
from gateway.settings import Settings

RequestHook = Callable[[Request], HTTPResponse | None]
ResponseHook = Callable[[Request, BaseHTTPResponse], None]


def install_middleware(app: Sanic, settings: Settings) -> None:  # type: ignore[type-arg]
    preflight = cors.Cors(settings.server.cors)
    ids = request_log.RequestIds(access_log=settings.logging.access_log)
    on_request: list[RequestHook] = [preflight.preflight]
    if settings.tracing.enabled:  # off: not even installed, so tracing costs nothing
        on_request.append(tracing.trace_request)
    on_request.append(ids.on_request)
    if settings.metrics.enabled:
        on_request.append(metrics.count_in_flight)
    # Reverse order of the request hooks; the scope closes last.
    response_hooks: tuple[ResponseHook, ...] = (
        ids.on_response,
        preflight.decorate,
        scope.close_on_response,
    )
    request_hooks = tuple(on_request)

    def gateway_request(request: Request) -> HTTPResponse | None:
        for hook in request_hooks:
            answer = hook(request)
            if answer is not None:
                return answer
        return None

    def gateway_response(request: Request, response: BaseHTTPResponse) -> None:
        for hook in response_hooks:
            hook(request, response)

    app.register_middleware(gateway_request, "request")
    app.register_middleware(gateway_response, "response")
