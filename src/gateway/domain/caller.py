"""Who is calling: the credential the client presented, as the gateway may know it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.domain.secrets import Secret, fingerprint, key_hash


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

    @property
    def fingerprint(self) -> str | None:
        return fingerprint(self.credential.reveal()) if self.credential else None

    @property
    def key_hash(self) -> str | None:
        return key_hash(self.credential.reveal()) if self.credential else None


ANONYMOUS = Caller(Secret(""), None)
