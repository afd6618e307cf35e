"""Result lines in the OpenAI Batch output format, and resuming from a previous run's file."""

from __future__ import annotations

import orjson

from gateway.application.batch_results import error_line, response_line, scan_results


def test_a_response_line_holds_status_request_id_and_the_json_body() -> None:
    raw = response_line("r1", 200, "abc", b'{"ok": true}')

    assert raw.endswith(b"\n")
    assert orjson.loads(raw) == {
        "id": "batch_req_abc",
        "custom_id": "r1",
        "response": {"status_code": 200, "request_id": "abc", "body": {"ok": True}},
        "error": None,
    }


def test_a_body_that_is_not_json_is_kept_as_text() -> None:
    document = orjson.loads(response_line("r1", 200, "abc", b'{"a":1}\n{"b":2}\n'))

    assert document["response"]["body"] == '{"a":1}\n{"b":2}\n'


def test_an_error_line_has_no_response() -> None:
    document = orjson.loads(error_line("r1", "abc", "upstream_unreachable", "down"))

    assert document["response"] is None
    assert document["error"] == {"code": "upstream_unreachable", "message": "down"}


def test_scan_finds_done_ids_and_a_truncated_last_line() -> None:
    data = (
        response_line("a", 200, "1", b"{}")
        + b"not a result\n"
        + error_line("b", "2", "x", "y")
        + b'{"id": "batch_req_3", "custom_id": "c", "resp'
    )

    scan = scan_results(data)

    assert scan.done == {"a", "b"}
    assert scan.truncated_tail
    assert scan.complete_length == data.rindex(b"\n") + 1
    assert scan.bad_lines == [2]


def test_scan_of_an_empty_or_clean_file() -> None:
    assert scan_results(b"").done == set()
    clean = response_line("a", 200, "1", b"{}")
    assert not scan_results(clean).truncated_tail
