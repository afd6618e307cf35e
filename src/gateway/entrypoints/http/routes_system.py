"""Liveness and readiness."""

from __future__ import annotations

import orjson
from sanic import Blueprint, Request
from sanic.response import HTTPResponse

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
