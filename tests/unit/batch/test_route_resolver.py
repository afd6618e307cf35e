"""resolve_route accepts exactly the contract's relayed routes, as the HTTP routes do."""

from __future__ import annotations

import pytest

from gateway.domain.errors import RouteNotFound
from gateway.domain.provider import Operation, Provider
from gateway.domain.route_resolver import resolve_route

C, OA, G = Provider.CLAUDE, Provider.OPENAI, Provider.GEMINI
BATCH = "/v1/messages/batches/{id}"
ACTION = "/v1beta/models/{model}:{action}"

# (method, path) -> (provider, operation, upstream path, route name, path model)
CONTRACT = {
    ("POST", "/v1/messages"): (C, Operation.MESSAGES, "/v1/messages", "/v1/messages", None),
    ("POST", "/v1/messages/count_tokens"): (
        C,
        Operation.COUNT_TOKENS,
        "/v1/messages/count_tokens",
        "/v1/messages/count_tokens",
        None,
    ),
    ("POST", "/v1/messages/batches"): (
        C,
        Operation.BATCH_CREATE,
        "/v1/messages/batches",
        "/v1/messages/batches",
        None,
    ),
    ("GET", "/v1/messages/batches"): (
        C,
        Operation.BATCH_LIST,
        "/v1/messages/batches",
        "/v1/messages/batches",
        None,
    ),
    ("GET", "/v1/messages/batches/msgbatch_01"): (
        C,
        Operation.BATCH_GET,
        "/v1/messages/batches/msgbatch_01",
        BATCH,
        None,
    ),
    ("GET", "/v1/messages/batches/msgbatch_01/results"): (
        C,
        Operation.BATCH_RESULTS,
        "/v1/messages/batches/msgbatch_01/results",
        BATCH + "/results",
        None,
    ),
    ("POST", "/v1/messages/batches/msgbatch_01/cancel"): (
        C,
        Operation.BATCH_CANCEL,
        "/v1/messages/batches/msgbatch_01/cancel",
        BATCH + "/cancel",
        None,
    ),
    ("DELETE", "/v1/messages/batches/msgbatch_01"): (
        C,
        Operation.BATCH_DELETE,
        "/v1/messages/batches/msgbatch_01",
        BATCH,
        None,
    ),
    ("POST", "/responses"): (OA, Operation.RESPONSES, "/responses", "/responses", None),
    ("POST", "/v1/responses"): (OA, Operation.RESPONSES, "/v1/responses", "/v1/responses", None),
    ("POST", "/v1/chat/completions"): (
        OA,
        Operation.CHAT_COMPLETIONS,
        "/v1/chat/completions",
        "/v1/chat/completions",
        None,
    ),
    ("POST", "/chat/completions"): (
        OA,
        Operation.CHAT_COMPLETIONS,
        "/chat/completions",
        "/chat/completions",
        None,
    ),
    ("POST", "/v1/completions"): (
        OA,
        Operation.COMPLETIONS,
        "/v1/completions",
        "/v1/completions",
        None,
    ),
    ("POST", "/v1/embeddings"): (
        OA,
        Operation.EMBEDDINGS,
        "/v1/embeddings",
        "/v1/embeddings",
        None,
    ),
    ("GET", "/v1/models"): (OA, Operation.LIST_MODELS, "/v1/models", "/v1/models", None),
    ("GET", "/v1/models/ft:gpt-4o-mini:org:x"): (
        OA,
        Operation.GET_MODEL,
        "/v1/models/ft:gpt-4o-mini:org:x",
        "/v1/models/{model}",
        "ft:gpt-4o-mini:org:x",
    ),
    ("GET", "/v1beta/models"): (G, Operation.LIST_MODELS, "/v1beta/models", "/v1beta/models", None),
    ("GET", "/v1beta/models/gemini-2.5-flash"): (
        G,
        Operation.GET_MODEL,
        "/v1beta/models/gemini-2.5-flash",
        "/v1beta/models/{model}",
        "gemini-2.5-flash",
    ),
    **{
        ("POST", f"/v1beta/models/gemini-2.5-flash:{action}"): (
            G,
            operation,
            f"/v1beta/models/gemini-2.5-flash:{action}",
            ACTION,
            "gemini-2.5-flash",
        )
        for action, operation in {
            "generateContent": Operation.GENERATE_CONTENT,
            "streamGenerateContent": Operation.STREAM_GENERATE_CONTENT,
            "countTokens": Operation.GEMINI_COUNT_TOKENS,
            "embedContent": Operation.EMBED_CONTENT,
            "batchEmbedContents": Operation.BATCH_EMBED_CONTENTS,
        }.items()
    },
    ("POST", "/v1/models/gemini-embedding-001:batchEmbedContents"): (
        G,
        Operation.BATCH_EMBED_CONTENTS,
        "/v1/models/gemini-embedding-001:batchEmbedContents",
        "/v1/models/{model}:{action}",
        "gemini-embedding-001",
    ),
}


@pytest.mark.parametrize(("method", "path"), list(CONTRACT))
def test_every_contract_route_resolves(method: str, path: str) -> None:
    provider, operation, upstream, name, model = CONTRACT[(method, path)]

    route, route_name = resolve_route(method, path)

    assert (route.provider, route.operation, route.upstream_path) == (provider, operation, upstream)
    assert route.path_model == model
    assert route_name == name


@pytest.mark.parametrize(("method", "path"), list(CONTRACT))
def test_one_trailing_slash_is_ignored_like_the_server(method: str, path: str) -> None:
    assert resolve_route(method, path + "/") == resolve_route(method, path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/chat/completions"),  # wrong method
        ("DELETE", "/v1/messages"),
        ("GET", "/responses"),  # the Codex WebSocket probe: answered 426 by the gateway itself
        ("GET", "/v1/responses"),
        ("GET", "/health"),
        ("GET", "/ready"),
        ("GET", "/metrics"),
        ("POST", "/V1/messages"),  # paths are case-sensitive
        ("POST", "//v1/chat/completions"),
        ("POST", "/v1/chat/completions//"),
        ("POST", "/v1beta/models/gemini-2.5-flash%3AgenerateContent"),  # no percent-decoding
        ("POST", "/v1beta/models/gemini-2.5-flash:unknownAction"),
        ("POST", "/v1beta/models/gemini-2.5-flash"),  # no action
        ("POST", "/v2/models/gemini-2.5-flash:generateContent"),
        ("POST", "/v1beta/models/../x:generateContent"),
        ("POST", "/v1beta/models/a/b:generateContent"),
        ("GET", "/v1/messages/batches/../../v1/models"),
        ("GET", "/v1/messages/batches/abc/unknown"),
        ("POST", "/v1/messages/batches/abc/results"),
        ("GET", "/v1/messages/batches/bad%2Fid"),
        ("GET", "/v1beta/models/a..b"),
        ("GET", "/"),
        ("POST", ""),
    ],
)
def test_anything_else_is_not_a_relayed_route(method: str, path: str) -> None:
    with pytest.raises(RouteNotFound):
        resolve_route(method, path)
