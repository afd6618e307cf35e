"""A bench-only upstream that replays the repo's fake provider, byte for byte, at low cost.

The fake provider (gateway.devtools.fake_provider, an aiohttp app) costs about as much CPU per
request as the proxies under test, so sharing a core with the load generator it would be the
bottleneck. This server asks the real fake provider once, at start-up, for each answer the bench
needs (Claude messages, OpenAI chat, Gemini generateContent; plain and streamed with 4 or 64
deltas), then serves those recorded bytes from a bare asyncio protocol with httptools parsing.
Streams are sent one SSE event per write, `x-fake-chunk-delay-ms` apart (the first at once).
`x-fake-chunks` picks the recording with that many deltas (4 or 64; other counts use the nearest).

Run: PYTHONPATH=src python bench/fast_upstream.py --port 18001
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httptools
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apis import API_NAMES, api_request

from gateway.devtools.fake_provider import start_fake_provider

CHUNK_COUNTS = (4, 64)
_MAX_BODY = 8 * 2**20


@dataclass(frozen=True)
class Recording:
    status: int
    content_type: str
    frames: tuple[bytes, ...]  # one element for a JSON body; one per SSE event for a stream


Key = tuple[str, bool, int]  # (api, streamed, deltas)


def _split_events(body: bytes) -> tuple[bytes, ...]:
    separator = b"\r\n\r\n" if b"\r\n\r\n" in body else b"\n\n"
    parts = body.split(separator)
    frames = [part + separator for part in parts[:-1]]
    if parts[-1]:
        frames.append(parts[-1])
    return tuple(frames)


async def record_answers() -> dict[Key, Recording]:
    """Ask the real fake provider for every answer the bench needs."""
    recordings: dict[Key, Recording] = {}
    provider = await start_fake_provider()
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            for api in API_NAMES:
                for stream in (False, True):
                    for chunks in CHUNK_COUNTS:
                        request = api_request(api, stream=stream)
                        headers = dict(request.headers)
                        headers["x-fake-chunks"] = str(chunks)
                        headers["content-type"] = "application/json"
                        url = provider.url + request.path
                        async with session.post(url, data=request.body, headers=headers) as resp:
                            body = await resp.read()
                            content_type = resp.headers.get("content-type", "application/json")
                        frames = _split_events(body) if stream else (body,)
                        recordings[(api, stream, chunks)] = Recording(
                            resp.status, content_type, frames
                        )
    finally:
        await provider.close()
    return recordings


def _api_for(url: bytes) -> str:
    if url.startswith(b"/v1/messages"):
        return "claude"
    if url.startswith(b"/v1beta/") or url.startswith(b"/v1/models/"):
        return "gemini"
    return "openai"


def _is_stream(url: bytes, body: bytes) -> bool:
    if b"streamGenerateContent" in url:
        return True
    return b'"stream":true' in body or b'"stream": true' in body


def _int_header(value: bytes | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


class _Connection(asyncio.Protocol):
    """One client connection: keep-alive, one request at a time (no pipelining needed here)."""

    def __init__(self, recordings: dict[Key, Recording]) -> None:
        self._recordings = recordings
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._body = bytearray()
        self._controls: dict[bytes, bytes] = {}
        self._timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they implement its interface.
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            print(f"fast upstream: bad request: {exc!r} {exc.__context__!r}", file=sys.stderr)
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._transport = None

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._url, self._body, self._controls = b"", bytearray(), {}

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered.startswith(b"x-fake-"):
            self._controls[lowered] = value

    def on_body(self, body: bytes) -> None:
        if len(self._body) + len(body) > _MAX_BODY:
            self._close()
            return
        self._body += body

    def on_message_complete(self) -> None:
        stream = _is_stream(self._url, bytes(self._body))
        chunks = _int_header(self._controls.get(b"x-fake-chunks"), 4)
        recorded = min(CHUNK_COUNTS, key=lambda count: abs(count - chunks))
        recording = self._recordings[(_api_for(self._url), stream, recorded)]
        if stream:
            delay = _int_header(self._controls.get(b"x-fake-chunk-delay-ms"), 0) / 1000
            self._start_stream(recording, delay)
        else:
            self._send_whole(recording)

    # responses
    def _send_whole(self, recording: Recording) -> None:
        body = recording.frames[0]
        head = (
            f"HTTP/1.1 {recording.status} OK\r\ncontent-type: {recording.content_type}\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode()
        if self._transport is not None:
            self._transport.write(head + body)

    def _start_stream(self, recording: Recording, delay: float) -> None:
        head = (
            f"HTTP/1.1 {recording.status} OK\r\ncontent-type: {recording.content_type}\r\n"
            "cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        ).encode()
        if self._transport is not None:
            self._transport.write(head)
        self._send_frame(recording.frames, 0, delay)

    def _send_frame(self, frames: tuple[bytes, ...], index: int, delay: float) -> None:
        self._timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        frame = frames[index]
        chunk = b"%x\r\n%b\r\n" % (len(frame), frame)
        if index + 1 == len(frames):
            transport.write(chunk + b"0\r\n\r\n")
            return
        transport.write(chunk)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(delay, self._send_frame, frames, index + 1, delay)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def serve(host: str, port: int) -> None:
    recordings = await record_answers()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Connection(recordings), host, port, backlog=4096, reuse_address=True
    )
    print(f"fast upstream listening on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18001)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
