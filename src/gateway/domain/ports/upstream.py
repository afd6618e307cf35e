"""Port: the upstream that answers relayed requests (new-api or a provider)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(slots=True)  # built per request: not frozen, cheaper (treat as immutable)
class UpstreamRequest:
    method: str
    url: str  # absolute, query included
    headers: Sequence[tuple[str, str]]  # final outgoing headers, credentials substituted
    body: bytes


class UpstreamResponse(Protocol):
    """An upstream answer whose headers have arrived; its body is read once: with `read`, or
    with `chunks` and `push`, which go on where the other stopped."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Sequence[tuple[str, str]]:
        """Headers as received (hop-by-hop included); the relay filters them."""
        ...

    @property
    def content_length(self) -> int | None: ...

    async def read(self) -> bytes:
        """The whole body. Raises UpstreamTimeout or UpstreamCutOff."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives, never buffered whole.

        Raises UpstreamTimeout or UpstreamCutOff."""
        ...

    async def push(self, sink: Callable[[bytes], bool]) -> None:
        """Hand the rest of the body to `sink` as it arrives, until it ends or `sink` returns
        False for a piece it took (then read on with `chunks` or push again). A client may call
        `sink` from its transport's callbacks, once per read, so it must not block; it then runs
        it in a copy of the caller's context. A refused piece is never lost to an error that
        came with it: the error is raised by the next read.

        Raises UpstreamTimeout or UpstreamCutOff, or what `sink` raised."""
        ...

    def release(self) -> None:
        """Give the connection back (dropped when the body was not read to its end). Idempotent."""
        ...


class UpstreamProvider(Protocol):
    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Send a request and wait for the response headers.

        Raises UpstreamUnreachable (connect failed) or UpstreamTimeout (silent past read timeout).
        """
        ...


async def push_chunks(chunks: AsyncIterator[bytes], sink: Callable[[bytes], bool]) -> None:
    """`UpstreamResponse.push` for a client that only iterates."""
    async for chunk in chunks:
        if not sink(chunk):
            return
