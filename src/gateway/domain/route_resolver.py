"""Which relayed route a (method, path) pair is, without an HTTP server: for batch jobs and tools.

It accepts exactly what entrypoints/http/routes_*.py accept:
- paths match case-sensitively, byte for byte, with no percent-decoding (an encoded `:` or `/` is
  no route), and one trailing `/` is ignored (Sanic's non-strict slashes);
- `GET /v1/models[/{model}]` is shared by three SDKs; without request headers to tell them apart
  it is OpenAI's, as the server decides for a request with neither `anthropic-version` nor a
  Gemini key;
- `GET /responses` and `GET /v1/responses` (the Codex WebSocket probe) and the system routes
  are answered by the gateway itself, so they are not relayed routes.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.domain.errors import RouteNotFound
from gateway.domain.provider import Operation, Provider
from gateway.domain.routes import (
    STATIC_ROUTES,
    Route,
    claude_batch_route,
    gemini_get_model_route,
    gemini_model_route,
    model_info_route,
)

_BATCHES = "/v1/messages/batches/"
_BATCH_NAME = "/v1/messages/batches/{id}"

# Claude batch routes: (method, suffix after the id) -> (operation, route name).
_BATCH_ROUTES: dict[tuple[str, str], tuple[Operation, str]] = {
    ("GET", ""): (Operation.BATCH_GET, _BATCH_NAME),
    ("DELETE", ""): (Operation.BATCH_DELETE, _BATCH_NAME),
    ("GET", "/results"): (Operation.BATCH_RESULTS, _BATCH_NAME + "/results"),
    ("POST", "/cancel"): (Operation.BATCH_CANCEL, _BATCH_NAME + "/cancel"),
}


def _claude_batch(method: str, rest: str) -> tuple[Route, str] | None:
    batch_id, slash, suffix = rest.partition("/")
    entry = _BATCH_ROUTES.get((method, slash + suffix))
    if entry is None or not batch_id:
        return None
    operation, name = entry
    return claude_batch_route(operation, batch_id), name


def _gemini_action(method: str, rest: str, version: str) -> tuple[Route, str] | None:
    if method != "POST" or not rest or "/" in rest:
        return None
    return gemini_model_route(rest, version), f"/{version}/models/{{model}}:{{action}}"


def _v1beta_model(method: str, rest: str) -> tuple[Route, str] | None:
    if method == "GET" and rest and "/" not in rest:
        return gemini_get_model_route(rest), "/v1beta/models/{model}"
    return _gemini_action(method, rest, "v1beta")


def _v1_model(method: str, rest: str) -> tuple[Route, str] | None:
    if method == "GET" and rest and "/" not in rest:
        return model_info_route(Provider.OPENAI, rest), "/v1/models/{model}"
    return _gemini_action(method, rest, "v1")


_PREFIXED: tuple[tuple[str, Callable[[str, str], tuple[Route, str] | None]], ...] = (
    (_BATCHES, _claude_batch),
    ("/v1beta/models/", _v1beta_model),
    ("/v1/models/", _v1_model),
)


def resolve_route(method: str, path: str) -> tuple[Route, str]:
    """The route for `method` and `path` (no query string) and its route-template name.

    Raises RouteNotFound for anything the gateway does not relay, and for unsafe segments.
    """
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    route = STATIC_ROUTES.get((method, path))
    if route is not None:
        return route, path
    for prefix, resolve in _PREFIXED:
        if path.startswith(prefix):
            found = resolve(method, path[len(prefix) :])
            if found is not None:
                return found
            break
    raise RouteNotFound(f"no relayed route for {method} {path[:200]}")
