"""A relayed answer's header block is byte for byte what Sanic's own response would send."""

from __future__ import annotations

import pytest
from sanic.compat import Header
from sanic.headers import format_http1_response
from sanic.response import HTTPResponse

from gateway.entrypoints.http.relayed_response import RelayedResponse

HEADERS = [
    ("content-type", "application/json"),
    ("x-request-id", "req_0123456789"),
    ("x-gateway-request-id", "01JDXYZ1234567890ABCDEFGHJ"),
    ("x-gateway-overhead-ms", "0.153"),
]


def _head(cls: type[HTTPResponse], headers: list[tuple[str, str]], **kwargs: object) -> bytes:
    response = cls(b"{}", headers=Header(headers), **kwargs)  # type: ignore[arg-type]
    response.headers["content-length"] = 2  # as Sanic's writer adds them: not strings
    response.headers["connection"] = "keep-alive"
    return format_http1_response(response.status, response.processed_headers)


@pytest.mark.parametrize(
    "headers",
    [
        HEADERS,
        # Non-ASCII, a tab: kept as Sanic keeps them.
        [("content-type", "text/plain"), ("x-odd", "caf\u00e9 \u2603"), ("x-tab", "a\tb")],
        [
            ("content-type", "text/plain\r\n"),
            ("x-injected", "a\r\nset-cookie: x=1"),
            ("x-nul", "a\x00b"),
            ("x-bad\r\n", "v"),
        ],
    ],
    ids=["common", "unusual-but-legal", "control-characters"],
)
def test_header_block_matches_sanic(headers: list[tuple[str, str]]) -> None:
    assert _head(RelayedResponse, headers) == _head(HTTPResponse, headers)


def test_control_characters_are_stripped() -> None:
    head = _head(RelayedResponse, [("x-injected", "a\r\nset-cookie: x=1"), ("x-nul", "a\x00b")])
    assert b"x-injected: aset-cookie: x=1\r\n" in head
    assert b"x-nul: ab\r\n" in head
    assert head.count(b"\r\n") == 6  # the status line, four headers, the blank line


def test_no_content_type_is_invented() -> None:
    # Sanic's own response would say "content-type: None".
    assert b"content-type" not in _head(RelayedResponse, [("x-request-id", "r1")])


def test_a_given_content_type_is_the_default_as_in_sanic() -> None:
    head = _head(RelayedResponse, [], content_type="text/plain")
    assert head == _head(HTTPResponse, [], content_type="text/plain")
    assert b"content-type: text/plain\r\n" in head


def test_no_body_status_gets_no_content_type() -> None:
    assert b"content-type" not in _head(RelayedResponse, [], status=304)
