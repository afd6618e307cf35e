"""The gateway's own errors in each provider's envelope: a client's error reads as one."""

from __future__ import annotations

import orjson
import pytest

from gateway.domain.error_envelopes import error_body
from gateway.domain.provider import Provider

# Every status the gateway answers itself.
STATUSES = (400, 401, 403, 404, 405, 408, 413, 426, 429, 500, 502, 503, 504)
# What each provider's SDK or docs give server-side failures (protocols.md 1.7, 2.7, 3.5).
SERVER_KINDS = {
    Provider.CLAUDE: {"api_error", "overloaded_error", "timeout_error"},
    Provider.OPENAI: {"server_error"},
    Provider.GEMINI: {"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED"},
}


def _kind(provider: Provider, status: int) -> str:
    error = orjson.loads(error_body(provider, status, "m"))["error"]
    return str(error["status"] if provider is Provider.GEMINI else error["type"])


@pytest.mark.parametrize("provider", list(Provider))
@pytest.mark.parametrize("status", STATUSES)
def test_a_client_error_never_reads_as_a_server_failure(provider: Provider, status: int) -> None:
    kind = _kind(provider, status)
    server_kind = kind in SERVER_KINDS[provider]
    # 408 is the client's slowness: Gemini has no kind for it but the deadline's.
    assert server_kind is (status >= 500 or (provider is Provider.GEMINI and status == 408))


def test_a_request_timeout_in_each_envelope() -> None:
    assert _kind(Provider.CLAUDE, 408) == "invalid_request_error"  # "other 4xx", protocols.md
    openai = orjson.loads(error_body(Provider.OPENAI, 408, "m"))["error"]
    assert (openai["type"], openai["code"]) == ("invalid_request_error", "request_timeout")
    assert _kind(Provider.GEMINI, 408) == "DEADLINE_EXCEEDED"


@pytest.mark.parametrize("provider", list(Provider))
def test_a_status_the_tables_do_not_name_gets_its_class_kind(provider: Provider) -> None:
    assert _kind(provider, 418) not in SERVER_KINDS[provider]
    assert _kind(provider, 507) in SERVER_KINDS[provider]
