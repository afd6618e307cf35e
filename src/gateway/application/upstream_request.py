"""Turning a relay command into the request the upstream receives."""

from __future__ import annotations

from gateway.application.credentials import strip_query_key, upstream_credential
from gateway.application.headers import OPENAI_ACCOUNT_HEADERS, upstream_headers
from gateway.application.relay_command import RelayCommand, RelaySettings, UpstreamTarget
from gateway.domain.caller import Caller
from gateway.domain.errors import NoUpstreamKey
from gateway.domain.ports.upstream import UpstreamRequest
from gateway.domain.provider import Provider

_NO_EXTRA: frozenset[str] = frozenset()


def target_for(settings: RelaySettings, provider: Provider) -> UpstreamTarget:
    return settings.new_api or settings.direct[provider]


def build_upstream_request(
    settings: RelaySettings, command: RelayCommand, caller: Caller, body: bytes
) -> UpstreamRequest:
    route = command.route
    new_api = settings.new_api is not None
    target = target_for(settings, route.provider)
    if not target.api_key and not settings.forward_caller_keys:
        name = route.provider.value
        setting = "features.new_api_key" if new_api else f"upstreams.{name}.api_key"
        raise NoUpstreamKey(
            f"the gateway has no API key for {'new-api' if new_api else name} ({setting}), and "
            "does not send the keys it issues upstream"
        )
    # The client's OpenAI org/project mean nothing once the gateway's own key replaces its own.
    drop = (
        OPENAI_ACCOUNT_HEADERS
        if route.provider is Provider.OPENAI and target.api_key
        else _NO_EXTRA
    )
    headers = upstream_headers(command.headers, drop)
    credential = upstream_credential(route.provider, caller, target, new_api=new_api)
    if credential is not None:
        headers.append(credential)
    # Plain bodies upstream, so usage can be read from every response without decoding.
    headers.append(("accept-encoding", "identity"))
    query = strip_query_key(command.query) if route.provider is Provider.GEMINI else command.query
    url = target.base_url + route.upstream_path + (f"?{query}" if query else "")
    return UpstreamRequest(command.method, url, headers, body)
