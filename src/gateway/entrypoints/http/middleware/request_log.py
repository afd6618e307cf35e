"""The request id: made here, bound to every log line while the request runs, returned in the
`x-gateway-request-id` header. Relayed requests get their access line from their request-log
event (it knows the tokens); every other request gets one here."""

from __future__ import annotations

import time
from random import getrandbits as _random_bits
from typing import Any

import structlog
from sanic import Request
from sanic.response import BaseHTTPResponse

from gateway.entrypoints.http.middleware.scope import at_end

REQUEST_ID_HEADER = "x-gateway-request-id"
_QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})  # probes and scrapes: debug level


def new_request_id() -> str:
    """32 hex digits, time-ordered like a UUIDv7: microseconds since the epoch, then 76 random
    bits. Ordered ids make the ledger's and JetStream's inserts appends rather than random
    B-tree writes, and sort logs by time. Not a secret, only unique: the process's Mersenne
    Twister (seeded from os.urandom at start) spares a getrandom() system call per request."""
    return f"{time.time_ns() // 1000:013x}{_random_bits(76):019x}"


class RequestIds:
    """Request and response hooks: the id made, bound to the log context, and returned."""

    def __init__(self, *, access_log: bool) -> None:
        self._bind = structlog.contextvars.bind_contextvars
        self._logger: Any = structlog.get_logger("gateway.access") if access_log else None

    def on_request(self, request: Request) -> None:
        # Sanic serves a keep-alive connection's requests in one task, so the last request's
        # id is still bound: binding the new one overwrites it. (clear_contextvars() would walk
        # the whole context on every request; request_id is the only key bound per request.)
        request_id = request.ctx.request_id = new_request_id()
        self._bind(request_id=request_id)
        if self._logger is not None:
            _log_at_end(request, self._logger)

    def on_response(self, request: Request, response: BaseHTTPResponse) -> None:
        request_id: str | None = getattr(request.ctx, "request_id", None)
        if request_id is not None and REQUEST_ID_HEADER not in response.headers:
            response.headers[REQUEST_ID_HEADER] = request_id


def _log_at_end(request: Request, logger: Any) -> None:
    started = time.perf_counter()

    def end(request: Request, status: int) -> None:
        if getattr(request.ctx, "relayed", False):
            return  # the request-log event's access line covers it
        path = request.path
        emit = logger.debug if path in _QUIET_PATHS else logger.info
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        emit("access", method=request.method, path=path, status=status, latency_ms=latency_ms)

    at_end(request, end)
