"""The relay use-case: one request to the upstream and back, with quota, usage and a log event."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

from gateway.application.background import BackgroundTasks
from gateway.application.credentials import read_caller
from gateway.application.exchange import RelayExchange, StreamFilter
from gateway.application.headers import ResponseHeaders
from gateway.application.openai_usage_filter import OpenAIUsageChunkFilter
from gateway.application.relay_command import RelayCommand, RelaySettings
from gateway.application.request_intent import RequestIntent, read_intent, with_include_usage
from gateway.application.request_trace import RequestTrace
from gateway.application.upstream_request import build_upstream_request
from gateway.application.usage_recorder import UsageRecorder
from gateway.domain.clock import Clock, SystemClock
from gateway.domain.errors import GatewayError, Unauthenticated
from gateway.domain.ports.billing import AuthorizationRequest, Billing
from gateway.domain.ports.events import EventPublisher
from gateway.domain.ports.upstream import UpstreamProvider, UpstreamResponse
from gateway.domain.provider import RESULTS_URL_OPERATIONS, Operation, Provider
from gateway.domain.usage_readers import BodyFraming, UsageReader, usage_reader_for

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-oneapi-request-id", "x-goog-request-id")


class RelayService:
    """Relays a request to new-api or straight to its provider.

    Rules:
    - A JSON body is parsed once, for the model and the stream flag; malformed JSON is refused
      before anything is forwarded. The original bytes are forwarded, except that OpenAI streams
      are asked for usage (stream_options.include_usage, a config switch, on by default: events,
      metrics and billing all need it); the extra chunk is hidden from a client that did not ask.
    - Billing authorizes before anything is forwarded; a denial is the client's answer.
    - The client's credential is replaced per RelaySettings and never reaches another provider.
    - Usage is read from a copy of the body as it passes; every request ends in exactly one event,
      and every request that reached the upstream in exactly one usage record, however it ended.
      Without an event publisher (`events=None`: nothing reads events) no event is built, and
      when billing needs no usage either, no body is read for usage at all.
    - Nothing is retried once sent: an upstream that may have started work is never asked twice.
    """

    def __init__(
        self,
        *,
        upstream: UpstreamProvider,
        billing: Billing,
        events: EventPublisher | None,
        settings: RelaySettings,
        background: BackgroundTasks,
        clock: Clock | None = None,
    ) -> None:
        self._upstream = upstream
        self._billing = billing
        self._events = events
        self._reads_usage = events is not None or billing.needs_usage
        self._settings = settings
        self._background = background
        self._recorder = UsageRecorder(billing, background)
        self._clock = clock or SystemClock()
        self._upstream_kind = "new-api" if settings.new_api is not None else "direct"

    async def open(self, command: RelayCommand) -> RelayExchange:
        """Forward the request and wait for the upstream's headers.

        Raises GatewayError (already logged and recorded) when the gateway, billing or the
        upstream refuses or fails before a response exists.
        """
        clock = self._clock
        route = command.route
        trace = self._trace(command)
        try:
            intent = read_intent(route, command.body, command.query)
            trace.model, trace.stream = intent.model, intent.stream
            await self._authorize(command, trace)
            body, hide_usage = self._outgoing_body(command, intent)
            request = build_upstream_request(self._settings, command, trace.caller, body)
            trace.forwarded = True
            sent = clock.monotonic()
            try:
                response = await self._upstream.send(request)
            finally:  # also when it fails or the client leaves meanwhile: the upstream's time
                trace.upstream_wait = clock.monotonic() - sent
        except BaseException as exc:
            self._conclude(trace, exc)
            raise
        return self._exchange(command, trace, intent, response, hide_usage)

    def refuse(self, command: RelayCommand, error: GatewayError, waited: float = 0.0) -> None:
        """Conclude a request the gateway refused before it could read it whole (a body over
        the size limit, one it cannot decode, one that stopped arriving): it still ends in its
        request-log event. It reached no upstream, so it has no usage to record. `command.body`
        is what was read; `waited`, the seconds since the request arrived (its latency)."""
        self._conclude(self._trace(command, waited), error)

    def abandon(self, command: RelayCommand, waited: float = 0.0) -> None:
        """Conclude a request whose client went away before its body had arrived whole: it ends
        in its request-log event as any client that leaves does (client_cancelled, 499), with
        no upstream reached and no usage to record."""
        self._conclude(self._trace(command, waited), asyncio.CancelledError())

    def _trace(self, command: RelayCommand, waited: float = 0.0) -> RequestTrace:
        route = command.route
        clock = self._clock
        return RequestTrace(
            command=command,
            caller=read_caller(route.provider, command.headers, command.query),
            started_at=clock.now() - timedelta(seconds=waited) if waited else clock.now(),
            started=clock.monotonic() - waited,
            upstream_kind=self._upstream_kind,
            request_bytes=len(command.body),
            model=route.path_model,
        )

    async def _authorize(self, command: RelayCommand, trace: RequestTrace) -> None:
        decision = await self._billing.authorize(
            AuthorizationRequest(
                request_id=command.request_id,
                caller=trace.caller,
                provider=command.route.provider,
                operation=command.route.operation,
                model=trace.model,
            )
        )
        if not decision.allowed:
            # A denial without a reason is still a denial, never a pass.
            raise decision.denial or Unauthenticated("billing refused the request")

    def _outgoing_body(self, command: RelayCommand, intent: RequestIntent) -> tuple[bytes, bool]:
        if (
            intent.document is None
            or not self._settings.openai_include_usage
            or command.route.operation is Operation.RESPONSES  # reports usage unasked
        ):
            return command.body, False
        amended = with_include_usage(command.body, intent.document)
        return (command.body, False) if amended is None else (amended, True)

    def _exchange(
        self,
        command: RelayCommand,
        trace: RequestTrace,
        intent: RequestIntent,
        response: UpstreamResponse,
        hide_usage: bool,
    ) -> RelayExchange:
        route = command.route
        headers = ResponseHeaders(response.headers)
        index = headers.index
        trace.status = response.status
        trace.upstream_request_id = _upstream_request_id(index)
        content_type = index.get("content-type", "")
        encoding = index.get("content-encoding")
        encoding = encoding.strip().lower() if encoding else None
        ok = response.status < 300
        length = response.content_length
        # An upstream error with a known small JSON body is answered whole, like any JSON.
        small_error = not ok and length is not None and length <= self._settings.buffer_limit
        streaming = not small_error and (
            intent.stream
            or "text/event-stream" in content_type
            or route.operation is Operation.BATCH_RESULTS
            or length is None
            or length > self._settings.buffer_limit
        )
        framing = _framing(route.operation, content_type, streaming, command.query)
        reader: UsageReader | None = (
            usage_reader_for(route.provider, route.operation, framing)
            if ok and self._reads_usage
            else None
        )
        stream_filter: StreamFilter | None = (
            OpenAIUsageChunkFilter() if hide_usage and ok and encoding is None else None
        )
        rewrite = (
            command.public_origin
            if route.provider is Provider.CLAUDE and route.operation in RESULTS_URL_OPERATIONS
            else None
        )
        return RelayExchange(
            trace=trace,
            response=response,
            headers=headers.downstream,
            streaming=streaming,
            reader=reader,
            content_encoding=encoding,
            stream_filter=stream_filter,
            rewrite_origin=rewrite,
            on_finish=self._on_finish,
            monotonic=self._clock.monotonic,
        )

    def _on_finish(self, exchange: RelayExchange, error: BaseException | None) -> None:
        self._conclude(exchange.trace, error)

    def _conclude(self, trace: RequestTrace, error: BaseException | None) -> None:
        events, needs_record = self._events, self._billing.needs_usage
        if events is None and not needs_record:
            return  # nothing reads how the request ended
        conclusion = trace.conclude(error, self._clock.monotonic(), with_event=events is not None)
        if events is not None and conclusion.event is not None:
            events.publish(conclusion.event)
        if conclusion.record is not None and needs_record:
            # Recorded in the background, batched with concurrent requests' records: the
            # response is not held up, and a client gone (its task cancelled) cancels nothing.
            self._recorder.submit(conclusion.record)

    async def drain(self, timeout: float) -> bool:
        """Wait for pending usage records (shutdown)."""
        return await self._background.drain(timeout)


def _upstream_request_id(index: Mapping[str, str]) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        if (value := index.get(name)) is not None:
            return value
    return None


def _framing(operation: Operation, content_type: str, streaming: bool, query: str) -> BodyFraming:
    if "text/event-stream" in content_type:
        return BodyFraming.SSE
    if operation is Operation.BATCH_RESULTS:
        return BodyFraming.JSONL
    if operation is Operation.STREAM_GENERATE_CONTENT:
        return BodyFraming.SSE if "alt=sse" in query else BodyFraming.JSON_ARRAY_STREAM
    return BodyFraming.JSON


__all__ = ["RelayExchange", "RelayService"]
