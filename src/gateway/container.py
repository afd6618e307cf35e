"""The composition root: the only module that builds adapters and wires them to the use-cases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from dependency_injector import containers, providers

from gateway.adapters.billing.disabled import DisabledBilling
from gateway.adapters.events.factory import event_publisher_for
from gateway.adapters.events.managed import ManagedEventPublisher
from gateway.adapters.upstream.aiohttp_upstream import AiohttpUpstream, UpstreamPoolSettings
from gateway.application.background import BackgroundTasks
from gateway.application.relay import RelayService
from gateway.application.relay_command import RelaySettings, UpstreamTarget
from gateway.domain.clock import SystemClock
from gateway.domain.provider import Provider
from gateway.domain.secrets import Secret
from gateway.entrypoints.http.readiness import Probe
from gateway.settings import Settings


class _Lifecycle(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...


async def _running(component: _Lifecycle) -> AsyncIterator[_Lifecycle]:
    """A component started with the worker and closed when it stops."""
    await component.start()
    try:
        yield component
    finally:
        await component.close()


async def _running_if_managed(component: object) -> AsyncIterator[object]:
    """Like _running, for a provider that tests or batch jobs may override with a plain object
    (an in-memory fake has no lifecycle)."""
    if not isinstance(component, ManagedEventPublisher):
        yield component
        return
    await component.start()  # bounded by nats.connect_timeout, far below Sanic's 30 s
    try:
        yield component
    finally:
        await component.close()  # hands every event to NATS or to the spool


def _pool_settings(settings: Settings) -> UpstreamPoolSettings:
    upstreams = settings.upstreams
    return UpstreamPoolSettings(
        connect_timeout=upstreams.connect_timeout,
        read_timeout=upstreams.read_timeout,
        pool_size=upstreams.pool_size,
        pool_per_host=upstreams.pool_per_host,
        keepalive_timeout=upstreams.keepalive_timeout,
    )


def _relay_settings(settings: Settings) -> RelaySettings:
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
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    clock = providers.Singleton(SystemClock)
    background = providers.Singleton(BackgroundTasks)

    upstream = providers.Singleton(AiohttpUpstream, providers.Callable(_pool_settings, settings))
    upstream_running = providers.Resource(_running, upstream)

    billing = providers.Singleton(DisabledBilling)
    events = providers.Singleton(event_publisher_for, settings)
    events_running = providers.Resource(_running_if_managed, events)

    relay = providers.Singleton(
        RelayService,
        upstream=upstream,
        billing=billing,
        events=events,
        settings=providers.Callable(_relay_settings, settings),
        background=background,
        clock=clock,
    )


class ContainerRuntime:
    """Runs a container inside a Sanic worker (the app's Runtime)."""

    def __init__(self, container: Container, shutdown_timeout: float = 30.0) -> None:
        self._container = container
        self._shutdown_timeout = shutdown_timeout

    async def start(self) -> None:
        pending = self._container.init_resources()
        if pending is not None:
            await pending

    async def stop(self) -> None:
        relay: RelayService = self._container.relay()
        await relay.drain(self._shutdown_timeout)
        pending = self._container.shutdown_resources()
        if pending is not None:
            await pending
        self._container.reset_singletons()

    def relay_service(self) -> RelayService:
        relay: RelayService = self._container.relay()
        return relay

    def readiness_probes(self) -> Mapping[str, Probe]:
        async def process() -> tuple[bool, Mapping[str, Any]]:
            return True, {}

        probes: dict[str, Probe] = {"process": process}
        events = self._container.events()
        if isinstance(events, ManagedEventPublisher):
            probes["events"] = events.readiness
        return probes


def build_container(settings: Settings, **overrides: Any) -> Container:
    """A container for `settings`; keyword overrides replace providers (tests, on-prem, batch)."""
    container = Container(settings=settings)
    for name, value in overrides.items():
        getattr(container, name).override(providers.Object(value))
    return container
