"""Gateway-made errors in the calling provider's own error envelope (contract: "Errors").

The HTTP entrypoint answers with these bodies; the request-log event counts their bytes.
"""

from __future__ import annotations

import orjson

from gateway.domain.provider import Provider

_CLAUDE_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "not_found_error",
    413: "request_too_large",
    426: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_OPENAI_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    408: ("invalid_request_error", "request_timeout"),
    413: ("invalid_request_error", "request_too_large"),
    426: ("invalid_request_error", "upgrade_required"),
    429: ("insufficient_quota", "insufficient_quota"),
    502: ("server_error", "bad_gateway"),
    503: ("server_error", "service_unavailable"),
    504: ("server_error", "timeout"),
}
_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    413: "INVALID_ARGUMENT",
    426: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


# What a client is told of a fault of the gateway's own: a fixed text, as an exception's could
# hold anything.
INTERNAL_ERROR_MESSAGE = "internal gateway error"


def error_body(provider: Provider, status: int, message: str) -> bytes:
    """A status the tables do not name gets its class's kind: a client's error for a 4xx (as
    Anthropic does, protocols.md 1.7), a server's for the rest."""
    client_error = 400 <= status < 500
    if provider is Provider.CLAUDE:
        kind = _CLAUDE_TYPES.get(status, "invalid_request_error" if client_error else "api_error")
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})
    if provider is Provider.OPENAI:
        default = ("invalid_request_error", None) if client_error else ("server_error", None)
        kind, code = _OPENAI_TYPES.get(status, default)
        return orjson.dumps(
            {"error": {"message": message, "type": kind, "param": None, "code": code}}
        )
    default_status = "INVALID_ARGUMENT" if client_error else "INTERNAL"
    gemini_status = _GEMINI_STATUS.get(status, default_status)
    return orjson.dumps({"error": {"code": status, "message": message, "status": gemini_status}})
