"""A small OpenAI chat-completions upstream on loopback that fails the first K attempts per key.

The key is the request body's `user` field (one per batch line). Failing attempts answer
`status` with the given retry headers; every answer can be delayed, to keep requests in flight.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping

import orjson
from aiohttp import web

USAGE = {"prompt_tokens": 13, "completion_tokens": 4, "total_tokens": 17}


class FlakyUpstream:
    def __init__(
        self,
        *,
        failures: int = 0,
        status: int = 429,
        retry_headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        self.failures = failures
        self.status = status
        self.retry_headers = dict(retry_headers or {})
        self.delay = delay
        self.calls: Counter[str] = Counter()
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _chat(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        key = str(body.get("user"))
        self.calls[key] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.calls[key] <= self.failures:
            error = {"error": {"message": "rate limited", "type": "rate_limit", "code": None}}
            return web.Response(
                status=self.status,
                body=orjson.dumps(error),
                content_type="application/json",
                headers=self.retry_headers,
            )
        answer = {"id": f"chatcmpl-{key}", "object": "chat.completion", "usage": USAGE}
        return web.Response(body=orjson.dumps(answer), content_type="application/json")

    async def start(self) -> FlakyUpstream:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
