"""Segments taken from a path can never make the gateway call another upstream path."""

from __future__ import annotations

import pytest

from gateway.domain.errors import RouteNotFound
from gateway.domain.provider import Operation, Provider
from gateway.domain.routes import (
    claude_batch_route,
    gemini_get_model_route,
    gemini_model_route,
    provider_for_path,
)


@pytest.mark.parametrize(
    ("segment", "path", "operation"),
    [
        (
            "gemini-2.5-flash:generateContent",
            "/v1beta/models/gemini-2.5-flash:generateContent",
            Operation.GENERATE_CONTENT,
        ),
        (
            "gemini-embedding-001:batchEmbedContents",
            "/v1beta/models/gemini-embedding-001:batchEmbedContents",
            Operation.BATCH_EMBED_CONTENTS,
        ),
        (
            "learnlm-2.0-flash-experimental:streamGenerateContent",
            "/v1beta/models/learnlm-2.0-flash-experimental:streamGenerateContent",
            Operation.STREAM_GENERATE_CONTENT,
        ),
    ],
)
def test_gemini_routes_are_rebuilt_from_their_parts(
    segment: str, path: str, operation: Operation
) -> None:
    route = gemini_model_route(segment)
    assert (route.upstream_path, route.operation, route.provider) == (
        path,
        operation,
        Provider.GEMINI,
    )


@pytest.mark.parametrize(
    "segment",
    [
        "..:generateContent",
        "../../v1/x:generateContent",
        "a/b:generateContent",
        "%2e%2e:countTokens",
        "m:generateContent/../../x",
        "m:nope",
        "m",
        ":generateContent",
        "a\\b:generateContent",
        "m%2F:generateContent",
        "m?x=1:generateContent",
        "m#f:generateContent",
    ],
)
def test_unsafe_gemini_segments_are_refused(segment: str) -> None:
    with pytest.raises(RouteNotFound):
        gemini_model_route(segment)


def test_a_gemini_route_is_parsed_once_and_a_refused_one_every_time() -> None:
    first = gemini_model_route("gemini-cache-probe:generateContent")
    assert gemini_model_route("gemini-cache-probe:generateContent") is first
    assert gemini_model_route("gemini-cache-probe:generateContent", "v1") is not first
    for _ in range(2):  # an exception is never kept in place of a route
        with pytest.raises(RouteNotFound):
            gemini_model_route("../x:generateContent")
    assert gemini_model_route.cache_info().maxsize == 1024  # bounded: paths come from clients


@pytest.mark.parametrize("batch_id", ["..", "a/b", "%2e%2e", "a?b", "", "x" * 200, "a.b"])
def test_unsafe_batch_ids_are_refused(batch_id: str) -> None:
    with pytest.raises(RouteNotFound):
        claude_batch_route(Operation.BATCH_GET, batch_id)


def test_batch_routes() -> None:
    route = claude_batch_route(Operation.BATCH_RESULTS, "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF")
    assert route.upstream_path == "/v1/messages/batches/msgbatch_013Zva2CMHLNnXjNJJKqJ2EF/results"


@pytest.mark.parametrize(
    ("path", "gemini_key", "claude_version", "provider"),
    [
        ("/v1beta/x", False, True, Provider.GEMINI),
        ("/v1/messages/x", True, False, Provider.CLAUDE),
        ("/v1/models/g:generateContent", False, False, Provider.GEMINI),
        ("/v1/models/g:generateContent", False, True, Provider.GEMINI),
        # An OpenAI fine-tuned model's id has colons too; it is no Gemini action.
        ("/v1/models/ft:gpt-4o-mini:org::abc", False, False, Provider.OPENAI),
        ("/v1/models/ft:gpt-4o-mini:org::abc", False, True, Provider.CLAUDE),
        ("/v1/models", True, False, Provider.GEMINI),
        ("/v1/models", False, True, Provider.CLAUDE),
        ("/v1/models", False, False, Provider.OPENAI),
        ("/anything", False, False, Provider.OPENAI),
        # Paths no route matches: the SDK that sent it, by its headers (google-genai's
        # files.list, anthropic's beta.files.list got OpenAI's envelope).
        ("/v1/files", True, False, Provider.GEMINI),
        ("/v1/files", False, True, Provider.CLAUDE),
        # An OpenAI route's path stays OpenAI's, whatever the headers.
        ("/v1/chat/completions", True, True, Provider.OPENAI),
    ],
)
def test_error_envelope_follows_the_path_then_the_headers(
    path: str, gemini_key: bool, claude_version: bool, provider: Provider
) -> None:
    assert provider_for_path(path, gemini_key, claude_version) is provider


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_a_get_of_a_gemini_action_says_it_takes_post(version: str) -> None:
    with pytest.raises(RouteNotFound, match="'generateContent' is called with POST, not GET"):
        gemini_get_model_route("gemini-2.5-flash:generateContent", version)
    assert gemini_get_model_route("gemini-2.5-flash", version).path_model == "gemini-2.5-flash"
