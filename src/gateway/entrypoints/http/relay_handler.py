"""The one controller every relayed route goes through: parse, execute, render."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from sanic import Request
from sanic.compat import Header
from sanic.response import BaseHTTPResponse, HTTPResponse

from gateway.application.exchange import RelayExchange
from gateway.application.relay import RelayService
from gateway.application.relay_command import RelayCommand
from gateway.application.request_trace import CLIENT_CLOSED_STATUS
from gateway.domain.errors import GatewayError, ResponseTimeout, UpstreamError
from gateway.domain.provider import RESULTS_URL_OPERATIONS
from gateway.domain.routes import Route
from gateway.entrypoints.http.middleware.request_log import REQUEST_ID_HEADER, new_request_id
from gateway.entrypoints.http.middleware.scope import defer_end, end_request
from gateway.entrypoints.http.observability import HttpMetrics
from gateway.entrypoints.http.protocol import GatewayHttp, GatewayHttpProtocol
from gateway.entrypoints.http.relayed_response import RelayedResponse
from gateway.entrypoints.http.request_body import decode_body

OVERHEAD_HEADER = "x-gateway-overhead-ms"
# A reverse proxy in front (nginx by default) holds a response back in its buffers until they
# fill: a stream's deltas would reach the client in bursts. This asks it to pass them through.
NO_PROXY_BUFFERING = ("x-accel-buffering", "no")


def _public_origin(request: Request) -> str:
    configured: str | None = request.app.ctx.public_url
    if configured:
        return configured
    scheme = request.headers.get("x-forwarded-proto") or request.scheme
    return f"{scheme}://{request.host}"


def command_for(request: Request, route: Route, route_name: str, body: bytes) -> RelayCommand:
    """The use-case's command for `request`, with its body as decoded (or b"" when refused)."""
    app_ctx = request.app.ctx
    return RelayCommand(
        route=route,
        route_name=route_name,
        method=request.method,
        query=request.query_string,
        headers=request.headers,
        body=body,
        bytes_in=_bytes_in(request),
        # The logging middleware's id, so log lines, the header and the event agree.
        request_id=getattr(request.ctx, "request_id", None) or new_request_id(),
        client_ip=(request.remote_addr or request.ip) if app_ctx.trusts_proxies else request.ip,
        # Only Claude batch answers need it (results_url): not worth computing on every request.
        public_origin=(
            _public_origin(request) if route.operation in RESULTS_URL_OPERATIONS else None
        ),
    )


def waited_since_arrival(request: Request) -> float:
    """Seconds since Sanic had the request's headers: a refused request's latency (the use-case
    times the others from when it takes them)."""
    arrived: float | None = getattr(request.stream, "perft0", None)
    return max(time.perf_counter() - arrived, 0.0) if arrived else 0.0


def _bytes_in(request: Request) -> int:
    """The body's size as sent: what was read, or what was announced when it was refused
    before it was read (over the size limit)."""
    if request.body:
        return len(request.body)
    announced = request.headers.get("content-length", "")
    return int(announced) if announced.isdigit() else 0


async def relay(request: Request, route: Route, route_name: str) -> None:
    try:
        await _relay(request, route, route_name)
    except asyncio.CancelledError:
        # The client left before a response: no response middleware will run.
        end_request(request, CLIENT_CLOSED_STATUS)
        raise


async def _relay(request: Request, route: Route, route_name: str) -> None:
    service: RelayService = request.app.ctx.relay
    request.ctx.relayed = True  # from here on, the request ends in a request-log event
    try:
        body = decode_body(
            request.body, request.headers.get("content-encoding"), request.app.ctx.max_body
        )
    except GatewayError as exc:  # undecodable, or over the size limit once decoded
        service.refuse(
            command_for(request, route, route_name, b""), exc, waited_since_arrival(request)
        )
        raise
    command = command_for(request, route, route_name, body)
    exchange = await service.open(command)
    headers = Header(exchange.headers)
    headers[REQUEST_ID_HEADER] = command.request_id
    if exchange.streaming:
        headers.setdefault(*NO_PROXY_BUFFERING)  # an upstream's own value stands
        sending = _send_stream(request, exchange, headers, route.provider.value)
        await _deliver(request, exchange, _within_write_timeout(request, exchange, sending))
        return
    try:
        body = await exchange.read_body()
    except BaseException as exc:
        exchange.finish(exc)
        raise
    headers[OVERHEAD_HEADER] = _overhead_ms(exchange)
    response = RelayedResponse(body, status=exchange.status, headers=headers)
    await _deliver(request, exchange, _send_whole(request, response))


async def _deliver(request: Request, exchange: RelayExchange, sending: Awaitable[None]) -> None:
    """Sends the answer, then concludes the request: the exchange first (its event, usage
    record, access line, span attributes), then the request's scope. Returned from the handler,
    a buffered answer would be written only after the response middleware, with the request's
    end done before the client had a byte; here that work comes after the write (uvloop writes
    at once), as it comes after a stream's last chunk."""
    defer_end(request)
    try:
        try:
            await sending
        except BaseException as exc:
            exchange.finish(exc)
            raise
        exchange.finish()  # a no-op when sending has concluded it already
    finally:
        end_request(request, exchange.client_status())


