"""Anthropic Message Batches (protocols.md 1.6), ended as soon as they are created."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from gateway.devtools.fake_provider import claude
from gateway.devtools.fake_provider.batches import Batch, BatchItem
from gateway.devtools.fake_provider.dialects import CLAUDE
from gateway.devtools.fake_provider.endpoint import Call, FakeError, endpoint
from gateway.devtools.fake_provider.respond import json_response, raw_response
from gateway.devtools.fake_provider.wire import JSONL_CONTENT_TYPE, Json, dumps, model_of

_PREFIX = "/v1/messages/batches"


def _own_origin(request: web.Request) -> str:
    """The address this socket was reached on, which is what api.anthropic.com puts in its URLs."""
    transport = request.transport
    sockname = transport.get_extra_info("sockname") if transport is not None else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        host, port = str(sockname[0]), int(sockname[1])
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    return f"{request.scheme}://{request.host}"


def _batch_dict(call: Call, batch: Batch) -> Json:
    # Absolute like the real API's, so a gateway must rewrite it (protocols.md 0.9).
    origin = call.state.public_base_url or _own_origin(call.request)
    return batch.as_json(f"{origin}{_PREFIX}/{batch.id}/results")


def _batch_json(call: Call, batch: Batch) -> bytes:
    return dumps(_batch_dict(call, batch))


def _items(body: Json) -> tuple[BatchItem, ...]:
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise FakeError(400, "requests: field required (a non-empty list)")
    items = []
    for index, entry in enumerate(requests):
        if not isinstance(entry, dict) or not isinstance(entry.get("custom_id"), str):
            raise FakeError(400, f"requests.{index}.custom_id: field required")
        params = entry.get("params")
        if not isinstance(params, dict):
            raise FakeError(400, f"requests.{index}.params: field required")
        items.append(BatchItem(entry["custom_id"], model_of(params, claude.DEFAULT_MODEL)))
    return tuple(items)


def _find(call: Call) -> Batch:
    batch_id = call.request.match_info["batch_id"]
    batch = call.state.batches.get(batch_id)
    if batch is None:
        raise FakeError(404, f"message batch {batch_id!r} not found")
    return batch


def _limit(call: Call) -> int:
    try:
        return min(max(int(call.request.query.get("limit", "20")), 1), 1000)
    except ValueError as exc:
        raise FakeError(400, "limit: must be an integer") from exc


@endpoint(CLAUDE)
async def create(call: Call) -> web.StreamResponse:
    batch = call.state.batches.create(_items(call.json), call.controls.chunks)
    return json_response(call, _batch_json(call, batch))


@endpoint(CLAUDE)
async def list_batches(call: Call) -> web.StreamResponse:
    query = call.request.query
    page = call.state.batches.page(_limit(call), query.get("after_id"), query.get("before_id"))
    batches = page.batches
    listing = {
        "data": [_batch_dict(call, batch) for batch in batches],
        "has_more": page.has_more,
        "first_id": batches[0].id if batches else None,
        "last_id": batches[-1].id if batches else None,
    }
    return json_response(call, dumps(listing))


@endpoint(CLAUDE)
async def retrieve(call: Call) -> web.StreamResponse:
    return json_response(call, _batch_json(call, _find(call)))


@endpoint(CLAUDE)
async def results(call: Call) -> web.StreamResponse:
    batch = _find(call)
    lines = []
    for index, item in enumerate(batch.items):
        message = claude.message(
            item.model,
            batch.chunks,
            message_id=f"msg_fake_{batch.id}_{index}",
            service_tier="batch",
        )
        result = {"type": "succeeded", "message": message}
        lines.append(dumps({"custom_id": item.custom_id, "result": result}) + b"\n")
    return raw_response(call, b"".join(lines), JSONL_CONTENT_TYPE)


@endpoint(CLAUDE)
async def cancel(call: Call) -> web.StreamResponse:
    batch = _find(call)
    # The batch has already ended, so cancelling only records that it was asked for.
    batch.cancel_initiated_at = batch.cancel_initiated_at or datetime.now(UTC)
    return json_response(call, _batch_json(call, batch))


@endpoint(CLAUDE)
async def delete(call: Call) -> web.StreamResponse:
    batch = _find(call)
    call.state.batches.delete(batch.id)
    return json_response(call, dumps({"id": batch.id, "type": "message_batch_deleted"}))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post(_PREFIX, create)
    router.add_get(_PREFIX, list_batches)
    router.add_get(_PREFIX + "/{batch_id}", retrieve)
    router.add_delete(_PREFIX + "/{batch_id}", delete)
    router.add_get(_PREFIX + "/{batch_id}/results", results)
    router.add_post(_PREFIX + "/{batch_id}/cancel", cancel)
