"""Requests in flight (streams count until their last chunk)."""

from __future__ import annotations

from sanic import Request, Sanic

from gateway.entrypoints.http.middleware.scope import at_end
from gateway.entrypoints.http.observability import HttpMetrics


def install(app: Sanic) -> None:  # type: ignore[type-arg]
    async def count_in_flight(request: Request) -> None:
        metrics: HttpMetrics | None = request.app.ctx.http_metrics
        if metrics is None:
            return
        metrics.request_started()

        def ended(status: int) -> None:
            metrics.request_ended()

        at_end(request, ended)

    app.register_middleware(count_in_flight, "request")
