"""The batch use-case: many relay requests, a bounded number at a time, each answered by one line.

Rules:
- Every request goes through the relay use-case, like a request to the server: same upstream,
  credential rules, billing and events. Every attempt is one event and (when it reached the
  upstream) one usage record.
- At most `concurrency` requests are in flight.
- 408, 429, 5xx and upstream failures are tried again, up to `max_attempts` in all, after an
  exponential backoff or the wait the upstream asked for (retry-after-ms, retry-after).
- A request's line is written once it has its final answer, and only then: a stopped job leaves
  no line for the requests it cancelled, so a rerun sends them again.
- A refusal that every other request would meet too (the operator's key unknown to billing or
  to the upstream: 401; the quota used up) stops the job rather than answering every line with
  it: nothing is written for that request, and a rerun after the fix picks up from there.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.application.batch_attempt import Answer, Relay, attempt
from gateway.application.batch_input import BatchRequest
from gateway.application.batch_progress import BatchProgress
from gateway.application.batch_results import error_line, response_line
from gateway.application.batch_retry import (
    RetryPolicy,
    backoff_delay,
    retry_after,
    retryable_error,
    retryable_status,
)
from gateway.domain.errors import GatewayError, QuotaExceeded, Unauthenticated
from gateway.domain.provider import Operation, Provider
from gateway.domain.secrets import Secret
from gateway.domain.usage import ZERO_USAGE, Usage

ANTHROPIC_VERSION = "2023-06-01"


class ResultSink(Protocol):
    def write(self, line: bytes) -> None:
        """Store one complete result line (newline included) durably before returning."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSettings:
    concurrency: int = 16
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # The operator's credential, in each provider's native header: who the requests are billed
    # to, and the upstream key in pass-through setups. None: anonymous.
    credential: Secret | None = None
    max_response_bytes: int = 64 * 1024 * 1024
    user_agent: str = "ai-gateway-batch/1"
    # server.public_url: a Claude batch's results_url points there, as the server's answers do.
    # None: the provider's own URL is kept (a batch has no request whose host it could use).
    public_origin: str | None = None


@dataclass(frozen=True, slots=True)
class BatchSummary:
    total: int
    succeeded: int
    failed: int
    retries: int
    tokens: int
    interrupted: bool
    elapsed: float
    halted: str | None = None  # why the job stopped itself (a refusal every request would meet)

    @property
    def not_run(self) -> int:
        return self.total - self.succeeded - self.failed


def request_headers(provider: Provider, settings: BatchSettings, has_body: bool) -> dict[str, str]:
    """Headers of a batch request, lower-case names (the relay's Headers accepts a plain dict)."""
    headers = {"user-agent": settings.user_agent}
    if has_body:
        headers["content-type"] = "application/json"
    if provider is Provider.CLAUDE:
        # A line carries no headers; the Messages API requires a version.
        headers["anthropic-version"] = ANTHROPIC_VERSION
    key = settings.credential.reveal() if settings.credential else ""
    if key:
        if provider is Provider.CLAUDE:
            headers["x-api-key"] = key
        elif provider is Provider.OPENAI:
            headers["authorization"] = f"Bearer {key}"
        else:
            headers["x-goog-api-key"] = key
    return headers


def _new_request_id() -> str:
    return uuid.uuid4().hex


