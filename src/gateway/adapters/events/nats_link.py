"""The connection to NATS: connected in the background, reconnecting forever, stream ensured.

nats-py's first connect retries for minutes by default and Sanic kills a worker that takes more
than 30 s to start (libraries.md §3.2), so the first connect is bounded and retried here in a
background task; once connected, the client is switched to infinite reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from gateway.adapters.events.config import NatsPublisherConfig
from gateway.adapters.events.nats_sender import JetStreamSender

log = logging.getLogger("gateway.events")

_STREAM_IN_USE = 10058  # "stream name already in use with a different configuration"
_MAX_BACKOFF = 2.0
_STREAM_RETRY = 1.0


class NatsLink:
    def __init__(self, config: NatsPublisherConfig, on_change: Callable[[], None]) -> None:
        self._config = config
        self._on_change = on_change
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._sender: JetStreamSender | None = None
        self._stream_ok = False
        self._stream_checked_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def ever_connected(self) -> bool:
        return self._connected.is_set()

    @property
    def ready(self) -> bool:
        """Connected and the stream is known to exist: publishes can be acknowledged."""
        return self.connected and self._stream_ok

    @property
    def js(self) -> JetStreamContext:
        assert self._js is not None
        return self._js

    @property
    def sender(self) -> JetStreamSender:
        assert self._sender is not None
        return self._sender

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_until_done(), name="nats-connect")

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self._connected.is_set()

    async def _connect_until_done(self) -> None:
        backoff = 0.1
        while not self._closing:
            nc = await self._connect_once()
            if nc is not None:
                self._nc = nc
                # The context serves stream management; publishes go through the sender.
                self._js = nc.jetstream(timeout=self._config.publish_timeout)
                self._sender = JetStreamSender(nc)
                # Only now: an outage longer than attempts x wait would close it for good.
                nc.options["max_reconnect_attempts"] = -1
                await self.ensure_stream()
                # Set only now, so that start() sees the stream too when it is quick to come.
                self._connected.set()
                self._on_change()
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)

    async def _connect_once(self) -> Client | None:
        nc = Client()
        # nats-py annotates these as int; they are float seconds in practice.
        options: dict[str, Any] = {
            "servers": [s.strip() for s in self._config.url.split(",")],
            "name": f"ai-gateway-events-{os.getpid()}",
            "connect_timeout": self._config.connect_timeout,
            "allow_reconnect": True,
            "max_reconnect_attempts": 1,  # 0 would mean "forever" to nats-py
            "reconnect_time_wait": self._config.reconnect_wait,
            "error_cb": self._on_error,
            "disconnected_cb": self._on_disconnected,
            "reconnected_cb": self._on_reconnected,
            "closed_cb": self._on_closed,
        }
        bound = self._config.connect_timeout * 2 + self._config.reconnect_wait
        try:
            await asyncio.wait_for(nc.connect(**options), bound)
        except Exception as exc:  # refused, timed out, no servers: retried in the background
            log.debug("nats connect failed: %s", type(exc).__name__)
            with contextlib.suppress(Exception):
                await nc.close()
            return None
        return nc

    async def ensure_stream(self) -> bool:
        """Create the stream if missing; an existing stream is left exactly as it is."""
        if self._stream_ok:
            return True
        now = time.monotonic()
        if now - self._stream_checked_at < _STREAM_RETRY or not self.connected:
            return False
        self._stream_checked_at = now
        try:
            await self._create_stream_if_missing()
        except Exception as exc:
            log.error("event stream %s not usable: %s", self._config.stream, type(exc).__name__)
            return False
        self._stream_ok = True
        return True

    async def _create_stream_if_missing(self) -> None:
        cfg = self._config
        try:
            await self.js.stream_info(cfg.stream)
            return
        except NotFoundError:
            pass
        stream = StreamConfig(
            name=cfg.stream,
            subjects=[f"{cfg.subject_prefix}.>"],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            max_age=cfg.max_age,
            max_bytes=cfg.max_bytes,
            duplicate_window=cfg.duplicate_window,
        )
        try:
            await self.js.add_stream(stream)
            log.info("created event stream %s", cfg.stream)
        except BadRequestError as exc:
            if exc.err_code != _STREAM_IN_USE:  # another worker created it meanwhile
                raise

    def stream_missing(self) -> None:
        """A publish said "no stream": check (and create) it again before the next send."""
        self._stream_ok = False

    async def close(self, timeout: float) -> None:
        self._closing = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), timeout)

    async def _on_error(self, exc: Exception) -> None:
        # One line, no traceback (nats-py's default prints one per failed attempt).
        log.debug("nats error: %s", type(exc).__name__)

    async def _on_disconnected(self) -> None:
        if self._connected.is_set() and not self._closing:
            log.warning("nats disconnected: events go to the local spool until it is back")
        self._on_change()

    async def _on_reconnected(self) -> None:
        log.info("nats reconnected: replaying the local event spool")
        # The server may have come back without its store: check the stream again.
        self._stream_ok = False
        self._stream_checked_at = 0.0
        self._on_change()

    async def _on_closed(self) -> None:
        self._on_change()

    def describe(self) -> dict[str, Any]:
        return {"connected": self.connected, "stream_ready": self._stream_ok}
