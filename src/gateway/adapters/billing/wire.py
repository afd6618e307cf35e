"""The usage record as JSON: the body of `POST /v1/usage` (docs/billing-api.md) and an outbox line.

One encoder for both, so that a record replayed from the outbox is byte for byte the body the
first attempt sent, and the billing service's idempotency check sees the same document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.domain.outcome import Outcome
from gateway.domain.ports.billing import UsageRecord
from gateway.domain.provider import Operation, Provider
from gateway.domain.usage import Usage

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


class MalformedRecord(ValueError):
    """A stored or received record that cannot be read back (never carries the record's text)."""


def record_document(record: UsageRecord) -> dict[str, Any]:
    ts = record.ts if record.ts.tzinfo else record.ts.replace(tzinfo=UTC)
    return {
        "request_id": record.request_id,
        "ts": ts.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "caller": record.caller_key_hash,
        "caller_fingerprint": record.caller_fingerprint,
        "provider": str(record.provider),
        "operation": str(record.operation),
        "model": record.model,
        "usage": record.usage.as_dict(),
        "outcome": str(record.outcome),
        "status": record.status,
        "partial": record.partial,
        "estimated": record.estimated,
    }


def encode_record(record: UsageRecord) -> bytes:
    return orjson.dumps(record_document(record))


def decode_record(data: bytes | str) -> UsageRecord:
    try:
        doc = orjson.loads(data)
        return _from_document(doc)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MalformedRecord(type(exc).__name__) from None


def _from_document(doc: dict[str, Any]) -> UsageRecord:
    usage = doc["usage"]
    counts = {name: _count(usage.get(name, 0)) for name in _USAGE_FIELDS}
    request_id = doc["request_id"]
    if not isinstance(request_id, str) or not request_id:
        raise ValueError("request_id")
    return UsageRecord(
        request_id=request_id,
        ts=datetime.fromisoformat(doc["ts"]),
        caller_key_hash=_optional_str(doc.get("caller")),
        caller_fingerprint=_optional_str(doc.get("caller_fingerprint")),
        provider=Provider(doc["provider"]),
        operation=Operation(doc["operation"]),
        model=_optional_str(doc.get("model")),
        usage=Usage(**counts),
        outcome=Outcome(doc["outcome"]),
        status=int(doc["status"]),
        partial=bool(doc.get("partial", False)),
        estimated=bool(doc.get("estimated", False)),
    )


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("token count")
    return value


def _optional_str(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError("expected a string")
