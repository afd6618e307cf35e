"""Keep-alive connections per upstream origin, within the pool's limits.

Idle connections are reused last-in first-out, so the surplus after a burst ages out; one idle
longer than `keepalive_timeout`, or closed by its peer, is never handed out again. At the limit
(`pool_size` in all, `pool_per_host` per origin) a request waits for a connection to come back,
closing an idle connection of another origin first if that frees a place.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway.adapters.upstream.http1.connection import Http1Connection
from gateway.adapters.upstream.http1.silence import SilenceWatch
from gateway.adapters.upstream.pool_settings import UpstreamPoolSettings
from gateway.domain.errors import UpstreamUnreachable


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str  # as for a socket (no IPv6 brackets)
    port: int
    host_header: str  # as for the Host header

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


def parse_origin(prefix: str) -> Origin:
    """`scheme://host[:port]` (the part of an upstream URL before its path)."""
    parts = urlsplit(prefix)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamUnreachable("the upstream URL is not an http(s) URL")
    if "@" in parts.netloc:
        raise UpstreamUnreachable("upstream URLs with user info are not supported")
    default_port = 443 if parts.scheme == "https" else 80
    port = parts.port or default_port
    host_header = (
        parts.netloc.lower()
        if parts.port not in (None, default_port)
        else (f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname)
    )
    return Origin(parts.scheme, parts.hostname, port, host_header)


class _Slots:
    """The connections an origin holds (open ones, idle or busy) and its idle stack."""

    __slots__ = ("idle", "open")

    def __init__(self) -> None:
        self.idle: list[Http1Connection] = []
        self.open = 0


class ConnectionPool:
    def __init__(self, settings: UpstreamPoolSettings) -> None:
        self._settings = settings
        self._loop = asyncio.get_running_loop()
        self._origins: dict[Origin, _Slots] = {}
        self._open = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._tls: ssl.SSLContext | None = None
        self._sweep: asyncio.TimerHandle | None = None
        self._silence = SilenceWatch(self._loop, settings.read_timeout)
        self._closed = False

    async def acquire(self, origin: Origin) -> Http1Connection:
        slots = self._origins.get(origin)
        if slots is None:
            slots = self._origins[origin] = _Slots()
        while True:
            connection = self._pop_idle(slots)
            if connection is not None:
                return connection
            if self._closed:
                raise UpstreamUnreachable("the upstream client is closed")
            if self._has_room(slots):
                return await self._connect(origin, slots)
            waiter = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_one()  # woken, then cancelled: pass the place on
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                raise

    def release(self, origin: Origin, connection: Http1Connection) -> None:
        """After an exchange: kept for the next request if it can be, else closed."""
        slots = self._origins[origin]
        if connection.reusable() and not self._closed:
            connection.finish_exchange()
            connection.idle_since = self._loop.time()
            slots.idle.append(connection)
            self._schedule_sweep()
        else:
            if connection.complete:
                connection.close()
            else:
                connection.abort()
            self._forget(slots)
        self._wake_one()

    def discard(self, origin: Origin, connection: Http1Connection) -> None:
        """A connection that failed or whose exchange was abandoned: dropped at once."""
        connection.abort()
        self._forget(self._origins[origin])
        self._wake_one()

    async def close(self) -> None:
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
        self._silence.close()
        for slots in self._origins.values():
            for connection in slots.idle:
                connection.close()
                self._forget(slots)
            slots.idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    # -- internals -----------------------------------------------------------------------------

    def _pop_idle(self, slots: _Slots) -> Http1Connection | None:
        expiry = self._loop.time() - self._settings.keepalive_timeout
        idle = slots.idle
        while idle:
            connection = idle.pop()
            if not connection.closed and connection.idle_since > expiry:
                return connection
            connection.close()
            self._forget(slots)
        return None

    def _has_room(self, slots: _Slots) -> bool:
        per_host = self._settings.pool_per_host
        if per_host and slots.open >= per_host:
            return False
        if self._open < self._settings.pool_size:
            return True
        # Full: an idle connection to another origin makes room.
        for other in self._origins.values():
            if other is not slots and other.idle:
                other.idle.pop(0).close()
                self._forget(other)
                return True
        return False

    async def _connect(self, origin: Origin, slots: _Slots) -> Http1Connection:
        slots.open += 1
        self._open += 1
        loop = self._loop
        connection = Http1Connection(loop, self._settings.read_timeout, self._silence)
        try:
            async with asyncio.timeout(self._settings.connect_timeout):
                if origin.tls:
                    await loop.create_connection(
                        lambda: connection,
                        origin.host,
                        origin.port,
                        ssl=self._tls_context(),
                        server_hostname=origin.host,
                    )
                else:
                    await loop.create_connection(lambda: connection, origin.host, origin.port)
        except BaseException as exc:
            self._forget(slots)
            self._wake_one()
            if isinstance(exc, TimeoutError):
                raise UpstreamUnreachable("timed out connecting to the upstream") from None
            if isinstance(exc, OSError):  # refused, unresolvable, TLS failures (ssl.SSLError)
                # The message names no URL and no header, so nothing secret can leak through it.
                raise UpstreamUnreachable() from None
            raise
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls

    def _forget(self, slots: _Slots) -> None:
        slots.open -= 1
        self._open -= 1

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _schedule_sweep(self) -> None:
        if self._sweep is None and not self._closed:
            self._sweep = self._loop.call_later(self._settings.keepalive_timeout, self._run_sweep)

    def _run_sweep(self) -> None:
        """Closes connections idle past keepalive_timeout, so sockets are not held forever."""
        self._sweep = None
        expiry = self._loop.time() - self._settings.keepalive_timeout
        remaining = False
        for slots in self._origins.values():
            keep = []
            for connection in slots.idle:
                if connection.closed or connection.idle_since <= expiry:
                    connection.close()
                    self._forget(slots)
                else:
                    keep.append(connection)
            slots.idle = keep
            remaining = remaining or bool(keep)
        if remaining:
            self._schedule_sweep()
        if self._waiters:
            self._wake_one()
