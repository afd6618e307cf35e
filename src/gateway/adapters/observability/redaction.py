"""A structlog processor that keeps credentials out of every log line.

Three nets: values under credential-like keys are masked whole; configured secrets (upstream,
new-api and billing keys) are masked wherever they appear in a string; and strings shaped like
provider keys or bearer tokens are masked. Fields the gateway itself fills with safe values are
skipped, so the one access line per request stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any

from gateway.domain.secrets import KEY_SHAPED, MASK

SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "x-goog-api-key",
        "api-key",
        "api_key",
        "apikey",
        "key",
        "token",
        "access_token",
        "password",
        "secret",
        "credential",
        "cookie",
        "set-cookie",
        "new_api_key",
    }
)
# Values the gateway writes itself (enums, numbers, route templates, fingerprints). Not "event":
# a standard-library line's message is formatted from arguments and could hold anything.
SAFE_KEYS = frozenset(
    {
        "level",
        "timestamp",
        "logger",
        "request_id",
        "provider",
        "operation",
        "method",
        "route",
        "stream",
        "status",
        "outcome",
        "caller",
        "error_type",
        "client_ip",
    }
)


_PLAIN_TYPES = frozenset({int, float, bool, type(None)})
_CACHED_TEXT_MAX = 200  # characters: model names, not log messages
_CACHE_SIZE = 1024


class Redactor:
    __slots__ = ("_cache", "_secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Very short "secrets" would mask ordinary words; real keys are long.
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True))
        self._cache: dict[str, str] = {}

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return KEY_SHAPED.sub(MASK, text)

    def scrub_short(self, text: str) -> str:
        """`scrub`, remembered for short strings, which repeat (model names). The memory is
        bounded: it starts afresh when full, so random strings cannot grow it."""
        scrubbed = self._cache.get(text)
        if scrubbed is None:
            scrubbed = self.scrub(text)
            if len(text) <= _CACHED_TEXT_MAX:
                if len(self._cache) >= _CACHE_SIZE:
                    self._cache.clear()
                self._cache[text] = scrubbed
        return scrubbed

    def value(self, key: str, value: Any) -> Any:
        """`value` redacted as the value of `key`, looking into mappings and sequences."""
        if isinstance(value, str):
            return MASK if key.lower() in SENSITIVE_KEYS else self.scrub(value)
        if isinstance(value, MutableMapping):
            for k in list(value):
                value[k] = self.value(str(k), value[k])
            return value
        if isinstance(value, list | tuple):
            return [self.value(key, item) for item in value]
        return value

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        # Once per log line (the access line too): a type check per field, not isinstance chains.
        for key, value in event_dict.items():
            kind = value.__class__
            if kind is str:
                if key not in SAFE_KEYS:
                    sensitive = key.lower() in SENSITIVE_KEYS
                    event_dict[key] = MASK if sensitive else self.scrub_short(value)
            elif kind not in _PLAIN_TYPES and key not in SAFE_KEYS:
                event_dict[key] = self.value(key, value)
        return event_dict
