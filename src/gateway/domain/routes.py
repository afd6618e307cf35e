"""The routes the gateway relays, and the path-safety rules for segments taken from a path.

A route's upstream path is always rebuilt from its template and validated segments, never copied
from the incoming path, so `..`, encoded slashes or `%2e%2e` can never reach another upstream path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from gateway.domain.errors import RouteNotFound
from gateway.domain.provider import GEMINI_ACTIONS, Operation, Provider

# Model names are like "gemini-2.5-flash", "gemini-embedding-001", "tunedModels-x" or "learnlm-2.0".
_GEMINI_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
# Anthropic batch ids are like "msgbatch_013Zva2CMHLNnXjNJJKqJ2EF".
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True, slots=True)
class Route:
    provider: Provider
    operation: Operation
    upstream_path: str
    # The model when the path names it (Gemini); otherwise it is read from the body.
    path_model: str | None = None
    # The provider's object the path names (a Claude message batch's id), where it matters.
    resource_id: str | None = None


def _safe(segment: str, pattern: re.Pattern[str], what: str) -> str:
    if ".." in segment or pattern.fullmatch(segment) is None:
        raise RouteNotFound(f"invalid {what} in path")
    return segment


# google-genai 3.x calls the Gemini API's `v1` by default; earlier SDKs and most tools use `v1beta`.
GEMINI_VERSIONS = frozenset({"v1beta", "v1"})


# Parsed once per model and action, not per request (a Route is immutable; bad paths raise,
# and are not kept).
@lru_cache(maxsize=1024)
def gemini_model_route(model_and_action: str, version: str = "v1beta") -> Route:
    """`POST /{version}/models/{model}:{action}`: the action follows the last ':' of a segment."""
    model, sep, action = model_and_action.rpartition(":")
    operation = GEMINI_ACTIONS.get(action)
    if not sep or operation is None or version not in GEMINI_VERSIONS:
        raise RouteNotFound(f"unsupported Gemini model action '{action[:64]}'")
    model = _safe(model, _GEMINI_MODEL, "model")
    return Route(Provider.GEMINI, operation, f"/{version}/models/{model}:{action}", model)


def gemini_get_model_route(model: str, version: str = "v1beta") -> Route:
    if version not in GEMINI_VERSIONS:
        raise RouteNotFound("unsupported Gemini API version")
    action = model.rpartition(":")[2]
    if action in GEMINI_ACTIONS:  # a GET of `{model}:{action}`: say so, not "invalid model"
        raise RouteNotFound(f"'{action}' is called with POST, not GET")
    model = _safe(model, _GEMINI_MODEL, "model")
    return Route(Provider.GEMINI, Operation.GET_MODEL, f"/{version}/models/{model}", model)


# OpenAI fine-tune ids carry colons: "ft:gpt-4o-mini:org:custom:abc123".
_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,255}")


def model_info_route(provider: Provider, model: str) -> Route:
    """`GET /v1/models/{model}` of OpenAI or Claude (Gemini's is gemini_get_model_route)."""
    model = _safe(model, _MODEL_ID, "model")
    return Route(provider, Operation.GET_MODEL, f"/v1/models/{model}", model)


def gemini_list_models_route(version: str = "v1beta") -> Route:
    return Route(Provider.GEMINI, Operation.LIST_MODELS, f"/{version}/models")


_BATCH_SUFFIX = {
    Operation.BATCH_GET: "",
    Operation.BATCH_DELETE: "",
    Operation.BATCH_RESULTS: "/results",
    Operation.BATCH_CANCEL: "/cancel",
}


def claude_batch_route(operation: Operation, batch_id: str) -> Route:
    batch_id = _safe(batch_id, _BATCH_ID, "batch id")
    path = f"/v1/messages/batches/{batch_id}{_BATCH_SUFFIX[operation]}"
    return Route(Provider.CLAUDE, operation, path, resource_id=batch_id)


# Routes with no variable part: (method, path) -> route.
STATIC_ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/v1/messages"): Route(Provider.CLAUDE, Operation.MESSAGES, "/v1/messages"),
    ("POST", "/v1/messages/count_tokens"): Route(
        Provider.CLAUDE, Operation.COUNT_TOKENS, "/v1/messages/count_tokens"
    ),
    ("POST", "/v1/messages/batches"): Route(
        Provider.CLAUDE, Operation.BATCH_CREATE, "/v1/messages/batches"
    ),
    ("GET", "/v1/messages/batches"): Route(
        Provider.CLAUDE, Operation.BATCH_LIST, "/v1/messages/batches"
    ),
    ("POST", "/responses"): Route(Provider.OPENAI, Operation.RESPONSES, "/responses"),
    ("POST", "/v1/responses"): Route(Provider.OPENAI, Operation.RESPONSES, "/v1/responses"),
    ("POST", "/v1/chat/completions"): Route(
        Provider.OPENAI, Operation.CHAT_COMPLETIONS, "/v1/chat/completions"
    ),
    ("POST", "/chat/completions"): Route(
        Provider.OPENAI, Operation.CHAT_COMPLETIONS, "/chat/completions"
    ),
    ("POST", "/v1/completions"): Route(Provider.OPENAI, Operation.COMPLETIONS, "/v1/completions"),
    ("POST", "/v1/embeddings"): Route(Provider.OPENAI, Operation.EMBEDDINGS, "/v1/embeddings"),
    ("GET", "/v1/models"): Route(Provider.OPENAI, Operation.LIST_MODELS, "/v1/models"),
    ("GET", "/v1beta/models"): Route(Provider.GEMINI, Operation.LIST_MODELS, "/v1beta/models"),
}


# The paths of OpenAI's routes (but the /v1/models it shares): a request on one expects
# OpenAI's envelope whatever headers it carries.
_OPENAI_PATHS = frozenset(
    path
    for (_, path), route in STATIC_ROUTES.items()
    if route.provider is Provider.OPENAI and path != "/v1/models"
)


def provider_for_path(
    path: str, gemini_credential: bool = False, claude_version: bool = False
) -> Provider:
    """Whose error envelope a request on `path` expects (also for paths that match no route).

    A path of one provider's routes decides. Elsewhere (the /v1/models paths the SDKs share, and
    paths no route matches, such as /v1/files) the request's headers tell whose SDK sent it:
    `claude_version`, an anthropic-version header; `gemini_credential`, x-goog-api-key or ?key=.
    """
    if path.startswith("/v1beta"):
        return Provider.GEMINI
    if path.startswith("/v1/messages"):
        return Provider.CLAUDE
    if path.startswith("/v1/models") and path.rpartition(":")[2] in GEMINI_ACTIONS:
        return Provider.GEMINI  # a Gemini action, whatever the headers (not OpenAI's "ft:...")
    if path not in _OPENAI_PATHS:
        if claude_version:
            return Provider.CLAUDE
        if gemini_credential:
            return Provider.GEMINI
    return Provider.OPENAI
