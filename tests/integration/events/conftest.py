"""Fixtures for the event publisher tests: a real nats-server and helpers to read its stream."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.js.errors import NotFoundError

from gateway.adapters.events.config import NatsPublisherConfig
from gateway.devtools.loopback import NatsServer

_names = itertools.count()


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def publisher_config(nats_server: NatsServer, tmp_path: Path) -> NatsPublisherConfig:
    n = next(_names)
    return NatsPublisherConfig(
        url=nats_server.url,
        stream=f"EVENTS_T{n}",
        subject_prefix=f"test{n}.requests",
        duplicate_window=120.0,
        max_age=3600.0,
        max_bytes=64 * 2**20,
        queue_size=10000,
        spool_dir=tmp_path / "spool",
        spool_max_bytes=16 * 2**20,
        connect_timeout=0.5,
        publish_timeout=1.0,
        reconnect_wait=0.2,
        close_timeout=3.0,
    )


class StreamReader:
    """Reads every message of the test's stream (a fresh connection each time)."""

    def __init__(self, server: NatsServer, config: NatsPublisherConfig) -> None:
        self._server = server
        self._config = config

    async def messages(self) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
        nc = await nats.connect(self._server.url, max_reconnect_attempts=1, connect_timeout=1)
        try:
            js = nc.jetstream(timeout=2)
            try:
                info = await js.stream_info(self._config.stream)
            except NotFoundError:
                return []
            if info.state.messages == 0:
                return []
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                msg = await js.get_msg(self._config.stream, seq)
                out.append((msg.subject, dict(msg.headers or {}), json.loads(msg.data)))
            return out
        finally:
            await nc.close()

    async def wait_for_count(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The events once `count` are stored; then a short settle to catch any extra."""
        deadline = time.monotonic() + timeout
        while True:
            messages = await self.messages()
            if len(messages) >= count or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        return [event for _, _, event in await self.messages()]


@pytest_asyncio.fixture
async def stream(nats_server: NatsServer, publisher_config: NatsPublisherConfig) -> StreamReader:
    return StreamReader(nats_server, publisher_config)
