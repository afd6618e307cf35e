"""OpenAI and Codex routes."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from gateway.domain.errors import GatewayError
from gateway.domain.provider import Operation, Provider
from gateway.domain.routes import (
    STATIC_ROUTES,
    Route,
    gemini_get_model_route,
    gemini_list_models_route,
    model_info_route,
)
from gateway.entrypoints.http.relay_handler import relay
from gateway.entrypoints.http.routes_gemini import uses_gemini_credential

openai = Blueprint("openai")


class UpgradeRequired(GatewayError):
    status = 426
    kind = "upgrade_required"
    default_message = "WebSocket is not supported here; use HTTP (supports_websockets = false)"


def _relay_route(method: str, path: str) -> None:
    route = STATIC_ROUTES[(method, path)]
    name = path.strip("/").replace("/", "_")

    async def handler(request: Request) -> None:
        await relay(request, route, path)

    openai.add_route(handler, path, methods=[method], name=name)


for _path in ("/responses", "/v1/responses", "/v1/chat/completions", "/chat/completions"):
    _relay_route("POST", _path)
_relay_route("POST", "/v1/completions")
_relay_route("POST", "/v1/embeddings")

_OPENAI_MODELS = STATIC_ROUTES[("GET", "/v1/models")]
_CLAUDE_MODELS = Route(Provider.CLAUDE, Operation.LIST_MODELS, "/v1/models")
_GEMINI_MODELS = gemini_list_models_route("v1")


def _models_provider(request: Request) -> Provider:
    """Three SDKs share /v1/models: the anthropic SDK sends anthropic-version, google-genai a
    Gemini key; everything else is OpenAI's."""
    if "anthropic-version" in request.headers:
        return Provider.CLAUDE
    if uses_gemini_credential(request):
        return Provider.GEMINI
    return Provider.OPENAI


@openai.get("/v1/models")
async def list_models(request: Request) -> None:
    provider = _models_provider(request)
    route = {
        Provider.CLAUDE: _CLAUDE_MODELS,
        Provider.GEMINI: _GEMINI_MODELS,
        Provider.OPENAI: _OPENAI_MODELS,
    }[provider]
    await relay(request, route, "/v1/models")


@openai.get("/v1/models/<model:str>")
async def get_model(request: Request, model: str) -> None:
    provider = _models_provider(request)
    if provider is Provider.GEMINI:
        await relay(request, gemini_get_model_route(model, "v1"), "/v1/models/{model}")
    else:
        await relay(request, model_info_route(provider, model), "/v1/models/{model}")


@openai.get("/v1/responses")
async def responses_websocket(request: Request) -> HTTPResponse:
    # Newer Codex tries a WebSocket first; a quick 426 makes it fall back to HTTP without a
    # retry storm (a 404/405 costs five reconnect attempts).
    raise UpgradeRequired()


@openai.get("/responses")
async def responses_websocket_root(request: Request) -> HTTPResponse:
    raise UpgradeRequired()
