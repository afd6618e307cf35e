"""Many JetStream publishes in flight at once, each acked or reported failed in bounded time.

A JetStream publish is a core NATS publish with a reply subject: the stream answers there with
its ack (`{"stream": ..., "seq": ...}`), an API error (`{"error": ...}`), or, when no stream
listens on the subject, a "503" no-responders status. nats-py's `publish_async` does this with a
semaphore, two random tokens, a future, a done callback and a parsed `PubAck` per message, which
was a third of what one request-log event cost the gateway. Here one reply subscription serves
every batch: a message's reply subject names its batch and its index, an ack marks that slot,
and the batch waits on one future for all of them.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from enum import Enum

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from gateway.adapters.events.encoding import Outgoing

MSG_ID_HEADER = "Nats-Msg-Id"
_NO_RESPONDERS = "503"
_STATUS_HEADER = "Status"


class Result(Enum):
    ACKED = "acked"
    FAILED = "failed"  # unknown outcome (timeout, connection lost): may be stored; send again
    NO_STREAM = "no_stream"  # no stream listens on the subject


class _Batch:
    """The answers of one batch; `done` resolves once every sent message has one."""

    __slots__ = ("_answers", "_waiting", "done")

    def __init__(self, size: int, done: asyncio.Future[None]) -> None:
        self._answers: list[Result | None] = [None] * size
        # One more than the size while publishing: acks that come back before the last
        # message is written cannot end the batch early.
        self._waiting = size + 1
        self.done = done

    def answer(self, index: int, result: Result) -> None:
        if 0 <= index < len(self._answers) and self._answers[index] is None:
            self._answers[index] = result
            self._count_down()

    def not_sent(self, index: int) -> None:
        self.answer(index, Result.FAILED)

    def all_written(self) -> None:
        self._count_down()

    def _count_down(self) -> None:
        self._waiting -= 1
        if self._waiting == 0 and not self.done.done():
            self.done.set_result(None)

    def results(self) -> list[Result]:
        return [Result.FAILED if answer is None else answer for answer in self._answers]


class JetStreamSender:
    """Publishes batches of messages to JetStream over one connection and collects the acks."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox()
        self._batches: dict[int, _Batch] = {}
        self._ids = itertools.count()
        self._sub: Subscription | None = None

    async def _subscribed(self) -> bool:
        if self._sub is None:
            try:
                # nats-py re-subscribes on reconnect: one subscription lasts the connection's life.
                self._sub = await self._nc.subscribe(f"{self._prefix}.>", cb=self._on_reply)
            except Exception:  # closed or reconnecting: the batch fails, to be sent again
                return False
        return True

    async def send_batch(self, items: Sequence[Outgoing], timeout: float) -> list[Result]:
        """Publish every item (Nats-Msg-Id = its id) and wait, at most `timeout`, for the acks.

        A failed item may still have been stored (a timed-out publish can land later): sending it
        again with the same Nats-Msg-Id is deduplicated by the stream within its duplicate window.
        """
        if not items:
            return []
        if not await self._subscribed():
            return [Result.FAILED] * len(items)
        batch_id = next(self._ids)
        batch = _Batch(len(items), asyncio.get_running_loop().create_future())
        self._batches[batch_id] = batch
        try:
            await self._publish(batch_id, batch, items)
            await asyncio.wait({batch.done}, timeout=timeout)
        finally:
            del self._batches[batch_id]  # answers that come later are dropped
            batch.done.cancel()
        return batch.results()

    async def _publish(self, batch_id: int, batch: _Batch, items: Sequence[Outgoing]) -> None:
        reply_prefix = f"{self._prefix}.{batch_id}."
        publish = self._nc.publish
        try:
            for index, item in enumerate(items):
                try:
                    await publish(
                        item.subject,
                        item.payload,
                        reply=f"{reply_prefix}{index}",
                        headers={MSG_ID_HEADER: item.msg_id},
                    )
                except Exception:  # closed, outbound buffer full: "send again"
                    batch.not_sent(index)
        finally:
            batch.all_written()

    async def _on_reply(self, msg: Msg) -> None:
        batch_text, _, index_text = msg.subject[len(self._prefix) + 1 :].partition(".")
        try:
            batch = self._batches.get(int(batch_text))
            index = int(index_text)
        except ValueError:
            return
        if batch is not None:
            batch.answer(index, _result(msg))


def _result(msg: Msg) -> Result:
    headers = msg.headers
    if headers and headers.get(_STATUS_HEADER) == _NO_RESPONDERS:
        return Result.NO_STREAM
    # An ack is {"stream":..,"seq":..}; anything else (an API error, an empty body) is a failure.
    # A stream name or subject cannot hold a '"', so this substring test cannot be fooled.
    data = msg.data
    if data.startswith(b"{") and b'"error"' not in data and b'"seq"' in data:
        return Result.ACKED
    return Result.FAILED
