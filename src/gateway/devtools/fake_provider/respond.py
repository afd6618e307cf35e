"""Turning precomputed bytes into aiohttp responses, applying the `x-fake-*` controls."""

from __future__ import annotations

import asyncio
import gzip
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.devtools.fake_provider.wire import JSON_CONTENT_TYPE, StreamBody, dumps

if TYPE_CHECKING:
    from gateway.devtools.fake_provider.endpoint import Call

# A stalled stream must outlive any client or gateway timeout under test.
STALL_SECONDS = 3600.0


def _echo(call: Call) -> bytes:
    request = call.request
    return dumps(
        {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "headers": {name.lower(): value for name, value in request.headers.items()},
        }
    )


def _splice_echo(payload: bytes, echo: bytes) -> bytes:
    """Append `"_echo": {...}` to a serialized JSON object without re-serializing it."""
    head = payload.rstrip()[:-1].rstrip()
    separator = b"" if head.endswith(b"{") else b","
    return head + separator + b'"_echo":' + echo + b"}"


def json_response(call: Call, payload: bytes, status: int = 200) -> web.Response:
    controls = call.controls
    if controls.echo and payload.startswith(b"{"):
        payload = _splice_echo(payload, _echo(call))
    headers = call.dialect.headers(call.request_id)
    headers["Content-Type"] = JSON_CONTENT_TYPE
    if controls.gzip:
        # mtime=0 keeps the compressed bytes deterministic; level 1 because speed beats size here.
        payload = gzip.compress(payload, compresslevel=1, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=payload, status=status, headers=headers)


def error_response(call: Call, status: int, message: str) -> web.Response:
    response = json_response(
        call, call.dialect.error_body(status, message, call.request_id), status
    )
    if status == 429:
        response.headers["retry-after"] = "1"
    return response


def raw_response(call: Call, payload: bytes, content_type: str) -> web.Response:
    headers = call.dialect.headers(call.request_id)
    headers["Content-Type"] = content_type
    return web.Response(body=payload, headers=headers)


async def stream_response(call: Call, body: StreamBody) -> web.StreamResponse:
    headers = call.dialect.headers(call.request_id)
    headers["Content-Type"] = body.content_type
    headers["Cache-Control"] = "no-cache"
    controls = call.controls
    unpaced = not controls.chunk_delay_ms and controls.frame_limit is None
    if unpaced and call.request.version >= (1, 1):
        # Fast path: headers, every frame and the last chunk leave in a single write. The
        # client still sees a chunked body with no content-length, like a real stream.
        response = web.Response(body=body.joined, headers=headers)
        response.enable_chunked_encoding()
        return response
    stream = web.StreamResponse(headers=headers)
    await stream.prepare(call.request)  # sends the headers at once, even before a stall
    await _write_frames(call, stream, body)
    return stream


async def _write_frames(call: Call, response: web.StreamResponse, body: StreamBody) -> None:
    controls = call.controls
    limit = controls.frame_limit
    frames = body.frames if limit is None else body.frames[:limit]
    if controls.chunk_delay_ms:
        delay = controls.chunk_delay_ms / 1000
        for index, frame in enumerate(frames):
            if index:
                await asyncio.sleep(delay)
            await response.write(frame)
    else:
        await response.write(b"".join(frames))
    if limit is None:
        return
    if controls.cut_after == limit:
        _cut(call.request)
    else:
        await asyncio.sleep(STALL_SECONDS)


async def truncated_response(call: Call, whole: web.Response) -> web.StreamResponse:
    """A whole body (JSON, say) with `x-fake-cut-after: K` or `x-fake-stall-after: K`: its
    headers announce the full Content-Length, then only its first K bytes (at most all but one)
    are sent before the connection is cut, or goes silent."""
    body = whole.body
    assert isinstance(body, bytes)
    controls = call.controls
    limit = controls.frame_limit
    assert limit is not None
    stream = web.StreamResponse(status=whole.status, headers=whole.headers)
    stream.content_length = len(body)
    await stream.prepare(call.request)
    await stream.write(body[: min(limit, max(len(body) - 1, 0))])
    if controls.cut_after == limit:
        _cut(call.request)
    else:
        await asyncio.sleep(STALL_SECONDS)
    return stream


def _cut(request: web.Request) -> None:
    """Close the socket mid-body so the client sees a chunked body without its last chunk.

    `close()` (not `abort()`) lets the transport flush what was written; aiohttp's final
    `write_eof` then fails with a ConnectionError, which it treats as a client disconnect.
    """
    transport = request.transport
    if transport is not None:
        transport.close()
