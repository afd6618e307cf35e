"""Turning the validated settings into the values each adapter and use-case takes."""

from __future__ import annotations

import dataclasses

from gateway.adapters.events.disabled import DisabledEventPublisher
from gateway.adapters.observability.observability import Observability
from gateway.adapters.observability.reachability import TcpReachability
from gateway.adapters.upstream.pool_settings import UpstreamPoolSettings
from gateway.application.relay_command import RelaySettings, UpstreamTarget
from gateway.domain.ports.billing import Billing
from gateway.domain.ports.events import EventPublisher
from gateway.domain.provider import Provider
from gateway.domain.secrets import Secret
from gateway.entrypoints.http.readiness import Probe
from gateway.settings import Settings


def pool_settings(settings: Settings) -> UpstreamPoolSettings:
    upstreams = settings.upstreams
    return UpstreamPoolSettings(
        connect_timeout=upstreams.connect_timeout,
        read_timeout=upstreams.read_timeout,
        pool_size=upstreams.pool_size,
        pool_per_host=upstreams.pool_per_host,
        keepalive_timeout=upstreams.keepalive_timeout,
    )


def relay_settings(settings: Settings) -> RelaySettings:
    features, upstreams = settings.features, settings.upstreams
    new_api = (
        UpstreamTarget(
            features.new_api_url.rstrip("/"), Secret(features.new_api_key.get_secret_value())
        )
        if features.new_api_enabled
        else None
    )
    direct = {
        Provider.CLAUDE: upstreams.claude,
        Provider.OPENAI: upstreams.openai,
        Provider.GEMINI: upstreams.gemini,
    }
    return RelaySettings(
        new_api=new_api,
        direct={
            provider: UpstreamTarget(up.base_url, Secret(up.api_key.get_secret_value()))
            for provider, up in direct.items()
        },
        openai_include_usage=features.openai_include_usage,
        forward_caller_keys=settings.billing.mode != "local",  # local: the keys are ours
    )


def upstream_probes(settings: Settings) -> dict[str, Probe]:
    """One TCP reachability probe per distinct upstream host (new-api, or each provider's)."""
    features, upstreams = settings.features, settings.upstreams
    if features.new_api_enabled:
        return {"upstream": TcpReachability(features.new_api_url)}
    by_target: dict[str, tuple[TcpReachability, list[str]]] = {}
    for name, up in (
        ("claude", upstreams.claude),
        ("openai", upstreams.openai),
        ("gemini", upstreams.gemini),
    ):
        probe = TcpReachability(up.base_url)
        by_target.setdefault(probe.target, (probe, []))[1].append(name)
    if len(by_target) == 1:
        return {"upstream": next(iter(by_target.values()))[0]}
    return {f"upstream_{'_'.join(names)}": probe for probe, names in by_target.values()}


def observed_events(observability: Observability, events: EventPublisher) -> EventPublisher | None:
    """The relay's event publisher; None when nothing reads events (none is then built)."""
    if isinstance(events, DisabledEventPublisher) and not observability.observes_events:
        return None
    # A publisher keeping PublisherCounters (NATS, JSONL) gets them exported as metrics.
    counters = getattr(events, "counters", None)
    if counters is not None and dataclasses.is_dataclass(counters):
        observability.count_events(lambda: dataclasses.asdict(counters))  # type: ignore[arg-type]
    return observability.observe_events(events)


def observed_billing(observability: Observability, billing: Billing) -> Billing:
    # A billing with a durable outbox (http, local) gets its backlog exported as a gauge.
    outbox = getattr(billing, "outbox", None)
    if outbox is not None:
        observability.watch_billing_outbox(lambda: int(outbox.pending))
    return observability.observe_billing(billing)
