"""The open-loop load generator: a small raw-socket HTTP/1.1 client on uvloop + httptools.

Why not aiohttp's client: it costs ~100 µs of CPU per request, as much as the proxies under test,
and it shares a core with the upstream. This client writes precomputed request bytes on
keep-alive connections and parses answers with httptools, a few µs per request.

- `fixed_rate`: requests sent on a fixed schedule whatever the answers (open loop); latency is
  measured from the *scheduled* send time, so a stalled server cannot hide its queue
  (no coordinated omission), or from the actual one when the request went out early
  (`Exchange.latency`).
- `streams`: N concurrent streams, each slot re-opening a stream as soon as the last one ends;
  records time to first body byte and every gap between body reads.
- `idle_streams`: opens N streams that send one event and then stay silent, holds them open,
  and runs a callback (the RSS sample) while they are all open.
Every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httptools

HOST = "127.0.0.1"


@dataclass
class Exchange:
    """One request's timings (time.perf_counter seconds)."""

    scheduled: float
    sent: float = 0.0
    first_body: float = 0.0
    last_body: float = 0.0
    done: float = 0.0
    status: int = 0
    gaps: list[float] = field(default_factory=list)
    track_gaps: bool = False

    @property
    def latency(self) -> float:
        """Seconds from the scheduled send to the answer's end, or from the actual send when it
        went out early: uvloop's timers tick in milliseconds, so a sleep may end up to 1 ms
        before its slot, and counting from the slot would make a fast answer look faster than
        it was (even negative)."""
        return self.done - min(self.scheduled, self.sent)


class _Connection(asyncio.Protocol):
    """A keep-alive client connection carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.current: Exchange | None = None
        self.waiter: asyncio.Future[Exchange] | None = None
        self.on_done: Callable[[_Connection, Exchange], None] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.current is not None:
            self._finish(0)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    def on_body(self, body: bytes) -> None:
        exchange = self.current
        if exchange is None:
            return
        now = time.perf_counter()
        if exchange.first_body == 0.0:
            exchange.first_body = now
        elif exchange.track_gaps:
            exchange.gaps.append(now - exchange.last_body)
        exchange.last_body = now

    def on_message_complete(self) -> None:
        self._finish(self.parser.get_status_code())

    def _finish(self, status: int) -> None:
        exchange, self.current = self.current, None
        if exchange is None:
            return
        exchange.status = status
        exchange.done = time.perf_counter()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(exchange)
        if self.on_done is not None:
            self.on_done(self, exchange)

    def send(self, raw: bytes, exchange: Exchange) -> None:
        assert self.transport is not None and self.current is None
        self.current = exchange
        exchange.sent = time.perf_counter()
        self.transport.write(raw)


async def _connect(port: int) -> _Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(_Connection, HOST, port)
    return protocol


def _close_all(connections: list[_Connection]) -> None:
    for connection in connections:
        if connection.transport is not None:
            connection.transport.close()


async def fixed_rate(
    port: int, raw: bytes, rate: float, count: int, max_connections: int = 512
) -> list[Exchange]:
    """`count` requests at `rate` per second; answers not back within 10 s are failures."""
    idle: list[_Connection] = []
    opened: list[_Connection] = []
    exchanges: list[Exchange] = []

    def recycle(connection: _Connection, exchange: Exchange) -> None:
        if not connection.closed and exchange.status:
            idle.append(connection)

    async def fire(exchange: Exchange) -> None:
        connection = idle.pop() if idle else None
        if connection is None:
            if len(opened) >= max_connections:
                return  # counted as a failure: status stays 0
            connection = await _connect(port)
            connection.on_done = recycle
            opened.append(connection)
        connection.send(raw, exchange)

    start = time.perf_counter() + 0.01
    pending: set[asyncio.Task[None]] = set()
    for index in range(count):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        exchange = Exchange(scheduled)
        exchanges.append(exchange)
        if idle:
            await fire(exchange)  # no await inside on this path: sent at once
        else:
            task = asyncio.ensure_future(fire(exchange))
            pending.add(task)
            task.add_done_callback(pending.discard)
    deadline = time.perf_counter() + 10.0
    while time.perf_counter() < deadline and any(e.done == 0.0 for e in exchanges):
        await asyncio.sleep(0.01)
    _close_all(opened)
    return exchanges


async def streams(
    port: int, raw: bytes, concurrency: int, duration: float, period: float
) -> list[Exchange]:
    """`concurrency` slots re-opening streams for `duration` s; starts staggered over `period`."""
    exchanges: list[Exchange] = []
    connections: list[_Connection] = []
    stop_at = time.perf_counter() + duration

    async def slot(index: int) -> None:
        await asyncio.sleep(period * index / concurrency)
        connection = await _connect(port)
        connections.append(connection)
        rounds = 0
        while time.perf_counter() < stop_at and rounds < 10_000 and not connection.closed:
            rounds += 1
            exchange = Exchange(time.perf_counter(), track_gaps=True)
            exchanges.append(exchange)
            waiter = asyncio.get_running_loop().create_future()
            connection.waiter = waiter
            connection.send(raw, exchange)
            try:
                await asyncio.wait_for(waiter, timeout=duration + 30.0)
            except TimeoutError:
                break

    try:
        results = await asyncio.gather(
            *(slot(i) for i in range(concurrency)), return_exceptions=True
        )
    finally:
        _close_all(connections)
    failed = sum(1 for result in results if isinstance(result, BaseException))
    exchanges.extend(Exchange(0.0) for _ in range(failed))  # a slot that could not connect
    return exchanges


async def idle_streams(
    port: int, raw: bytes, count: int, while_open: Callable[[], Awaitable[None]]
) -> int:
    """Open `count` streams that go silent after their first event; run `while_open` once they
    have all started; close them. Returns how many were open."""
    connections: list[_Connection] = []
    started: list[Exchange] = []
    try:
        for batch_start in range(0, count, 100):
            batch = await asyncio.gather(
                *(_connect(port) for _ in range(min(100, count - batch_start))),
                return_exceptions=True,
            )
            for connection in batch:
                if isinstance(connection, _Connection):
                    connections.append(connection)
                    exchange = Exchange(time.perf_counter())
                    started.append(exchange)
                    connection.send(raw, exchange)
        deadline = time.perf_counter() + 30.0
        while time.perf_counter() < deadline and any(e.first_body == 0.0 for e in started):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # let buffers settle before sampling memory
        await while_open()
        return sum(1 for e in started if e.first_body and not e.done)
    finally:
        _close_all(connections)
        await asyncio.sleep(0.2)
