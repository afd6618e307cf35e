"""The end of a request, wherever it happens.

A response the gateway answers itself (health, metrics, an error) ends in the response
middleware. A relayed response ends after it was written: a buffered one right after its one
write, a stream when its last chunk is sent (the response middleware ran before the first
byte of either), and a request whose client leaves ends with its cancelled handler.
Middleware registers `at_end` callbacks; the relay handler calls `defer_end` before it responds
and `end_request` once the answer is out or the task ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sanic import Request
from sanic.response import BaseHTTPResponse

log = logging.getLogger("gateway.http")

# Receives the request and its final status. A callback must not capture the request itself:
# the request holds its scope, so a closure over it is a reference cycle, and every request's
# objects would then wait for the garbage collector instead of going when the request ends.
EndCallback = Callable[[Request, int], None]


class RequestScope:
    __slots__ = ("callbacks", "closed", "deferred")

    def __init__(self) -> None:
        self.callbacks: list[EndCallback] = []
        self.deferred = False
        self.closed = False

    def close(self, request: Request, status: int) -> None:
        if self.closed:
            return
        self.closed = True
        callbacks, self.callbacks = self.callbacks, []
        # Reverse registration order, like response middleware: tracing (registered first)
        # ends its span last. Dropped once run: whatever they hold (a span, a context token
        # that references the request's context) no longer hangs off the request.
        for callback in reversed(callbacks):
            try:
                callback(request, status)
            except Exception:  # one observer's bug must not skip the others
                log.exception("request end callback failed")


def scope_of(request: Request) -> RequestScope:
    ctx = request.ctx
    scope: RequestScope | None = getattr(ctx, "scope", None)
    if scope is None:
        scope = ctx.scope = RequestScope()
    return scope


def at_end(request: Request, callback: EndCallback) -> None:
    scope_of(request).callbacks.append(callback)


def defer_end(request: Request) -> None:
    """The response is a stream: its end is signalled by `end_request`."""
    scope_of(request).deferred = True


def end_request(request: Request, status: int) -> None:
    scope: RequestScope | None = getattr(request.ctx, "scope", None)
    if scope is not None:
        scope.close(request, status)


def close_on_response(request: Request, response: BaseHTTPResponse) -> None:
    scope: RequestScope | None = getattr(request.ctx, "scope", None)
    if scope is not None and not scope.deferred:
        scope.close(request, response.status)