class _Halt(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_HALTING = (Unauthenticated, QuotaExceeded)


class BatchJob:
    def __init__(
        self,
        *,
        relay: Relay,
        sink: ResultSink,
        settings: BatchSettings,
        progress: BatchProgress | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        new_request_id: Callable[[], str] = _new_request_id,
    ) -> None:
        self._relay = relay
        self._sink = sink
        self._settings = settings
        self._progress = progress
        self._sleep = sleep
        self._new_id = new_request_id
        self._stop = asyncio.Event()
        self._halted: str | None = None

    def stop(self) -> None:
        """Cancel the requests in flight and send no more (Ctrl-C). Safe from a signal handler."""
        self._stop.set()

    async def run(self, requests: Sequence[BatchRequest]) -> BatchSummary:
        progress = self._progress or BatchProgress(total=len(requests))
        self._progress = progress
        pending = iter(requests)
        count = max(min(self._settings.concurrency, len(requests)), 1)
        workers = [asyncio.create_task(self._worker(pending)) for _ in range(count)]
        everything = asyncio.gather(*workers)
        stopper = asyncio.create_task(self._stop.wait())
        waited: set[asyncio.Future[Any]] = {everything, stopper}
        try:
            await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            interrupted = not everything.done()
            for worker in workers:
                worker.cancel()
            results = await asyncio.gather(*workers, return_exceptions=True)
        if not interrupted:
            everything.result()  # a worker's unexpected exception surfaces here
        elif not everything.cancelled():
            everything.exception()  # retrieved: the stop was asked for
        _raise_unexpected(results)
        return _summary(progress, interrupted, self._halted)

    async def _worker(self, pending: Iterator[BatchRequest]) -> None:
        # Bounded by the request list; the shared iterator hands each request to one worker.
        for request in pending:
            if self._stop.is_set():
                return
            await self._run_one(request)

    async def _run_one(self, request: BatchRequest) -> None:
        progress = self._progress
        assert progress is not None
        progress.in_flight += 1
        try:
            line, ok, usage = await self._final_answer(request)
        except _Halt as halt:
            self._halted = self._halted or halt.reason
            self._stop.set()
            return
        finally:
            progress.in_flight -= 1
        self._sink.write(line)
        progress.finished(ok, usage)

    async def _final_answer(self, request: BatchRequest) -> tuple[bytes, bool, Usage]:
        settings = self._settings
        policy = settings.retry
        headers = request_headers(request.route.provider, settings, bool(request.body))
        line, ok, usage = b"", False, ZERO_USAGE
        for number in range(1, max(policy.max_attempts, 1) + 1):
            request_id = self._new_id()
            delay: float | None = None
            try:
                answer = await attempt(
                    self._relay,
                    request,
                    headers,
                    request_id,
                    settings.max_response_bytes,
                    settings.public_origin,
                )
            except _HALTING as exc:
                raise _Halt(f"{exc.kind}: {exc.message}") from None
            except GatewayError as exc:
                line = error_line(request.custom_id, request_id, exc.kind, exc.message)
                ok, usage = False, ZERO_USAGE
                if retryable_error(exc):
                    delay = backoff_delay(policy, number, None)
            except Exception as exc:
                # A fault of the gateway itself: answered, so the batch goes on; never the
                # exception text, which may hold anything.
                message = f"internal error ({type(exc).__name__})"
                line, ok, usage = (
                    error_line(request.custom_id, request_id, "internal", message),
                    False,
                    ZERO_USAGE,
                )
            else:
                if answer.status == 401:
                    raise _Halt("the upstream refused the credential (401)")
                line, ok, usage = _answer_line(request, request_id, answer)
                if retryable_status(answer.status):
                    delay = backoff_delay(policy, number, retry_after(answer.headers))
            if delay is None or number >= policy.max_attempts:
                break
            self._retrying()
            await self._sleep(delay)
        return line, ok, usage

    def _retrying(self) -> None:
        if self._progress is not None:
            self._progress.retries += 1


def _answer_line(
    request: BatchRequest, request_id: str, answer: Answer
) -> tuple[bytes, bool, Usage]:
    ok = answer.status < 400
    # A message batch's results are JSON Lines: a string, also when there is one line of them.
    jsonl = ok and request.route.operation is Operation.BATCH_RESULTS
    line = response_line(request.custom_id, answer.status, request_id, answer.body, text=jsonl)
    return line, ok, answer.usage


def _raise_unexpected(results: list[BaseException | None]) -> None:
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result


def _summary(progress: BatchProgress, interrupted: bool, halted: str | None) -> BatchSummary:
    return BatchSummary(
        total=progress.total,
        succeeded=progress.succeeded,
        failed=progress.failed,
        retries=progress.retries,
        tokens=progress.tokens,
        interrupted=interrupted,
        elapsed=time.monotonic() - progress.started,
        halted=halted,
    )
