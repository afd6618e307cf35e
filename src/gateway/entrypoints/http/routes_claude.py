"""Claude Messages API routes (Claude Code appends ?beta=true: routes match on the path only)."""

from __future__ import annotations

from sanic import Blueprint, Request

from gateway.domain.provider import Operation
from gateway.domain.routes import STATIC_ROUTES, claude_batch_route
from gateway.entrypoints.http.relay_handler import relay

claude = Blueprint("claude")

_MESSAGES = STATIC_ROUTES[("POST", "/v1/messages")]
_COUNT = STATIC_ROUTES[("POST", "/v1/messages/count_tokens")]
_CREATE = STATIC_ROUTES[("POST", "/v1/messages/batches")]
_LIST = STATIC_ROUTES[("GET", "/v1/messages/batches")]
_BATCH = "/v1/messages/batches/{id}"


@claude.post("/v1/messages")
async def messages(request: Request) -> None:
    await relay(request, _MESSAGES, "/v1/messages")


@claude.post("/v1/messages/count_tokens")
async def count_tokens(request: Request) -> None:
    await relay(request, _COUNT, "/v1/messages/count_tokens")


@claude.post("/v1/messages/batches")
async def create_batch(request: Request) -> None:
    await relay(request, _CREATE, "/v1/messages/batches")


@claude.get("/v1/messages/batches")
async def list_batches(request: Request) -> None:
    await relay(request, _LIST, "/v1/messages/batches")


@claude.get("/v1/messages/batches/<batch_id:str>")
async def get_batch(request: Request, batch_id: str) -> None:
    await relay(request, claude_batch_route(Operation.BATCH_GET, batch_id), _BATCH)


@claude.delete("/v1/messages/batches/<batch_id:str>")
async def delete_batch(request: Request, batch_id: str) -> None:
    await relay(request, claude_batch_route(Operation.BATCH_DELETE, batch_id), _BATCH)


@claude.get("/v1/messages/batches/<batch_id:str>/results")
async def batch_results(request: Request, batch_id: str) -> None:
    route = claude_batch_route(Operation.BATCH_RESULTS, batch_id)
    await relay(request, route, _BATCH + "/results")


@claude.post("/v1/messages/batches/<batch_id:str>/cancel")
async def cancel_batch(request: Request, batch_id: str) -> None:
    route = claude_batch_route(Operation.BATCH_CANCEL, batch_id)
    await relay(request, route, _BATCH + "/cancel")
