"""The event's JSON is what consumers validate against: one schema, both ways."""

from __future__ import annotations

from gateway.domain.events import RequestLogEvent
from tests.unit.events.samples import sample_event


def test_an_event_survives_its_json() -> None:
    event = sample_event(3)
    assert RequestLogEvent.from_json(event.to_json()) == event
    assert event.to_dict()["ts"].endswith("+00:00")  # RFC 3339, UTC


def test_the_schema_names_every_contract_field() -> None:
    properties = RequestLogEvent.json_schema()["properties"]
    contract = (
        "id ts provider operation route method model stream status outcome latency_ms ttft_ms "
        "usage caller upstream upstream_request_id client_ip user_agent bytes_in bytes_out error"
    )
    assert set(contract.split()) <= set(properties)
