"""The relay's settings as the container derives them from the config."""

from __future__ import annotations

import pytest

from gateway.container.from_settings import relay_settings
from gateway.domain.provider import Provider
from gateway.settings import parse_settings


@pytest.mark.parametrize(
    ("mode", "forwards"), [("disabled", True), ("http", True), ("local", False)]
)
def test_callers_keys_go_upstream_unless_the_gateway_issued_them(mode: str, forwards: bool) -> None:
    """Local billing's keys are minted by `gateway keys add`: no provider knows them."""
    settings = parse_settings({"billing": {"mode": mode}}, env={})
    relay = relay_settings(settings)
    assert relay.forward_caller_keys is forwards
    assert not relay.direct[Provider.OPENAI].api_key  # no key configured: the case it governs
