"""What the relay learns about one request as it runs, and how it concludes into an event and a
usage record."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from gateway.application.relay_command import RelayCommand
from gateway.application.usage_estimate import estimate_usage
from gateway.domain.caller import Caller
from gateway.domain.clock import round_ms
from gateway.domain.error_envelopes import INTERNAL_ERROR_MESSAGE, error_body
from gateway.domain.errors import (
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    RequestTimeout,
    ResponseTimeout,
    RouteNotFound,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.domain.events import EventError, EventUsage, RequestLogEvent
from gateway.domain.outcome import Outcome
from gateway.domain.ports.billing import UsageRecord
from gateway.domain.provider import Operation
from gateway.domain.usage import ZERO_USAGE, Usage
from gateway.domain.usage_readers import UsageReport

# Operations that generate tokens: a stream of these that ends early gets its usage estimated.
GENERATIVE = frozenset(
    {
        Operation.MESSAGES,
        Operation.RESPONSES,
        Operation.CHAT_COMPLETIONS,
        Operation.COMPLETIONS,
        Operation.GENERATE_CONTENT,
        Operation.STREAM_GENERATE_CONTENT,
    }
)

NO_REPORT = UsageReport()
# A message batch's results read whole are recorded under this prefix and the batch's id.
BATCH_RESULTS_RECORD_PREFIX = "batch_results:"
_LEFT_WAITING = frozenset({Outcome.CLIENT_CANCELLED, Outcome.TIMEOUT})
_CLIENT_ERRORS = (InvalidRequest, RouteNotFound, PayloadTooLarge, RequestTimeout)
# nginx's convention for "the client closed the request before a status was sent".
CLIENT_CLOSED_STATUS = 499
# What the gateway answers for a fault of its own (the HTTP entrypoint's last error handler).
INTERNAL_ERROR_STATUS = 500


def _error_of(exc: BaseException) -> EventError:
    if isinstance(exc, GatewayError):
        return EventError(type=exc.kind, message=exc.message)
    if isinstance(exc, asyncio.CancelledError):
        return EventError(type="client_cancelled", message="the client went away")
    # Never the exception text: it may carry anything, a key included.
    return EventError(type="internal", message=type(exc).__name__)


def _outcome_of(exc: BaseException) -> Outcome:
    if isinstance(exc, asyncio.CancelledError):
        return Outcome.CLIENT_CANCELLED
    if isinstance(exc, (UpstreamTimeout, ResponseTimeout)):
        return Outcome.TIMEOUT
    if isinstance(exc, UpstreamError):
        return Outcome.UPSTREAM_ERROR
    if isinstance(exc, _CLIENT_ERRORS):
        return Outcome.CLIENT_ERROR
    if isinstance(exc, GatewayError):
        return Outcome.REJECTED
    return Outcome.UPSTREAM_ERROR


@dataclass(slots=True)
class Conclusion:
    event: RequestLogEvent | None  # None when not asked for (nothing reads events)
    record: UsageRecord | None  # None when nothing reached the upstream


@dataclass(slots=True)
class RequestTrace:
    command: RelayCommand
    caller: Caller
    started_at: datetime
    started: float  # monotonic seconds
    upstream_kind: str
    model: str | None = None
    stream: bool = False
    forwarded: bool = False  # the upstream was contacted
    status: int | None = None  # the upstream's status, which the client gets (or was to get)
    # The upstream answered, but its body failed before the gateway began its own answer (a
    # whole body cut or silent, a stream's first chunk): the client gets the gateway's error
    # instead of `status`, or nothing when it left.
    answer_withheld: bool = False
    client_status: int | None = None  # the status the client got: set by conclude()
    upstream_request_id: str | None = None
    first_byte: float | None = None
    # Seconds spent awaiting the upstream (headers, then each body read): the rest of the
    # latency is the gateway's own work and the client's reading.
    upstream_wait: float = 0.0
    bytes_out: int = 0
    report: UsageReport = NO_REPORT
    request_bytes: int = 0

    def conclude(
        self, exc: BaseException | None, now: float, *, with_event: bool = True
    ) -> Conclusion:
        outcome, error = self._ending(exc)
        status = self.status
        if exc is not None or status is None or self.answer_withheld:  # else: the usual end
            status = self._client_status(exc)
            if self._answered_by_gateway(exc):
                # The body the client gets is the gateway's error envelope, not the upstream's.
                message = exc.message if isinstance(exc, GatewayError) else INTERNAL_ERROR_MESSAGE
                self.bytes_out = len(error_body(self.command.route.provider, status, message))
        self.client_status = status
        usage, partial, estimated = self._usage(outcome)
        event = (
            self._event(status, outcome, error, usage, partial, estimated, now)
            if with_event
            else None
        )
        record = self._record(status, outcome, usage, partial, estimated)
        return Conclusion(event, record)

    def _answered_by_gateway(self, exc: BaseException | None) -> bool:
        """Whether the client gets an error the gateway renders (not the upstream's answer, and
        not nothing because it left)."""
        if exc is None or isinstance(exc, asyncio.CancelledError):
            return False
        return self.status is None or self.answer_withheld

    def _client_status(self, exc: BaseException | None) -> int:
        if self.status is not None and not self.answer_withheld:
            return self.status
        if isinstance(exc, GatewayError):
            return exc.status  # the gateway's error, in the provider's envelope
        if exc is None or isinstance(exc, asyncio.CancelledError):
            return CLIENT_CLOSED_STATUS
        return INTERNAL_ERROR_STATUS

    def _ending(self, exc: BaseException | None) -> tuple[Outcome, EventError | None]:
        if exc is not None and not (
            isinstance(exc, asyncio.CancelledError) and self._stream_said_its_last()
        ):
            return _outcome_of(exc), _error_of(exc)
        stream_error = self.report.stream_error
        if stream_error is not None:
            return Outcome.UPSTREAM_ERROR, EventError(
                type=stream_error.type, message=stream_error.message
            )
        if self.status is not None and self.status >= 400:
            return Outcome.UPSTREAM_ERROR, EventError(
                type="upstream_status", message=f"upstream answered {self.status}"
            )
        if self.report.terminal_status == "failed":
            return Outcome.UPSTREAM_ERROR, EventError(type="failed", message="response failed")
        return Outcome.OK, None

    def _stream_said_its_last(self) -> bool:
        """Whether the stream had relayed its final usage and finish reason when the client
        left: SDKs close once they read a stream's last event (OpenAI's stop at `[DONE]`),
        and may not wait for the upstream's end of the body behind it. Such a client was not
        cancelled: the request ends as its stream said it did."""
        report = self.report
        return (
            self.stream
            and not self.answer_withheld
            and self.status is not None
            and self.status < 400
            and report.final
            and report.terminal_status is not None
        )

    def _usage(self, outcome: Outcome) -> tuple[Usage, bool, bool]:
        report = self.report
        generative = self.command.route.operation in GENERATIVE
        if self.forwarded and self.status is None and generative and outcome in _LEFT_WAITING:
            # Sent, but no answer yet when the client left or the upstream went silent: the
            # provider has most likely read (and bills) the prompt. Estimated from the body.
            return estimate_usage(ZERO_USAGE, 0, self.request_bytes), True, True
        succeeded = self.status is not None and self.status < 400
        if not self.forwarded or not succeeded:
            # Sent, and left without an answer (the client gone, the upstream silent): what the
            # provider did with it is unknown, so the zero is partial. An error answer is whole.
            unanswered = self.forwarded and self.status is None and outcome in _LEFT_WAITING
            return (report.usage if succeeded else ZERO_USAGE), unanswered, False
        if report.final:
            return report.usage, False, False
        if not generative:  # nothing to estimate (embeddings, count_tokens, ...): what was read
            return report.usage, outcome is not Outcome.OK, False
        # No final count from the provider: what was seen, topped up by an estimate. It is
        # partial when the request ended early (client gone, upstream cut or silent, error).
        estimated = estimate_usage(report.usage, report.output_text_bytes, self.request_bytes)
        return estimated, outcome is not Outcome.OK, estimated != report.usage

    def _event(
        self,
        status: int,
        outcome: Outcome,
        error: EventError | None,
        usage: Usage,
        partial: bool,
        estimated: bool,
        now: float,
    ) -> RequestLogEvent:
        command = self.command
        headers = command.headers
        ttft = (self.first_byte - self.started) * 1000 if self.stream and self.first_byte else None
        return RequestLogEvent(
            id=command.request_id,
            ts=self.started_at,
            provider=command.route.provider,
            operation=str(command.route.operation),
            route=command.route_name,
            method=command.method,
            model=self.model,
            stream=self.stream,
            status=status,
            outcome=outcome,
            latency_ms=round_ms((now - self.started) * 1000),
            upstream_ms=round_ms(self.upstream_wait * 1000),
            ttft_ms=round_ms(ttft) if ttft is not None else None,
            usage=EventUsage.of(usage),
            usage_partial=partial,
            usage_estimated=estimated,
            terminal_status=self.report.terminal_status,
            caller=self.caller.fingerprint,
            upstream="new-api" if self.upstream_kind == "new-api" else "direct",
            upstream_request_id=self.upstream_request_id,
            client_ip=command.client_ip,
            user_agent=headers.get("user-agent"),
            bytes_in=command.bytes_in if command.bytes_in >= 0 else len(command.body),
            bytes_out=self.bytes_out,
            error=error,
        )

    def _record_id(self, outcome: Outcome, partial: bool) -> str:
        """The usage record's idempotency key: the request's id, but for a message batch's
        results read whole, the batch's. The results carry the batch's usage on every fetch,
        and billing (the ledger, a billing service) keeps one record per key: the batch is
        charged once, however often its results are fetched. A fetch cut short keeps its own
        id, with what it read."""
        route = self.command.route
        if (
            route.operation is Operation.BATCH_RESULTS
            and route.resource_id is not None
            and outcome is Outcome.OK
            and not partial
        ):
            return BATCH_RESULTS_RECORD_PREFIX + route.resource_id
        return self.command.request_id

    def _record(
        self, status: int, outcome: Outcome, usage: Usage, partial: bool, estimated: bool
    ) -> UsageRecord | None:
        if not self.forwarded:
            return None
        return UsageRecord(
            request_id=self._record_id(outcome, partial),
            ts=self.started_at,
            caller_key_hash=self.caller.key_hash,
            caller_fingerprint=self.caller.fingerprint,
            provider=self.command.route.provider,
            operation=self.command.route.operation,
            model=self.model,
            usage=usage,
            outcome=outcome,
            status=status,
            partial=partial,
            estimated=estimated,
        )
