"""Who is calling: the credential the client presented, as the gateway may know it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.domain.secrets import Secret, fingerprint_of_hash, key_hash


class CredentialPlace(StrEnum):
    """Where the client put its credential; new-api passthrough puts it back in the same place."""

    X_API_KEY = "x-api-key"
    BEARER = "authorization"
    GOOG_HEADER = "x-goog-api-key"
    GOOG_QUERY = "key"


@dataclass(frozen=True, slots=True)
class Caller:
    credential: Secret
    place: CredentialPlace | None
    # sha256 of the credential (how ledgers know a key without holding it) and its short form
    # for logs and events; computed from the credential when not given.
    key_hash: str | None = None
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.credential and self.key_hash is None:
            digest = key_hash(self.credential.reveal())
            object.__setattr__(self, "key_hash", digest)
            object.__setattr__(self, "fingerprint", fingerprint_of_hash(digest))


# Clients reuse a handful of keys: hashing each (and building its Caller, which is immutable and
# so shared) once per process, not once per request, is measurably cheaper on the hot path.
# Bounded so a flood of random keys cannot grow it.
_KNOWN: dict[tuple[str, CredentialPlace], Caller] = {}
_KNOWN_LIMIT = 10_000


def caller_for(credential: str, place: CredentialPlace) -> Caller:
    caller = _KNOWN.get((credential, place))
    if caller is None:
        digest = key_hash(credential)
        caller = Caller(Secret(credential), place, digest, fingerprint_of_hash(digest))
        if len(_KNOWN) >= _KNOWN_LIMIT:
            _KNOWN.clear()
        _KNOWN[(credential, place)] = caller
    return caller


ANONYMOUS = Caller(Secret(""), None, None, None)
