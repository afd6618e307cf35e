"""The one controller every relayed route goes through: parse, execute, render."""

from __future__ import annotations

import uuid

from sanic import Request
from sanic.compat import Header
from sanic.response import HTTPResponse

from gateway.application.exchange import RelayExchange
from gateway.application.relay import RelayService
from gateway.application.relay_command import RelayCommand
from gateway.domain.errors import UpstreamError
from gateway.domain.routes import Route
from gateway.entrypoints.http.request_body import decode_body

REQUEST_ID_HEADER = "x-gateway-request-id"


def _public_origin(request: Request) -> str:
    configured: str | None = request.app.ctx.public_url
    if configured:
        return configured
    scheme = request.headers.get("x-forwarded-proto") or request.scheme
    return f"{scheme}://{request.host}"


def _command(request: Request, route: Route, route_name: str) -> RelayCommand:
    raw = request.body
    body = decode_body(raw, request.headers.get("content-encoding"), request.app.ctx.max_body)
    return RelayCommand(
        route=route,
        route_name=route_name,
        method=request.method,
        query=request.query_string,
        headers=request.headers,
        body=body,
        bytes_in=len(raw),
        request_id=uuid.uuid4().hex,
        client_ip=request.remote_addr or request.ip,
        public_origin=_public_origin(request),
    )


async def relay(request: Request, route: Route, route_name: str) -> HTTPResponse | None:
    service: RelayService = request.app.ctx.relay
    command = _command(request, route, route_name)
    exchange = await service.open(command)
    headers = Header(exchange.headers)
    headers[REQUEST_ID_HEADER] = command.request_id
    if exchange.streaming:
        await _stream(request, exchange, headers)
        return None
    try:
        body = await exchange.read_body()
    except BaseException as exc:
        exchange.finish(exc)
        raise
    exchange.finish()
    return HTTPResponse(body, status=exchange.status, headers=headers)


async def _stream(request: Request, exchange: RelayExchange, headers: Header) -> None:
    """Chunks go to the client as they arrive. A client that leaves cancels this task: the
    upstream response is dropped at once (which stops the upstream generating)."""
    try:
        response = await request.respond(status=exchange.status, headers=headers)
        async for chunk in exchange:
            await response.send(chunk)
        await response.eof()
    except UpstreamError as exc:
        exchange.finish(exc)
        # Headers are gone already: cut the connection so the client sees a truncated body
        # rather than a clean end it would take for a complete answer.
        transport = request.transport
        if transport is not None:
            transport.abort()  # type: ignore[attr-defined]
        return
    except BaseException as exc:
        exchange.finish(exc)
        raise
    exchange.finish()
