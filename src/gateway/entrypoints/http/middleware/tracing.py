"""A SERVER span per request, continuing the caller's W3C trace context.

The span is made current for the request's task, so the upstream adapter's CLIENT span becomes
its child and the request-log event can add the GenAI attributes. It ends when the request ends
(after the last chunk of a stream). Only the method, route template and path are recorded:
never a header or the query string, which may carry a key.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, StatusCode, Tracer
from sanic import Request

from gateway.entrypoints.http.middleware.scope import at_end

log = logging.getLogger("gateway.http")

_PARAMETER = re.compile(r"<(\w+)(?::[^>]*)?>")
# Sanic's path parameters as the request-log event's route templates spell them.
_AS_EVENT_TEMPLATE = {"batch_id": "{id}", "model_action": "{model}:{action}"}


@lru_cache(maxsize=256)
def route_template(sanic_path: str) -> str:
    """ "v1beta/models/<model_action:str>" -> "/v1beta/models/{model}:{action}": the span's
    name and `http.route` read as the event's `route`."""
    return "/" + _PARAMETER.sub(
        lambda match: _AS_EVENT_TEMPLATE.get(match[1], "{" + match[1] + "}"), sanic_path
    )


def _start(tracer: Tracer, request: Request) -> None:
    parent = propagate.extract(request.headers)
    route = request.route
    template = None if route is None else route_template(route.path)
    name = request.method if template is None else f"{request.method} {template}"
    span = tracer.start_span(name, context=parent, kind=SpanKind.SERVER)
    # Most requests are not sampled: their attributes would only be built to be dropped.
    recording = span.is_recording()
    if recording:
        span.set_attributes(_attributes(request, template))
    token = context.attach(trace.set_span_in_context(span, parent))

    def end(request: Request, status: int) -> None:
        if recording:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(StatusCode.ERROR)
        span.end()
        context.detach(token)

    at_end(request, end)


def _attributes(request: Request, template: str | None) -> dict[str, str]:
    attributes = {
        "http.request.method": request.method,
        "url.path": request.app.ctx.scrub(request.path),  # a client may put anything in it
        "url.scheme": request.scheme,
    }
    if template is not None:
        attributes["http.route"] = template
    return attributes


def trace_request(request: Request) -> None:
    """A request hook (installed only when tracing is on)."""
    tracer: Tracer | None = request.app.ctx.tracer
    if tracer is not None:
        _start(tracer, request)
