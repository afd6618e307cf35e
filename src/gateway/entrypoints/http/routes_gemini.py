"""Gemini API routes. The model and the action share one path segment: `{model}:{action}`.

google-genai 3.x calls `/v1/...` by default and older clients `/v1beta/...`: both are relayed to
the same version upstream. `GET /v1/models[/{model}]` is shared with OpenAI and Claude and is
dispatched in routes_openai by the credential header.
"""

from __future__ import annotations

from sanic import Blueprint, Request

from gateway.domain.routes import (
    gemini_get_model_route,
    gemini_list_models_route,
    gemini_model_route,
)
from gateway.entrypoints.http.relay_handler import relay

gemini = Blueprint("gemini")

_LIST = gemini_list_models_route("v1beta")


def uses_gemini_credential(request: Request) -> bool:
    return "x-goog-api-key" in request.headers or "key=" in request.query_string


@gemini.get("/v1beta/models")
async def list_models(request: Request) -> None:
    await relay(request, _LIST, "/v1beta/models")


@gemini.get("/v1beta/models/<model:str>")
async def get_model(request: Request, model: str) -> None:
    await relay(request, gemini_get_model_route(model), "/v1beta/models/{model}")


@gemini.post("/v1beta/models/<model_action:str>")
async def model_action(request: Request, model_action: str) -> None:
    route = gemini_model_route(model_action)
    await relay(request, route, "/v1beta/models/{model}:{action}")


@gemini.post("/v1/models/<model_action:str>")
async def model_action_v1(request: Request, model_action: str) -> None:
    route = gemini_model_route(model_action, "v1")
    await relay(request, route, "/v1/models/{model}:{action}")
