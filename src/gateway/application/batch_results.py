"""Result lines in the OpenAI Batch output format, and reading back what a previous run wrote.

A response: {"id", "custom_id", "response": {"status_code", "request_id", "body"}, "error": null}
A failure with no response: {"id", "custom_id", "response": null, "error": {"code", "message"}}
`request_id` is the gateway's id of the last attempt: the request-log event's `id` and the usage
record's `request_id`. A body that is not JSON (Claude batch results are JSONL) is a string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


def _body_value(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", errors="replace")


def response_line(
    custom_id: str, status: int, request_id: str, body: bytes, *, text: bool = False
) -> bytes:
    """`text`: the body is kept as a string even when it parses as JSON (a JSONL body of one
    line does)."""
    value = body.decode("utf-8", errors="replace") if text else _body_value(body)
    document = {
        "id": f"batch_req_{request_id}",
        "custom_id": custom_id,
        "response": {"status_code": status, "request_id": request_id, "body": value},
        "error": None,
    }
    return orjson.dumps(document) + b"\n"


def error_line(custom_id: str, request_id: str, code: str, message: str) -> bytes:
    document = {
        "id": f"batch_req_{request_id}",
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }
    return orjson.dumps(document) + b"\n"


@dataclass(slots=True)
class ResultScan:
    done: set[str] = field(default_factory=set)
    complete_length: int = 0  # bytes up to the end of the last complete line
    truncated_tail: bool = False  # bytes after the last newline: a line cut by a crash
    bad_lines: list[int] = field(default_factory=list)  # complete lines that are not results


def scan_results(data: bytes) -> ResultScan:
    """The custom_ids already answered in an output file's contents.

    Only newline-terminated lines count: each line is written whole with its newline, so bytes
    after the last newline are a write cut short and the request must run again.
    """
    scan = ResultScan()
    end = data.rfind(b"\n") + 1
    scan.complete_length = end
    scan.truncated_tail = end < len(data)
    for number, raw in enumerate(data[:end].splitlines(), start=1):
        if not raw.strip():
            continue
        custom_id = _result_id(raw)
        if custom_id is None:
            scan.bad_lines.append(number)
        else:
            scan.done.add(custom_id)
    return scan


def _result_id(raw: bytes) -> str | None:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    custom_id = document.get("custom_id")
    return custom_id if isinstance(custom_id, str) and custom_id else None
