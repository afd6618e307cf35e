"""The gateway's own errors: one HTTP status each, rendered in the calling provider's envelope.

GatewayError
 ├── InvalidRequest          400  malformed JSON, bad parameters, undecodable body
 ├── Unauthenticated         401  no or unknown credential (billing)
 ├── RouteNotFound           404  no such route, or an unsafe path segment
 ├── RequestTimeout          408  the request's body did not arrive within server.http.read_timeout
 ├── PayloadTooLarge         413  body (or its decompressed form) over server.http.max_body_size
 ├── QuotaExceeded           429  the caller's quota is used up (billing)
 ├── BillingUnavailable      503  billing could not answer in time and fail_open is off
 ├── ResponseTimeout         504  writing the response took longer than server.http.write_timeout
 ├── NoUpstreamKey           500  no upstream key configured, and the caller's is the gateway's own
 └── UpstreamError
      ├── UpstreamUnreachable  502  could not connect to the upstream
      ├── UpstreamCutOff       502  the upstream closed a body before its end
      └── UpstreamTimeout      504  the upstream was silent for longer than upstreams.read_timeout
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    status: ClassVar[int] = 500
    # A stable, provider-neutral name; each envelope maps it to the provider's own error type.
    kind: ClassVar[str] = "api_error"
    default_message: ClassVar[str] = "internal gateway error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidRequest(GatewayError):
    status = 400
    kind = "invalid_request"
    default_message = "invalid request"


class Unauthenticated(GatewayError):
    status = 401
    kind = "authentication"
    default_message = "invalid or missing API key"


class RouteNotFound(GatewayError):
    status = 404
    kind = "not_found"
    default_message = "no such route"


class RequestTimeout(GatewayError):
    status = 408
    kind = "request_timeout"
    default_message = "the request was not received in time"


class PayloadTooLarge(GatewayError):
    status = 413
    kind = "request_too_large"
    default_message = "request body is too large"


class QuotaExceeded(GatewayError):
    status = 429
    kind = "quota_exceeded"
    default_message = "quota exceeded"


class BillingUnavailable(GatewayError):
    status = 503
    kind = "unavailable"
    default_message = "billing is unavailable; try again later"


class ResponseTimeout(GatewayError):
    """The response (a stream's every chunk included) was still being written when its time was
    up: the operator's bound on how long one request may hold a connection and an upstream."""

    status = 504
    kind = "timeout"
    default_message = "the response took longer than the gateway allows"


class NoUpstreamKey(GatewayError):
    """No key configured for the upstream (a provider in direct mode, or new-api), and callers
    whose keys the gateway issued itself (billing local): those mean nothing upstream and must
    not reach it."""

    status = 500
    kind = "api_error"
    default_message = "the gateway has no API key for this provider"


class UpstreamError(GatewayError):
    status = 502
    kind = "upstream"
    default_message = "upstream error"


class UpstreamUnreachable(UpstreamError):
    status = 502
    kind = "upstream_unreachable"
    default_message = "the upstream could not be reached"


class UpstreamCutOff(UpstreamError):
    status = 502
    kind = "upstream_cut_off"
    default_message = "the upstream closed the response before its end"


class UpstreamTimeout(UpstreamError):
    status = 504
    kind = "timeout"
    default_message = "the upstream did not answer in time"
