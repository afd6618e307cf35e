"""The framework's floor: the same minimal pass-through proxy as floor_aiohttp.py, served by Sanic.

One catch-all route; method, path (with query), headers and body forwarded through one shared
aiohttp ClientSession; the answer streamed back with `request.respond()` + `send()` per chunk
as it arrives. The gateway is built on Sanic, so this is the most it can hope to reach.

Run: python bench/floor_sanic.py --port 18120 --upstream http://127.0.0.1:18001
"""

from __future__ import annotations

import argparse

import aiohttp
from floor_aiohttp import _forwardable  # type: ignore[import-not-found]
from sanic import Request, Sanic
from sanic.config import Config


def build_app(upstream: str, pool: int) -> Sanic:  # type: ignore[type-arg]
    config = Config()
    config.update(
        {"ACCESS_LOG": False, "MOTD": False, "RESPONSE_TIMEOUT": 310, "KEEP_ALIVE_TIMEOUT": 120}
    )
    app: Sanic = Sanic("floor_sanic", config=config)  # type: ignore[type-arg]
    base = upstream.rstrip("/")

    @app.before_server_start
    async def open_session(app: Sanic) -> None:  # type: ignore[type-arg]
        connector = aiohttp.TCPConnector(limit=pool, keepalive_timeout=30)
        app.ctx.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    @app.after_server_stop
    async def close_session(app: Sanic) -> None:  # type: ignore[type-arg]
        await app.ctx.session.close()

    @app.route("/<path:path>", methods=["GET", "POST", "DELETE"])
    async def proxy(request: Request, path: str) -> None:
        session: aiohttp.ClientSession = request.app.ctx.session
        url = base + request.path + (f"?{request.query_string}" if request.query_string else "")
        async with session.request(
            request.method, url, data=request.body, headers=_forwardable(request.headers)
        ) as up:
            response = await request.respond(status=up.status, headers=_forwardable(up.headers))
            async for chunk in up.content.iter_any():
                await response.send(chunk)
            await response.eof()

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18120)
    parser.add_argument("--upstream", default="http://127.0.0.1:18001")
    parser.add_argument("--pool", type=int, default=4096, help="upstream keep-alive connections")
    args = parser.parse_args()
    app = build_app(args.upstream, args.pool)
    print(f"sanic floor listening on http://{args.host}:{args.port}", flush=True)
    app.run(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)


if __name__ == "__main__":
    main()
