"""In-memory fakes of the ports, for unit tests and for inspecting a live gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from gateway.domain.errors import GatewayError
from gateway.domain.events import RequestLogEvent
from gateway.domain.ports.billing import ALLOW, AuthorizationRequest, Decision, UsageRecord
from gateway.domain.ports.upstream import UpstreamRequest, UpstreamResponse, push_chunks


class MemoryEventPublisher:
    def __init__(self) -> None:
        self.events: list[RequestLogEvent] = []
        self._arrived = asyncio.Event()

    def publish(self, event: RequestLogEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[RequestLogEvent]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.events


class MemoryBilling:
    """Allows or denies per `deny`, and keeps the records it is given (idempotent by id)."""

    def __init__(self, deny: GatewayError | None = None, needs_usage: bool = True) -> None:
        self.deny = deny
        self.authorizations: list[AuthorizationRequest] = []
        self.records: dict[str, UsageRecord] = {}
        self._needs_usage = needs_usage

    @property
    def needs_usage(self) -> bool:
        return self._needs_usage

    async def authorize(self, request: AuthorizationRequest) -> Decision:
        self.authorizations.append(request)
        return Decision(False, self.deny) if self.deny else ALLOW

    async def record(self, record: UsageRecord) -> None:
        self.records.setdefault(record.request_id, record)

    def expect(self, record: UsageRecord) -> None:
        return None

    async def record_many(self, records: Sequence[UsageRecord]) -> None:
        for record in records:
            await self.record(record)


@dataclass
class ScriptedResponse:
    status: int = 200
    headers: Sequence[tuple[str, str]] = (("content-type", "application/json"),)
    body_chunks: list[bytes] = field(default_factory=lambda: [b"{}"])
    fail_with: Exception | None = None  # raised after the chunks
    before_each: Callable[[], None] | None = None  # called as each chunk "arrives"
    # A Content-Length the body may not live up to (with fail_with: a whole body that fails).
    announced_length: int | None = None
    _body_iterator: AsyncIterator[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def content_length(self) -> int | None:
        if self.announced_length is not None:
            return self.announced_length
        return None if self.fail_with else sum(map(len, self.body_chunks))

    async def read(self) -> bytes:
        body = b"".join(self.body_chunks)
        if self.fail_with:
            raise self.fail_with
        return body

    def chunks(self) -> AsyncIterator[bytes]:
        # One body: `push` after `chunks` goes on where the iteration stopped.
        if self._body_iterator is None:
            self._body_iterator = self._iterate()
        return self._body_iterator

    async def push(self, sink: Callable[[bytes], bool]) -> None:
        await push_chunks(self.chunks(), sink)

    async def _iterate(self) -> AsyncIterator[bytes]:
        for chunk in self.body_chunks:
            if self.before_each is not None:
                self.before_each()
            yield chunk
        if self.fail_with:
            raise self.fail_with

    def release(self) -> None:
        self.released = True


class ScriptedUpstream:
    """Answers with the next scripted response, or raises a scripted error; records requests."""

    def __init__(self, *responses: ScriptedResponse | BaseException) -> None:
        self.script = list(responses)
        self.requests: list[UpstreamRequest] = []

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        self.requests.append(request)
        answer = self.script.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer
