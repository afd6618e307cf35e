"""The effective configuration as YAML, for ``gateway check-config`` and startup logs."""

import re
from typing import Any

import yaml
from pydantic import BaseModel

from gateway.settings.schema import MaskedSecret, Settings

__all__ = ["render_effective_config"]

_MASK = "***"
# user:password@ or token@ in nats://, https://, ... URLs.
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:\s,]*)(?P<password>:[^/@\s,]*)?@"
)
# Shorter secrets are not searched for elsewhere: they would mostly match by coincidence.
_MIN_LEAK_LENGTH = 6


def render_effective_config(settings: Settings) -> str:
    """YAML of every setting, defaults included; secrets read ``***`` (or ``""`` when unset).

    Durations read back as ``30s`` / ``5m``, sizes as ``32MiB`` where exact. Credentials in URLs
    are masked too, as is any secret value copied into a non-secret key.
    """
    secrets = sorted(_secret_values(settings), key=len, reverse=True)
    data = _scrub(settings.model_dump(mode="json"), secrets)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _secret_values(model: BaseModel) -> set[str]:
    found: set[str] = set()
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, MaskedSecret) and len(value.get_secret_value()) >= _MIN_LEAK_LENGTH:
            found.add(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found |= _secret_values(value)
    return found


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    if isinstance(value, str) and value != _MASK:
        for secret in secrets:
            value = value.replace(secret, _MASK)
        return _USERINFO.sub(_mask_userinfo, value)
    return value


def _mask_userinfo(match: re.Match[str]) -> str:
    # user:password@ keeps the user name; a lone token@ (NATS token auth) is the secret itself.
    user = f"{match.group('user')}:" if match.group("password") is not None else ""
    return f"{match.group('scheme')}{user}{_MASK}@"
