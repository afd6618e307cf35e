"""Assembling the app, running it in-process (`start_fake_provider`) or from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from types import TracebackType

from aiohttp import web

from gateway.devtools.fake_provider import claude, claude_batches, gemini, openai, openai_responses
from gateway.devtools.fake_provider.dialects import dialect_for_path
from gateway.devtools.fake_provider.endpoint import Call, FakeError, endpoint
from gateway.devtools.fake_provider.state import STATE, FakeState, RecordedRequest

# Message Batches may be large; the real limit is 256 MB (protocols.md 1.6).
_MAX_BODY = 256 * 1024 * 1024
# Stalled streams would otherwise hold `close()` for aiohttp's default 60 s.
_SHUTDOWN_TIMEOUT = 0.1


@endpoint(lambda request: dialect_for_path(request.path, request.headers))
async def _not_found(call: Call) -> web.StreamResponse:
    raise FakeError(404, f"no route for {call.request.method} {call.request.path}")


def _gemini_key(request: web.Request) -> bool:
    return "x-goog-api-key" in request.headers or "key" in request.query


async def _v1_models(request: web.Request) -> web.StreamResponse:
    """`GET /v1/models` is OpenAI's and Claude's list, and Gemini's in API version v1."""
    if _gemini_key(request):
        return await gemini.list_models(request)
    return await openai.models(request)


async def _v1_model(request: web.Request) -> web.StreamResponse:
    if _gemini_key(request):
        return await gemini.model_route(request)
    return await openai.model_info(request)


def build_app(
    *, public_base_url: str | None = None, record_limit: int = 1000, new_api: bool = False
) -> web.Application:
    """The fake provider as an aiohttp app; `public_base_url` prefixes batch `results_url`s;
    `new_api`: answer as new-api where it differs from the providers (its model-list rule)."""
    app = web.Application(client_max_size=_MAX_BODY)
    app[STATE] = FakeState(
        public_base_url=public_base_url, record_limit=record_limit, new_api=new_api
    )
    app.router.add_get("/v1/models", _v1_models)
    app.router.add_get("/v1/models/{tail}", _v1_model)
    for module in (claude_batches, claude, openai, openai_responses, gemini):
        module.add_routes(app.router)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


class FakeProvider:
    """A running fake provider: its URL, the requests it received, and how to stop it."""

    def __init__(self, runner: web.AppRunner, state: FakeState, host: str, port: int) -> None:
        self._runner = runner
        self._state = state
        self.port = port
        self.url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._state.requests

    def clear(self) -> None:
        self._state.requests.clear()

    async def close(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> FakeProvider:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


async def _serve(app: web.Application, host: str, port: int) -> FakeProvider:
    # handler_cancellation: a client that hangs up on a stalled stream frees its handler at once.
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=_SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = int(runner.addresses[0][1])
    return FakeProvider(runner, app[STATE], host, bound_port)


async def start_fake_provider(
    host: str = "127.0.0.1", port: int = 0, *, new_api: bool = False
) -> FakeProvider:
    """Start the fake provider on `host:port` (0 picks a free port) inside the running loop;
    `new_api`: playing new-api rather than the providers."""
    return await _serve(build_app(new_api=new_api), host, port)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.devtools.fake_provider",
        description="Serve fake Claude, OpenAI and Gemini APIs for offline runs and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18001)
    parser.add_argument("--public-base-url", default=None, help="origin used in batch results_url")
    parser.add_argument(
        "--record-limit", type=int, default=0, help="requests kept in memory (0: none, fastest)"
    )
    parser.add_argument(
        "--new-api",
        action="store_true",
        help="answer as new-api where it differs from the providers: Claude's model list only "
        "to x-api-key with anthropic-version (for features.new_api_enabled: true)",
    )
    return parser.parse_args(argv)


async def _run_forever(args: argparse.Namespace) -> None:
    app = build_app(
        public_base_url=args.public_base_url, record_limit=args.record_limit, new_api=args.new_api
    )
    provider = await _serve(app, args.host, args.port)
    print(f"fake provider listening on {provider.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await provider.close()


def main(argv: list[str] | None = None) -> None:
    """Run the fake provider until SIGINT or SIGTERM."""
    args = _parse_args(argv)
    try:
        import uvloop  # optional speed-up, imported only when the CLI runs
    except ImportError:
        asyncio.run(_run_forever(args))
    else:
        uvloop.run(_run_forever(args))
