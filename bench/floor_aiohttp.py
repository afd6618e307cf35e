"""The Python floor: a minimal pass-through proxy on aiohttp's low-level server.

No routing, no parsing of bodies, no usage reading: forward method, path (with query), headers
and body to the upstream through one shared ClientSession, and stream the answer back chunk by
chunk as it arrives. Any real gateway in Python does at least this much work per request.

Run: python bench/floor_aiohttp.py --port 18110 --upstream http://127.0.0.1:18001
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import aiohttp
import uvloop
from aiohttp import web
from aiohttp.web_request import BaseRequest

# Hop-by-hop headers (RFC 9110 7.6.1) plus the ones aiohttp recomputes itself.
_DROP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "te",
        "trailer",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
        "host",
    }
)


def _forwardable(headers: object) -> dict[str, str]:
    items = headers.items()  # type: ignore[attr-defined]
    return {name: value for name, value in items if name.lower() not in _DROP}


class Floor:
    def __init__(self, upstream: str, pool: int) -> None:
        self._upstream = upstream.rstrip("/")
        self._pool = pool
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self._pool, keepalive_timeout=30)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def handle(self, request: BaseRequest) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        async with self._session.request(
            request.method,
            self._upstream + request.path_qs,
            data=body,
            headers=_forwardable(request.headers),
        ) as upstream:
            response = web.StreamResponse(
                status=upstream.status, headers=_forwardable(upstream.headers)
            )
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response


async def serve(host: str, port: int, upstream: str, pool: int) -> None:
    floor = Floor(upstream, pool)
    await floor.start()
    server = web.Server(floor.handle, access_log=None)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server, host, port, backlog=4096, reuse_address=True)
    print(f"aiohttp floor listening on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        listener.close()
        await server.shutdown(0.5)
        await floor.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18110)
    parser.add_argument("--upstream", default="http://127.0.0.1:18001")
    parser.add_argument("--pool", type=int, default=4096, help="upstream keep-alive connections")
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port, args.upstream, args.pool))


if __name__ == "__main__":
    main()
