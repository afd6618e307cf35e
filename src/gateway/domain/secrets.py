"""A value that must never be printed: API keys, tokens."""

from __future__ import annotations

import hashlib
import re
from typing import Final

MASK: Final = "***"
# Strings shaped like provider keys or bearer tokens, wherever a client may put them (a model
# name, a path, a user agent): OpenAI and Anthropic `sk-...`, Google `AIza...`, a bearer token,
# a `key=` parameter.
KEY_SHAPED: Final = re.compile(
    r"(?i)(?:\bsk-[A-Za-z0-9_-]{8,}|\bAIza[0-9A-Za-z_-]{20,}"
    r"|\bbearer\s+[A-Za-z0-9._~+/=-]{8,}|\bkey=[^&\s\"']{8,})"
)


def mask_key_shaped(text: str) -> str:
    """`text` with every key-shaped part masked."""
    return KEY_SHAPED.sub(MASK, text)


class Secret:
    """Wraps a credential so that repr(), str() and logging show a mask, never the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value: Final = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


def key_hash(credential: str) -> str:
    """The full SHA-256 of a credential: how ledgers store keys without holding them."""
    return hashlib.sha256(credential.encode()).hexdigest()


def fingerprint_of_hash(digest: str) -> str:
    """A short, stable, non-reversible name for a credential (from its key_hash), fit for logs
    and events."""
    return "fp_" + digest[:16]
