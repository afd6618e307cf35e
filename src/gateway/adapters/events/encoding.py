"""One event as bytes: the NATS payload, the spool line and the JSONL line are the same JSON."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from gateway.domain.events import RequestLogEvent


@dataclass(slots=True)  # built per event: not frozen, cheaper (treat as immutable)
class Outgoing:
    """An event ready for JetStream: its subject, its dedup id and its JSON payload."""

    subject: str
    msg_id: str
    payload: bytes


def encode_event(event: RequestLogEvent) -> bytes:
    # The event's own orjson serializer: RFC 3339 timestamps, enums as values, no newline.
    return event.to_json()


def subject_for(prefix: str, provider: str) -> str:
    return f"{prefix}.{provider}"


def outgoing(prefix: str, event: RequestLogEvent) -> Outgoing:
    return Outgoing(subject_for(prefix, str(event.provider)), event.id, encode_event(event))


def outgoing_from_line(prefix: str, line: bytes) -> Outgoing:
    """A spooled line back into a message; raises ValueError when the line is not an event."""
    data = orjson.loads(line)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    msg_id, provider = data.get("id"), data.get("provider")
    if not isinstance(msg_id, str) or not isinstance(provider, str):
        raise ValueError("no id or provider")
    return Outgoing(subject_for(prefix, provider), msg_id, line)
