"""Every error the gateway answers itself, in the calling provider's envelope, mapped here."""

from __future__ import annotations

import logging

from sanic import Request, Sanic
from sanic.exceptions import SanicException
from sanic.response import HTTPResponse

from gateway.application.relay import RelayService
from gateway.domain.error_envelopes import INTERNAL_ERROR_MESSAGE, error_body
from gateway.domain.errors import (
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    RequestTimeout,
    RouteNotFound,
)
from gateway.domain.provider import Provider
from gateway.domain.route_resolver import resolve_route
from gateway.domain.routes import provider_for_path
from gateway.entrypoints.http.relay_handler import command_for, waited_since_arrival

logger = logging.getLogger("gateway.errors")

_JSON = "application/json"


def _provider(request: Request) -> Provider:
    headers = request.headers
    gemini_key = "x-goog-api-key" in headers or "key=" in request.query_string
    return provider_for_path(request.path, gemini_key, "anthropic-version" in headers)


# The header each SDK reads its errors' `request_id` from (google-genai reads none). On an error
# the gateway answers itself it carries the gateway's request id, the one its logs and events
# hold; relayed answers keep the upstream's own.
_SDK_REQUEST_ID_HEADER = {Provider.CLAUDE: "request-id", Provider.OPENAI: "x-request-id"}


def _render(request: Request, status: int, message: str) -> HTTPResponse:
    provider = _provider(request)
    response = HTTPResponse(
        error_body(provider, status, message), status=status, content_type=_JSON
    )
    request_id: str | None = getattr(request.ctx, "request_id", None)
    header = _SDK_REQUEST_ID_HEADER.get(provider)
    if request_id is not None and header is not None:
        response.headers[header] = request_id
    return response


async def on_gateway_error(request: Request, exc: Exception) -> HTTPResponse:
    assert isinstance(exc, GatewayError)
    response = _render(request, exc.status, exc.message)
    if exc.status == 426:
        response.headers["upgrade"] = "websocket"
    return response


_SANIC_MESSAGES = {
    404: "no such route",
    405: "method not allowed on this route",
    408: "the request was not received in time",
    413: "request body is too large",
    431: "request header fields are too large",
    503: "the response was not produced in time",
}


# Sanic's refusals while it reads a relayed route's body, before the handler runs, as ours.
_BODY_ERRORS: dict[int, type[GatewayError]] = {
    400: InvalidRequest,  # malformed chunked framing
    408: RequestTimeout,
    413: PayloadTooLarge,
}


async def on_sanic_error(request: Request, exc: Exception) -> HTTPResponse:
    assert isinstance(exc, SanicException)
    status = exc.status_code
    if status == 413 and "header" in str(exc).lower():
        status = 431  # Sanic says 413 for a head over its limit too (RFC 6585 5: 431)
    # Sanic's own texts can echo the path; ours are fixed.
    message = _SANIC_MESSAGES.get(status, "request refused")
    _conclude_refused_body(request, status, message)
    return _render(request, status, message)


def _conclude_refused_body(request: Request, status: int, message: str) -> None:
    """A relayed route's request that Sanic refused while reading its body (over
    server.http.max_body_size, too slow, malformed) ends in its request-log event too, as one
    the gateway refused itself does: the operator sees every refusal, not only their access
    lines."""
    error = _BODY_ERRORS.get(status)
    if error is not None:
        _conclude_unread(request, error(message))


def conclude_abandoned_body(request: Request) -> None:
    """A relayed route's request whose client left while its body was being read. Sanic
    cancels it before any handler, error handler or middleware runs; it ends in its
    request-log event (client_cancelled, 499) as a client that leaves later does. The
    protocol calls this (GatewayHttpProtocol.connection_lost)."""
    _conclude_unread(request, None)


def _conclude_unread(request: Request, error: GatewayError | None) -> None:
    """Conclude a relayed route's request whose body was not read whole: refused with `error`,
    or abandoned by its client (None)."""
    service: RelayService | None = getattr(request.app.ctx, "relay", None)
    if service is None or request.route is None:
        return
    if getattr(request.ctx, "relayed", False):
        return  # the handler ran: it concluded the request
    try:
        route, route_name = resolve_route(request.method, request.path)
    except RouteNotFound:
        return  # a system route
    request.ctx.relayed = True  # the event's access line is the request's
    command = command_for(request, route, route_name, b"")
    if error is None:
        service.abandon(command, waited_since_arrival(request))
    else:
        service.refuse(command, error, waited_since_arrival(request))


async def on_unexpected(request: Request, exc: Exception) -> HTTPResponse:
    # The traceback goes to the log; the client gets a fixed text (str(exc) could hold anything).
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return _render(request, 500, INTERNAL_ERROR_MESSAGE)


def register_error_handlers(app: Sanic) -> None:  # type: ignore[type-arg]
    app.error_handler.add(GatewayError, on_gateway_error)
    app.error_handler.add(SanicException, on_sanic_error)
    app.error_handler.add(Exception, on_unexpected)
