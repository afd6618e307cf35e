"""Building usage records and ledger keys for the billing tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from gateway.adapters.billing import ledger_store
from gateway.domain.caller import Caller, CredentialPlace
from gateway.domain.outcome import Outcome
from gateway.domain.ports.billing import AuthorizationRequest, UsageRecord
from gateway.domain.provider import Operation, Provider
from gateway.domain.secrets import Secret, key_hash
from gateway.domain.usage import Usage


def caller(key: str) -> Caller:
    return Caller(Secret(key), CredentialPlace.BEARER)


def authorization(key: str, model: str = "gpt-4o") -> AuthorizationRequest:
    return AuthorizationRequest(
        request_id="r",
        caller=caller(key),
        provider=Provider.OPENAI,
        operation=Operation.CHAT_COMPLETIONS,
        model=model,
    )


def usage_record(
    request_id: str, key: str | None, *, model: str = "gpt-4o", total: int = 10
) -> UsageRecord:
    return UsageRecord(
        request_id=request_id,
        ts=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        caller_key_hash=key_hash(key) if key else None,
        caller_fingerprint=caller(key).fingerprint if key else None,
        provider=Provider.OPENAI,
        operation=Operation.CHAT_COMPLETIONS,
        model=model,
        usage=Usage(input_tokens=total - total // 2, output_tokens=total // 2),
        outcome=Outcome.OK,
        status=200,
    )


def add_key(db: Path, name: str, key: str, quota: int | None = None) -> None:
    conn = ledger_store.connect(db)
    try:
        ledger_store.add_key(conn, name=name, key_hash=key_hash(key), prefix=key[:10], quota=quota)
    finally:
        conn.close()
