"""The per-request pipeline every route shares: record, read controls, delay, inject errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
from aiohttp import web

from gateway.devtools.fake_provider.controls import Controls, parse_controls
from gateway.devtools.fake_provider.dialects import Dialect
from gateway.devtools.fake_provider.respond import error_response, truncated_response
from gateway.devtools.fake_provider.state import STATE, FakeState
from gateway.devtools.fake_provider.wire import Json


class FakeError(Exception):
    """Raised by a handler to answer with `status` in its dialect's error envelope."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Call:
    request: web.Request
    state: FakeState
    dialect: Dialect
    controls: Controls
    request_id: str
    json: Json = field(default_factory=dict)


Handler = Callable[[Call], Awaitable[web.StreamResponse]]
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
DialectChoice = Dialect | Callable[[web.Request], Dialect]


def _parse_object(body: bytes) -> Json:
    # Lenient on an empty body (GETs, bodiless POSTs); strict on anything that is not an object.
    if not body:
        return {}
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FakeError(400, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise FakeError(400, "request body must be a JSON object")
    return parsed


def endpoint(dialect: DialectChoice) -> Callable[[Handler], Route]:
    """Wrap a handler so that it receives a ready `Call`, and may raise `FakeError`."""

    def wrap(handler: Handler) -> Route:
        async def route(request: web.Request) -> web.StreamResponse:
            state = request.app[STATE]
            body = await request.read()
            state.record(request, body)
            chosen = dialect if isinstance(dialect, Dialect) else dialect(request)
            controls = parse_controls(request.headers)
            call = Call(request, state, chosen, controls, state.next_request_id())
            if controls.delay_ms:
                await asyncio.sleep(controls.delay_ms / 1000)
            try:
                if controls.status is not None:
                    raise FakeError(controls.status, f"fake {controls.status} from x-fake-status")
                call.json = _parse_object(body)
                response = await handler(call)
            except FakeError as exc:
                return error_response(call, exc.status, exc.message)
            # A stream applied its frame limit itself; a whole body is cut or stalled here.
            if controls.frame_limit is not None and type(response) is web.Response:
                return await truncated_response(call, response)
            return response

        return route

    return wrap
