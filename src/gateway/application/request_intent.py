"""What the gateway needs to know of a request body: its model and whether it streams.

The body is parsed at most once, and only for operations whose body is JSON. The original bytes
are forwarded unless the relay must add a field (OpenAI's stream_options.include_usage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.domain.errors import InvalidRequest
from gateway.domain.provider import JSON_BODY_OPERATIONS, Operation, Provider
from gateway.domain.routes import Route

_STREAMABLE = frozenset(
    {Operation.MESSAGES, Operation.CHAT_COMPLETIONS, Operation.COMPLETIONS, Operation.RESPONSES}
)


@dataclass(slots=True)  # built per request: not frozen, cheaper (treat as immutable)
class RequestIntent:
    model: str | None
    stream: bool
    # The parsed body, kept for operations the relay may need to amend (OpenAI streams).
    document: dict[str, Any] | None = None


def read_intent(route: Route, body: bytes, query: str) -> RequestIntent:
    operation = route.operation
    if operation is Operation.STREAM_GENERATE_CONTENT:
        _parse_object(body)  # malformed JSON is refused here rather than by the provider
        return RequestIntent(route.path_model, True)
    if operation not in JSON_BODY_OPERATIONS:
        return RequestIntent(route.path_model, False)
    document = _parse_object(body)
    if route.provider is Provider.GEMINI:
        return RequestIntent(route.path_model, False)
    model = document.get("model")
    stream = operation in _STREAMABLE and document.get("stream") is True
    keep = document if stream and route.provider is Provider.OPENAI else None
    return RequestIntent(model if isinstance(model, str) else None, stream, keep)


def _parse_object(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc.msg}") from None
    if not isinstance(document, dict):
        raise InvalidRequest("request body must be a JSON object")
    return document


def with_include_usage(body: bytes, document: dict[str, Any]) -> bytes | None:
    """The body with stream_options.include_usage=true, or None when the client asked already."""
    options = document.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return None
    if options is None and "stream_options" not in document:
        # Cheapest exact edit: insert the member right after the opening brace.
        start = body.index(b"{") + 1
        rest = body[start:].lstrip()
        sep = b"" if rest.startswith(b"}") else b","
        return body[:start] + b'"stream_options":{"include_usage":true}' + sep + body[start:]
    amended = dict(document)
    amended["stream_options"] = {
        **(options if isinstance(options, dict) else {}),
        "include_usage": True,
    }
    return orjson.dumps(amended)
