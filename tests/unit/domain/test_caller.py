"""Who is calling: a key's hash and fingerprint, computed once per process per key."""

from __future__ import annotations

import hashlib

from gateway.domain.caller import CredentialPlace, caller_for


def test_a_caller_carries_its_keys_hash_and_fingerprint_never_the_key_in_clear() -> None:
    caller = caller_for("sk-test-KEY", CredentialPlace.BEARER)
    assert caller.key_hash == hashlib.sha256(b"sk-test-KEY").hexdigest()
    assert caller.fingerprint is not None and "sk-test-KEY" not in caller.fingerprint
    assert "sk-test-KEY" not in repr(caller)
    assert caller.place is CredentialPlace.BEARER


def test_the_same_key_in_the_same_place_is_one_shared_caller() -> None:
    first = caller_for("sk-shared", CredentialPlace.X_API_KEY)
    assert caller_for("sk-shared", CredentialPlace.X_API_KEY) is first
    # The place is part of who calls: new-api passthrough puts the key back where it was.
    elsewhere = caller_for("sk-shared", CredentialPlace.BEARER)
    assert elsewhere.place is CredentialPlace.BEARER and elsewhere.key_hash == first.key_hash
