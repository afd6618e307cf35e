"""OpenAI Batch input lines: what runs, and what is reported with its line number."""

from __future__ import annotations

import orjson
import pytest

from gateway.application.batch_input import BadLine, parse_line, plan_batch
from gateway.domain.provider import Operation, Provider


def line(
    custom_id: object = "r1",
    method: object = "POST",
    url: object = "/v1/chat/completions",
    body: object = None,
    **extra: object,
) -> bytes:
    document: dict[str, object] = {"custom_id": custom_id, "method": method, "url": url, **extra}
    document["body"] = {"model": "gpt-4o-mini", "messages": []} if body is None else body
    return orjson.dumps(document)


def test_a_line_becomes_a_request_on_its_route_with_the_query_kept() -> None:
    raw = line(url="/v1/messages?beta=true", body={"model": "claude-x", "max_tokens": 5})

    request = parse_line(7, raw)

    assert request.line == 7
    assert request.custom_id == "r1"
    assert request.route.provider is Provider.CLAUDE
    assert request.route_name == "/v1/messages"
    assert request.query == "beta=true"
    assert orjson.loads(request.body) == {"model": "claude-x", "max_tokens": 5}


def test_gemini_model_actions_resolve_from_the_url() -> None:
    request = parse_line(1, line(url="/v1beta/models/gemini-2.5-flash:generateContent", body={}))

    assert request.route.operation is Operation.GENERATE_CONTENT
    assert request.route.path_model == "gemini-2.5-flash"


def test_a_get_without_body_sends_no_body_and_method_case_is_forgiven() -> None:
    raw = orjson.dumps({"custom_id": "m", "method": "get", "url": "/v1/models"})

    request = parse_line(1, raw)

    assert (request.method, request.body) == ("GET", b"")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "a line must be a JSON object"),
        (line(custom_id=""), "custom_id must be a non-empty string"),
        (line(custom_id=5), "custom_id must be a non-empty string"),
        (line(custom_id="x" * 513), "custom_id is longer than"),
        (line(method="PATCH"), "method must be GET, POST or DELETE"),
        (line(url="https://api.openai.com/v1/chat/completions"), "url must be a path"),
        (line(url="/v1/unknown"), "unknown url"),
        (line(url="/v1/chat/completions#x"), "without host or fragment"),
        (line(body=[1]), "body must be a JSON object"),
        (line(body={"model": "m", "stream": True}), "streaming is not supported"),
        (line(url="/v1beta/models/g:streamGenerateContent", body={}), "call :generateContent"),
        (line(url="/v1beta/models/g:generateContent?alt=sse", body={}), "streaming"),
    ],
)
def test_bad_lines_say_why(raw: bytes, message: str) -> None:
    with pytest.raises(BadLine) as caught:
        parse_line(3, raw)

    assert message in caught.value.message


def test_a_body_over_the_servers_limit_is_a_bad_line() -> None:
    raw = line(body={"model": "m", "pad": "x" * 100})
    assert parse_line(1, raw, max_body=200).body
    with pytest.raises(BadLine, match=r"larger than server.http.max_body_size \(50 bytes\)"):
        parse_line(1, raw, max_body=50)


def test_plan_reports_problems_by_line_skips_duplicates_and_resumed_ids() -> None:
    lines = [
        line("a"),
        b"\n",  # blank lines are ignored, but still counted
        b"garbage\n",
        line("b", body={"model": "m", "stream": True}),
        line("a"),
        line("c"),
        line("done-before"),
    ]

    plan = plan_batch(lines, {"done-before"})

    assert [r.custom_id for r in plan.requests] == ["a", "c"]
    assert [(p.line, p.custom_id) for p in plan.problems] == [(3, None), (4, "b"), (5, "a")]
    assert "duplicate custom_id 'a'" in plan.problems[2].message
    assert plan.already_done == 1
