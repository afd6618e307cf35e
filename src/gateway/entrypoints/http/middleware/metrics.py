"""Requests in flight (streams count until their last chunk)."""

from __future__ import annotations

from sanic import Request

from gateway.entrypoints.http.middleware.scope import at_end
from gateway.entrypoints.http.observability import HttpMetrics


def count_in_flight(request: Request) -> None:
    """A request hook (installed only when metrics are on)."""
    metrics: HttpMetrics | None = request.app.ctx.http_metrics
    if metrics is None:
        return
    metrics.request_started()

    def ended(request: Request, status: int) -> None:
        metrics.request_ended()

    at_end(request, ended)
