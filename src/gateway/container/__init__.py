"""The composition root: the only place that builds adapters and wires them to the use-cases.

One container per worker process (Sanic spawns workers; each builds its own), so every
Singleton and Resource - the upstream connection pool, the NATS link, the billing ledger - is
per worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dependency_injector import containers, providers

from gateway.adapters.billing.factory import billing_for
from gateway.adapters.events.factory import event_publisher_for
from gateway.adapters.observability.observability import Observability
from gateway.adapters.upstream.factory import upstream_for
from gateway.application.background import BackgroundTasks
from gateway.application.relay import RelayService
from gateway.container import from_settings
from gateway.container.lifecycle import running
from gateway.domain.clock import SystemClock
from gateway.entrypoints.http.observability import HttpObservability
from gateway.entrypoints.http.readiness import Probe
from gateway.settings import Settings


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    background = providers.Singleton(BackgroundTasks)

    observability = providers.Singleton(Observability, settings)
    observability_running = providers.Resource(running, observability)
    upstream_probes = providers.Singleton(from_settings.upstream_probes, settings)

    upstream = providers.Singleton(
        upstream_for,
        settings.provided.upstreams.client,
        providers.Callable(from_settings.pool_settings, settings),
        tracer=observability.provided.tracer,
        scrub=observability.provided.scrub,
    )
    upstream_running = providers.Resource(running, upstream)

    billing = providers.Singleton(billing_for, settings)
    billing_running = providers.Resource(running, billing)
    events = providers.Singleton(event_publisher_for, settings)
    events_running = providers.Resource(running, events)

    relay = providers.Singleton(
        RelayService,
        upstream=upstream,
        billing=providers.Singleton(from_settings.observed_billing, observability, billing),
        events=providers.Singleton(from_settings.observed_events, observability, events),
        settings=providers.Callable(from_settings.relay_settings, settings),
        background=background,
        clock=clock,
    )


async def _process() -> tuple[bool, Mapping[str, Any]]:
    return True, {}


class ContainerRuntime:
    """Runs a container inside a Sanic worker (the app's Runtime) or a batch job."""

    def __init__(self, container: Container, shutdown_timeout: float = 30.0) -> None:
        self._container = container
        self._shutdown_timeout = shutdown_timeout

    async def start(self) -> None:
        pending = self._container.init_resources()
        if pending is not None:
            await pending

    async def stop(self) -> None:
        # Usage records first: billing and the event sink close only after the relay drained.
        relay: RelayService = self._container.relay()
        await relay.drain(self._shutdown_timeout)
        pending = self._container.shutdown_resources()
        if pending is not None:
            await pending
        self._container.reset_singletons()

    def relay_service(self) -> RelayService:
        relay: RelayService = self._container.relay()
        return relay

    def observability(self) -> HttpObservability:
        observability: Observability = self._container.observability()
        return observability

    def readiness_probes(self) -> Mapping[str, Probe]:
        probes: dict[str, Probe] = {"process": _process, **self._container.upstream_probes()}
        for name, component in (
            ("billing", self._container.billing()),
            ("events", self._container.events()),
        ):
            readiness = getattr(component, "readiness", None)
            if readiness is not None:
                probes[name] = readiness
        return probes


def build_container(settings: Settings, **overrides: Any) -> Container:
    """A container for `settings`; keyword overrides replace providers (tests, on-prem, batch)."""
    container = Container(settings=settings)
    for name, value in overrides.items():
        getattr(container, name).override(providers.Object(value))
    return container
