"""The three providers' response headers and error envelopes (protocols.md 1.7, 2.7, 3.5)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.devtools.fake_provider.wire import Json, dumps

_CLAUDE_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_OPENAI_ERROR_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded", 500: "server_error"}
_GEMINI_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _claude_error(status: int, message: str, request_id: str) -> Json:
    fallback = "api_error" if status >= 500 else "invalid_request_error"
    error = {"type": _CLAUDE_ERROR_TYPES.get(status, fallback), "message": message}
    return {"type": "error", "error": error, "request_id": request_id}


def _openai_error(status: int, message: str, request_id: str) -> Json:
    if status >= 500:
        error_type = "server_error"
    elif status == 429:
        error_type = "requests"  # what api.openai.com puts in `type` for rate limits
    else:
        error_type = "invalid_request_error"
    code = _OPENAI_ERROR_CODES.get(status)
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def _gemini_error(status: int, message: str, request_id: str) -> Json:
    return {
        "error": {
            "code": status,
            "message": message,
            "status": _GEMINI_STATUSES.get(status, "UNKNOWN"),
        }
    }


@dataclass(frozen=True, slots=True)
class Dialect:
    """How one provider labels its responses and shapes its errors."""

    name: str
    request_id_header: str
    static_headers: Mapping[str, str]
    error_envelope: Callable[[int, str, str], Json]
    stream_error: bytes

    def headers(self, request_id: str) -> dict[str, str]:
        headers = dict(self.static_headers)
        headers[self.request_id_header] = request_id
        return headers

    def error_body(self, status: int, message: str, request_id: str) -> bytes:
        return dumps(self.error_envelope(status, message, request_id))


CLAUDE = Dialect(
    name="claude",
    request_id_header="request-id",
    static_headers={"anthropic-ratelimit-requests-remaining": "999"},
    error_envelope=_claude_error,
    stream_error=dumps(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    ),
)
OPENAI = Dialect(
    name="openai",
    request_id_header="x-request-id",
    static_headers={"openai-processing-ms": "1", "x-ratelimit-remaining-requests": "999"},
    error_envelope=_openai_error,
    stream_error=dumps(
        _openai_error(500, "The server had an error while processing your request.", "")
    ),
)
GEMINI = Dialect(
    name="gemini",
    request_id_header="x-goog-request-id",
    static_headers={},
    error_envelope=_gemini_error,
    stream_error=dumps(_gemini_error(503, "The model is overloaded. Please try again later.", "")),
)


def dialect_for_path(path: str, headers: Mapping[str, str]) -> Dialect:
    """Guess whose envelope an unknown route should answer in, from what the path looks like."""
    if path.startswith("/v1beta") or ":" in path.rpartition("/")[2]:
        return GEMINI
    if path.startswith("/v1/messages") or "anthropic-version" in headers:
        return CLAUDE
    return OPENAI