async def _within_write_timeout(
    request: Request, exchange: RelayExchange, sending: Awaitable[None]
) -> None:
    """server.http.write_timeout bounds a stream from its first byte to its last (the wait for
    the upstream's answer is upstreams.read_timeout's): a stream still running when the time is
    up is cut, and concluded as a timeout with what it had used. A buffered answer is written
    at once; Sanic's response timeout (silence, at least the write timeout) ends the write to
    a client that stops reading. (asyncio.timeout costs ~5 us: negligible per stream, not per
    small request.)"""
    write_timeout: float = request.app.ctx.write_timeout
    deadline = asyncio.timeout(write_timeout)
    try:
        async with deadline:
            await sending
    except TimeoutError:
        if not deadline.expired():
            raise
        limit = f"server.http.write_timeout ({write_timeout:g} s)"
        timeout = ResponseTimeout(f"the response took longer than {limit}")
        exchange.finish(timeout)
        if exchange.answer_withheld:
            raise timeout from None  # nothing sent yet: answered in the provider's envelope
        _cut(request)


def _cut(request: Request) -> None:
    """Headers are gone already: cut the connection so the client sees a truncated body rather
    than a clean end it would take for a complete answer."""
    transport = request.transport
    if transport is not None:
        transport.abort()  # type: ignore[attr-defined]


async def _send_whole(request: Request, response: HTTPResponse) -> None:
    sent = await request.respond(response)  # runs the response middleware
    await sent.send(end_stream=True)


def _overhead_ms(exchange: RelayExchange) -> str:
    """The x-gateway-overhead-ms value. Streams cannot carry it: their headers leave before the
    time is known (the overhead histogram covers them)."""
    return f"{exchange.own_seconds() * 1000:.3f}"


async def _send_stream(
    request: Request, exchange: RelayExchange, headers: Header, provider: str
) -> None:
    """Chunks go to the client as they arrive. A client that leaves cancels this task: the
    upstream response is dropped at once (which stops the upstream generating)."""
    try:
        metrics: HttpMetrics | None = request.app.ctx.http_metrics
        if metrics is None:
            await _relay_chunks(request, exchange, headers)
        else:
            await _send_measured(request, exchange, headers, metrics, provider)
    except Exception as exc:
        exchange.finish(exc)
        if exchange.answer_withheld:
            raise  # nothing sent yet: the error handler answers in the provider's envelope
        # Mid-stream: cut, or Sanic would end the body cleanly and the client would take a
        # truncated answer for a whole one. A fault of the gateway's own is raised on to be
        # logged.
        _cut(request)
        if not isinstance(exc, UpstreamError):
            raise


async def _relay_chunks(request: Request, exchange: RelayExchange, headers: Header) -> None:
    """The head waits for the first chunk, so that an upstream that fails before it is answered
    with the gateway's error. The first chunk goes through Sanic, which writes the head with it
    and chooses the framing. Where the protocol can then write chunks itself, the rest is
    pushed from the upstream client's callbacks straight to the client's transport; a chunk the
    paused transport cannot take goes Sanic's way, which waits for it."""
    first = await exchange.first_chunk()
    response = await request.respond(RelayedResponse(status=exchange.status, headers=headers))
    if first is not None:  # else an empty body
        await _relay_rest(request, response, exchange, first)
    await response.eof()


async def _relay_rest(
    request: Request, response: BaseHTTPResponse, exchange: RelayExchange, first: bytes
) -> None:
    await response.send(first)
    write = _chunk_writer(request)
    if write is _not_written:
        async for chunk in exchange:
            await response.send(chunk)
        return
    while (refused := await exchange.push(write)) is not None:
        await response.send(refused)


ChunkWriter = Callable[[bytes], bool]
"""Writes a chunk at once and returns True, or returns False: then send it through Sanic."""


def _not_written(chunk: bytes) -> bool:
    return False


def _chunk_writer(request: Request) -> ChunkWriter:
    """Once Sanic has sent a stream's headers (with its first chunk) and chosen its framing: the
    protocol's direct write when the body is chunked on the gateway's protocol, or ended by the
    connection's close (an HTTP/1.0 client), else Sanic's way for every chunk."""
    http = request.stream
    protocol = getattr(http, "protocol", None)
    # The gateway's protocol makes GatewayHttp connections (its HTTP_CLASS).
    if not isinstance(protocol, GatewayHttpProtocol) or not isinstance(http, GatewayHttp):
        return _not_written  # e.g. Sanic's HTTP/3 protocol
    # Sanic frames a body of unknown length in chunks (a relayed stream's: its content-length
    # is not forwarded); a HEAD's body is not sent at all.
    if http.response_func == http.http1_response_chunked:
        return protocol.write_chunk
    if http.sends_close_delimited_body():
        return protocol.write_unframed
    return _not_written


async def _send_measured(
    request: Request,
    exchange: RelayExchange,
    headers: Header,
    metrics: HttpMetrics,
    provider: str,
) -> None:
    """Relays while timing the silence before each chunk (not the time spent sending it)."""
    observe = metrics.stream_gap_observer(provider)
    threshold = metrics.stall_threshold
    stalled = False

    def on_gap(gap: float) -> None:
        nonlocal stalled
        observe(gap)
        if gap > threshold and not stalled:
            stalled = True
            metrics.stream_stalled(provider)

    exchange.watch_gaps(on_gap)
    try:
        await _relay_chunks(request, exchange, headers)
    finally:
        # A stream that ends in silence (an upstream timeout, a client gone) may have stalled too.
        if not stalled and exchange.silent_for() > threshold:
            metrics.stream_stalled(provider)
