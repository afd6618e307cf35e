"""The billing service's wire protocol, client side (docs/billing-api.md): bodies and answers."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.adapters.billing.outbox import ACKED, Delivered, DeliveryResult
from gateway.domain.errors import GatewayError, QuotaExceeded, Unauthenticated
from gateway.domain.ports.billing import AuthorizationRequest

AUTHORIZE_PATH = "/v1/authorize"
USAGE_PATH = "/v1/usage"
HEALTH_PATH = "/health"

# Deny reasons (docs/billing-api.md) and what the client is told.
_UNAUTHENTICATED = {
    "missing_key": "an API key is required",
    "unknown_key": "invalid API key",
    "revoked_key": "this API key has been revoked",
}
_QUOTA = {"quota_exceeded": "the token quota of this API key is used up"}
# Retried although 4xx: the service (or our credentials for it) may be fixed meanwhile.
_RETRIED_4XX = frozenset({401, 403, 404, 408, 425, 429})


class BadAnswer(ValueError):
    """The billing service answered something that is not the protocol."""


def authorize_body(request: AuthorizationRequest) -> bytes:
    return orjson.dumps(
        {
            "request_id": request.request_id,
            "caller": request.caller.key_hash,
            "provider": str(request.provider),
            "operation": str(request.operation),
            "model": request.model,
        }
    )


def read_decision(body: bytes) -> GatewayError | None:
    """None when allowed, else the error the client gets. Raises BadAnswer."""
    try:
        doc: Any = orjson.loads(body)
        allowed = doc["allowed"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise BadAnswer("not an authorize answer") from None
    if allowed is True:
        return None
    if allowed is not False:
        raise BadAnswer("allowed must be a boolean")
    return denial_for(doc.get("reason"))


def denial_for(reason: object) -> GatewayError:
    # The client sees our own message for the reason, never text from the service.
    if isinstance(reason, str) and reason in _QUOTA:
        return QuotaExceeded(_QUOTA[reason])
    if isinstance(reason, str) and reason in _UNAUTHENTICATED:
        return Unauthenticated(_UNAUTHENTICATED[reason])
    return Unauthenticated("this API key may not make this request")


def usage_result(status: int) -> DeliveryResult:
    if status in (200, 201):
        return ACKED
    if 400 <= status < 500 and status not in _RETRIED_4XX:
        return DeliveryResult(Delivered.REJECTED, f"billing service answered {status}")
    return DeliveryResult(Delivered.RETRY, f"billing service answered {status}")
