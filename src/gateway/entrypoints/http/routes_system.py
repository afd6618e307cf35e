"""Liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

import asyncio

import orjson
from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from gateway.entrypoints.http.observability import HttpMetrics
from gateway.entrypoints.http.readiness import Readiness

system = Blueprint("system")

_JSON = "application/json"


@system.get("/health")
async def health(request: Request) -> HTTPResponse:
    return HTTPResponse(b'{"status":"ok"}', content_type=_JSON)


@system.get("/ready")
async def ready(request: Request) -> HTTPResponse:
    readiness: Readiness = request.app.ctx.readiness
    report = await readiness.check()
    status = 200 if report["ready"] else 503
    return HTTPResponse(orjson.dumps(report), status=status, content_type=_JSON)


@system.get("/metrics")
async def metrics(request: Request) -> HTTPResponse:
    source: HttpMetrics | None = request.app.ctx.http_metrics
    if source is None:
        return HTTPResponse(
            b'{"error":"metrics are disabled (metrics.enabled: false)"}',
            status=404,
            content_type=_JSON,
        )
    source.prepare_scrape()  # on the loop: the counts it flushes are the loop's own
    # Reading every worker's metric files is blocking IO: keep it off the event loop.
    body, content_type = await asyncio.to_thread(source.render)
    return HTTPResponse(body, content_type=content_type)
