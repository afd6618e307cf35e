"""Tracing an upstream call: the CLIENT span and the W3C trace context it sends upstream.

Manual propagation (not the aiohttp instrumentation, which ends its span at the headers and
cannot be installed next to this SDK version). Recorded: method, host, port and path, never
the query string or a header (either may hold a key).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, StatusCode, Tracer

from gateway.domain.ports.upstream import UpstreamRequest
from gateway.domain.secrets import mask_key_shaped

_TRACE_HEADERS = frozenset({"traceparent", "tracestate"})


class _Answer(Protocol):
    @property
    def status(self) -> int: ...


Answer = TypeVar("Answer", bound=_Answer)


Scrub = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class ClientTracing:
    """What an upstream client needs to trace its calls: the tracer, and what masks keys in the
    URL a span copies (its path holds what a client put there, a Gemini model name)."""

    tracer: Tracer
    scrub: Scrub = mask_key_shaped


async def send_traced(
    tracing: ClientTracing,
    request: UpstreamRequest,
    send: Callable[[Sequence[tuple[str, str]], Span], Awaitable[Answer]],
) -> Answer:
    """`send(headers, span)` inside a CLIENT span: the headers carry the trace context upstream.

    The span ends here if no answer comes; otherwise the answer owns it and ends it with
    `end_with_body` when its body is released (the call lasts until then, not until the headers).
    """
    parent = trace.get_current_span().get_span_context()
    if parent.is_valid and not parent.trace_flags.sampled:
        # A request its trace does not sample: under the parent-based sampler the upstream call
        # would be an unsampled span too, so none is made (no ids, attributes, context or end).
        # The trace context still goes upstream, naming the request's own span as the parent.
        return await send(with_trace_context(request.headers, None), INVALID_SPAN)
    span, headers = start_client_span(tracing, request)
    try:
        answer = await send(headers, span)
    except BaseException as exc:
        end_span(span, getattr(exc, "kind", type(exc).__name__))
        raise
    record_status(span, answer.status)
    return answer


def start_client_span(
    tracing: ClientTracing, request: UpstreamRequest
) -> tuple[Span, list[tuple[str, str]]]:
    """The span (a child of the current one) and the headers carrying it upstream."""
    url = urlsplit(request.url)
    scrub = tracing.scrub
    span = tracing.tracer.start_span(
        request.method,
        kind=SpanKind.CLIENT,
        attributes={
            "http.request.method": request.method,
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "url.full": scrub(f"{url.scheme}://{url.netloc.rpartition('@')[2]}{url.path}"),
        },
    )
    return span, with_trace_context(request.headers, trace.set_span_in_context(span))


def with_trace_context(
    headers: Sequence[tuple[str, str]], context: Context | None
) -> list[tuple[str, str]]:
    """`headers` carrying `context` (the current one when None) in W3C trace headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    # The caller's own trace headers, if forwarded, are replaced by ours (we are their child).
    outgoing = [(n, v) for n, v in headers if n.lower() not in _TRACE_HEADERS]
    outgoing.extend(carrier.items())
    return outgoing


def record_status(span: Span, status: int) -> None:
    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        span.set_attribute("error.type", str(status))
        span.set_status(StatusCode.ERROR)


def end_with_body(span: Span, complete: bool) -> None:
    end_span(span, None if complete else "body_not_read_to_end")


def end_span(span: Span, error_type: str | None) -> None:
    if error_type is not None:
        span.set_attribute("error.type", error_type)
        span.set_status(StatusCode.ERROR)
    span.end()
