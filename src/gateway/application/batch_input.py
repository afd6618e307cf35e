"""Reading OpenAI Batch input lines (`custom_id`, `method`, `url`, `body`) into relay requests.

A bad line never stops a batch: it becomes an InputProblem with its 1-based line number. Streaming
is refused rather than silently turned off, so the body forwarded is always the caller's own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from gateway.domain.errors import RouteNotFound
from gateway.domain.provider import Operation
from gateway.domain.route_resolver import resolve_route
from gateway.domain.routes import Route

_METHODS = frozenset({"GET", "POST", "DELETE"})
MAX_CUSTOM_ID = 512
MAX_BODY = 32 << 20  # server.http.max_body_size's default


@dataclass(frozen=True, slots=True)
class BatchRequest:
    line: int  # 1-based line number in the input
    custom_id: str
    method: str
    route: Route
    route_name: str
    query: str  # raw query string from the line's url, without '?'
    body: bytes


@dataclass(frozen=True, slots=True)
class InputProblem:
    line: int
    message: str
    custom_id: str | None = None


class BadLine(Exception):
    def __init__(self, message: str, custom_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.custom_id = custom_id


@dataclass(slots=True)
class BatchPlan:
    """The requests still to run, and why the other lines are not run."""

    requests: list[BatchRequest] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    already_done: int = 0  # lines whose custom_id has a result already (resume)


def _custom_id(document: dict[str, Any]) -> str:
    custom_id = document.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        raise BadLine("custom_id must be a non-empty string")
    if len(custom_id) > MAX_CUSTOM_ID:
        raise BadLine(f"custom_id is longer than {MAX_CUSTOM_ID} characters")
    return custom_id


def _route(method: str, url: object) -> tuple[Route, str, str]:
    if not isinstance(url, str) or not url.startswith("/"):
        raise BadLine("url must be a path starting with '/' (e.g. /v1/chat/completions)")
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or parts.fragment:
        raise BadLine("url must be a path on the gateway, without host or fragment")
    try:
        route, name = resolve_route(method, parts.path)
    except RouteNotFound as exc:
        raise BadLine(f"unknown url: {exc.message}") from None
    return route, name, parts.query


def _body(method: str, route: Route, body: object, query: str, max_body: int) -> bytes:
    if body is None and method != "POST":
        return b""
    if not isinstance(body, dict):
        raise BadLine("body must be a JSON object")
    if route.operation is Operation.STREAM_GENERATE_CONTENT:
        raise BadLine("streaming is not supported in a batch: call :generateContent instead")
    if body.get("stream") is True:
        raise BadLine('streaming is not supported in a batch: remove "stream": true')
    if "alt=sse" in query:
        raise BadLine("streaming is not supported in a batch: remove alt=sse")
    encoded = orjson.dumps(body) if (body or method == "POST") else b""
    if len(encoded) > max_body:  # the server refuses it (413): so does a batch
        raise BadLine(f"body is larger than server.http.max_body_size ({max_body} bytes)")
    return encoded


def parse_line(number: int, raw: bytes, max_body: int = MAX_BODY) -> BatchRequest:
    """One input line as a request, its body at most `max_body` bytes. Raises BadLine."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadLine(f"invalid JSON: {exc.msg}") from None
    if not isinstance(document, dict):
        raise BadLine("a line must be a JSON object")
    custom_id = _custom_id(document)
    try:
        method = document.get("method")
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise BadLine("method must be GET, POST or DELETE")
        method = method.upper()
        route, name, query = _route(method, document.get("url"))
        body = _body(method, route, document.get("body"), query, max_body)
    except BadLine as exc:
        raise BadLine(exc.message, custom_id) from None
    return BatchRequest(number, custom_id, method, route, name, query, body)


def plan_batch(
    lines: Iterable[bytes], done: frozenset[str] | set[str], max_body: int = MAX_BODY
) -> BatchPlan:
    """Every input line parsed: runnable requests, problems, and lines done already. A body
    over `max_body` (server.http.max_body_size) is a problem, as the server refuses it.

    A custom_id seen twice in the input keeps its first line; the later ones are problems.
    """
    plan = BatchPlan()
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            request = parse_line(number, raw, max_body)
        except BadLine as exc:
            plan.problems.append(InputProblem(number, exc.message, exc.custom_id))
            continue
        if request.custom_id in seen:
            message = f"duplicate custom_id {request.custom_id!r}: only its first line runs"
            plan.problems.append(InputProblem(number, message, request.custom_id))
            continue
        seen.add(request.custom_id)
        if request.custom_id in done:
            plan.already_done += 1
        else:
            plan.requests.append(request)
    return plan
