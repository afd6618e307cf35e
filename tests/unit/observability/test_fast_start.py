"""The fast-start tracer takes the SDK's own decisions and builds the spans the SDK would."""

from __future__ import annotations

import random

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState

from gateway.adapters.observability.fast_start import FastStartTracer, HandedTraceIds
from gateway.adapters.observability.tracing import build_tracer_provider, tracer_of
from gateway.settings import TracingSettings


def _provider(rate: float) -> tuple[TracerProvider, HandedTraceIds, InMemorySpanExporter]:
    ids, exported = HandedTraceIds(), InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(rate)), id_generator=ids)
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return provider, ids, exported


def _same_span_but_its_id(fast: Span, sdk: Span) -> None:
    ours, theirs = fast.get_span_context(), sdk.get_span_context()
    assert fast.is_recording() == sdk.is_recording()
    assert ours.trace_id == theirs.trace_id
    assert ours.trace_flags == theirs.trace_flags
    assert ours.trace_state == theirs.trace_state
    assert ours.is_remote == theirs.is_remote and ours.is_valid


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 1.0])
def test_root_spans_take_the_sdks_decision_on_the_same_trace_id(rate: float) -> None:
    sdk_provider, sdk_ids, _ = _provider(rate)
    fast_provider, fast_ids, exported = _provider(rate)
    sdk = sdk_provider.get_tracer("t")
    fast = FastStartTracer(fast_provider.get_tracer("t"), fast_ids, rate)
    draw = random.Random(7)
    recorded = 0
    for _ in range(400):
        trace_id = draw.getrandbits(128) or 1
        sdk_ids.hand_in(trace_id)
        fast_ids.hand_in(trace_id)  # the fast tracer draws this id as its own
        theirs = sdk.start_span("POST /v1/chat/completions", kind=SpanKind.SERVER)
        ours = fast.start_span("POST /v1/chat/completions", kind=SpanKind.SERVER)
        _same_span_but_its_id(ours, theirs)
        recorded += ours.is_recording()
        ours.end()
    assert len(exported.get_finished_spans()) == recorded  # sampled spans are the SDK's
    assert recorded == {0.0: 0, 1.0: 400}.get(rate, recorded)
    if rate == 0.1:
        assert 15 < recorded < 70


@pytest.mark.parametrize("flags", [TraceFlags.DEFAULT, TraceFlags.RANDOM_TRACE_ID])
def test_a_child_of_an_unsampled_parent_is_what_the_sdk_would_build(flags: int) -> None:
    sdk_provider, _, _ = _provider(1.0)
    fast_provider, fast_ids, exported = _provider(1.0)
    parent = SpanContext(
        0x4BF92F3577B34DA6A3CE929D0E0E4736,
        0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=TraceFlags(flags),
        trace_state=TraceState([("vendor", "value")]),
    )
    context = trace.set_span_in_context(NonRecordingSpan(parent))
    theirs = sdk_provider.get_tracer("t").start_span("x", context=context)
    ours = FastStartTracer(fast_provider.get_tracer("t"), fast_ids, 1.0).start_span(
        "x", context=context
    )
    _same_span_but_its_id(ours, theirs)
    assert not ours.is_recording() and ours.get_span_context().span_id != parent.span_id
    ours.end()
    assert exported.get_finished_spans() == ()


def test_a_child_of_a_sampled_parent_is_the_sdks_span() -> None:
    provider, ids, exported = _provider(0.0)  # the rate rules roots only
    tracer = FastStartTracer(provider.get_tracer("t"), ids, 0.0)
    parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    child = tracer.start_span("x", context=trace.set_span_in_context(NonRecordingSpan(parent)))
    assert child.is_recording() and child.get_span_context().trace_id == 0xABC
    child.end()
    (span,) = exported.get_finished_spans()
    assert span.parent is not None and span.parent.span_id == 0xDEF


def test_a_handed_in_id_is_used_once() -> None:
    provider, ids, _ = _provider(1.0)
    tracer = FastStartTracer(provider.get_tracer("t"), ids, 1.0)
    ids.hand_in(42)
    first = tracer.start_span("a")
    second = tracer.start_span("b")
    assert first.get_span_context().trace_id == 42
    assert second.get_span_context().trace_id not in (0, 42)
    ids.hand_in(43)
    ids.withdraw()
    assert ids.generate_trace_id() != 43


def test_the_gateways_tracer_starts_fast_unless_the_provider_is_not_its_own() -> None:
    settings = TracingSettings(enabled=True, sample_rate=0.25)
    ours = build_tracer_provider(settings, InMemorySpanExporter())
    assert isinstance(tracer_of(ours, 0.25), FastStartTracer)
    assert not isinstance(tracer_of(TracerProvider(), 0.25), FastStartTracer)
