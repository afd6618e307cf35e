"""Many JetStream publishes in flight at once, each acked or reported failed in bounded time.

A JetStream publish is a core NATS publish with a reply subject: the stream answers there with
its ack (`{"stream": ..., "seq": ...}`), an API error (`{"error": ...}`), or, when no stream
listens on the subject, a "503" no-responders status. nats-py's `publish_async` does this with a
semaphore, two random tokens, a future, a done callback and a parsed `PubAck` per message, which
was a third of what one request-log event cost the gateway. Here one reply subscription serves
every batch: a message's reply subject names its batch and its index, an ack marks that slot,
and the batch waits on one future for all of them.

The messages of a batch leave as one buffer of HPUB frames built here (see `_Frames`); publish()
per message remains for what the frames do not cover. The acks come back the short way (see
`_route_acks`): straight from nats-py's protocol parser to their batch.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from gateway.adapters.events.encoding import Outgoing

log = logging.getLogger("gateway.events")

MSG_ID_HEADER = "Nats-Msg-Id"
_NO_RESPONDERS = "503"
_STATUS_HEADER = "Status"
# A subject, reply subject or header value written into a frame: visible ASCII only. A space,
# tab, CR or LF would end the protocol line early (and CRLF could inject a command).
_FRAME_SAFE = re.compile(r"[!-~]+")
# HPUB <subject> <reply> <header size> <total size>, the header block, the payload.
_HPUB = b"HPUB %s %s%d %d %d\r\nNATS/1.0\r\nNats-Msg-Id: %s\r\n\r\n%s\r\n"
_HEADER_SIZE = len(b"NATS/1.0\r\nNats-Msg-Id: \r\n\r\n")
# The raw header block of a "no responders" status message (HMSG): its status line.
_NO_RESPONDERS_LINE = b"NATS/1.0 " + _NO_RESPONDERS.encode()
# nats-py's hook from its protocol parser, one call per MSG/HMSG received.
_PROCESS_MSG_PARAMETERS = ["sid", "subject", "reply", "data", "headers"]


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


class _Frames:
    """A batch of JetStream publishes as one buffer of NATS protocol frames.

    nats-py's publish() validates, encodes and queues every message on its own: a header block
    built with a regex check and a translate, a formatted HPUB line, a queue append and a flush
    check per message, about a quarter of what a request-log event cost. The HPUB frame is the
    NATS client protocol's documented, stable wire format
    (`HPUB <subject> <reply> <header bytes> <total bytes>`, the header block, the payload), so
    a batch is written here and handed to nats-py's outbound queue in one piece, where nats-py
    itself writes it to the socket. That queue (`_send_command`, `_flush_pending`) is not
    nats-py's public API: when a release no longer has it, the sender goes back to publish()
    per message, with one warning.
    """

    __slots__ = ("_flush_pending", "_nc", "_send_command", "_subjects")

    def __init__(self, nc: Client, send_command: Any, flush_pending: Any) -> None:
        self._nc = nc
        self._send_command = send_command
        self._flush_pending = flush_pending
        self._subjects: dict[str, bytes] = {}  # a few event subjects, checked once each

    @classmethod
    def of(cls, nc: Client) -> _Frames | None:
        send_command = getattr(nc, "_send_command", None)
        flush_pending = getattr(nc, "_flush_pending", None)
        if not (
            asyncio.iscoroutinefunction(send_command)
            and asyncio.iscoroutinefunction(flush_pending)
            and hasattr(nc, "_flush_queue")
        ):
            log.warning("nats-py's outbound queue has changed: events are published one by one")
            return None
        return cls(nc, send_command, flush_pending)

    def usable(self) -> bool:
        """Frames go only to a connected client; otherwise publish() decides (it buffers while
        reconnecting, and raises when closed or draining)."""
        nc = self._nc
        return nc.is_connected and not nc.is_draining_pubs

    def frame(self, item: Outgoing, reply_prefix: bytes, index: int) -> bytes | None:
        """The HPUB frame of one message, or None when it must go through publish()."""
        subject = self._subjects.get(item.subject)
        if subject is None:
            if _FRAME_SAFE.fullmatch(item.subject) is None:
                return None
            subject = self._subjects[item.subject] = item.subject.encode()
        payload = item.payload
        if _FRAME_SAFE.fullmatch(item.msg_id) is None or len(payload) > self._nc.max_payload:
            return None
        msg_id = item.msg_id.encode()
        header_size = _HEADER_SIZE + len(msg_id)
        return _HPUB % (
            subject,
            reply_prefix,
            index,
            header_size,
            header_size + len(payload),
            msg_id,
            payload,
        )

    async def write(self, frames: list[bytes]) -> None:
        nc: Any = self._nc
        await self._send_command(b"".join(frames))
        # As publish() does: wake nats-py's flusher unless a wake-up is already queued.
        if nc._flush_queue is not None and nc._flush_queue.empty():
            await self._flush_pending()


AckHandler = Callable[[bytes, bytes, bytes | None], None]


def _route_acks(nc: Client, sub: Subscription, on_ack: AckHandler) -> None:
    """Hands the messages of `sub` to `on_ack(subject, data, raw headers)` straight from nats-py's
    protocol parser; every other message goes the usual way.

    The usual way costs each ack a header parse, a `Msg`, a queue hand-off and a wake-up of the
    subscription's task before the callback runs: about 7 µs of the ~30 µs a request-log event
    cost the publisher (throwaway bench: batches of 30 events against a real nats-server,
    29.1-31.3 → 21.8-23.3 µs per event). The hook, `Client._process_msg`, is not nats-py's
    public API: when a release no longer has it as expected, acks keep the usual way, through
    the subscription's callback (one warning).
    """
    process = getattr(nc, "_process_msg", None)
    sid = getattr(sub, "_id", None)
    stats = getattr(nc, "stats", None)
    if (
        not inspect.iscoroutinefunction(process)
        or list(inspect.signature(process).parameters) != _PROCESS_MSG_PARAMETERS
        or type(sid) is not int
        or not isinstance(stats, dict)
    ):
        log.warning("nats-py's message hook has changed: acks take the subscription's path")
        return

    async def process_msg(
        sid_in: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        if sid_in != sid:
            await process(sid_in, subject, reply, data, headers)
            return
        stats["in_msgs"] += 1  # what nats-py counts for every message
        stats["in_bytes"] += len(data)
        on_ack(subject, data, headers)

    nc._process_msg = process_msg  # type: ignore[method-assign,assignment]


class JetStreamSender:
    """Publishes batches of messages to JetStream over one connection and collects the acks."""

    def __init__(self, nc: Client, *, frames: bool = True, direct_acks: bool = True) -> None:
        self._nc = nc
        self._prefix = nc.new_inbox()
        self._prefix_bytes = self._prefix.encode()
        self._batches: dict[int, _Batch] = {}
        self._ids = itertools.count()
        self._sub: Subscription | None = None
        self._frames = _Frames.of(nc) if frames else None
        self._direct_acks = direct_acks

    async def _subscribed(self) -> bool:
        if self._sub is None:
            try:
                # nats-py re-subscribes on reconnect: one subscription lasts the connection's life.
                self._sub = await self._nc.subscribe(f"{self._prefix}.>", cb=self._on_reply)
            except Exception:  # closed or reconnecting: the batch fails, to be sent again
                return False
            if self._direct_acks:
                _route_acks(self._nc, self._sub, self._on_ack)
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
        try:
            if self._frames is not None and self._frames.usable():
                await self._publish_frames(reply_prefix, batch, items)
            else:
                await self._publish_each(reply_prefix, batch, enumerate(items))
        finally:
            batch.all_written()

    async def _publish_frames(
        self, reply_prefix: str, batch: _Batch, items: Sequence[Outgoing]
    ) -> None:
        assert self._frames is not None
        frame = self._frames.frame
        reply = reply_prefix.encode()
        frames: list[bytes] = []
        others: list[tuple[int, Outgoing]] = []
        for index, item in enumerate(items):
            one = frame(item, reply, index)
            if one is None:
                others.append((index, item))
            else:
                frames.append(one)
        if frames:
            try:
                await self._frames.write(frames)
            except Exception:  # closed meanwhile, outbound buffer full: "send again"
                for index in range(len(items)):
                    batch.not_sent(index)
                return
        await self._publish_each(reply_prefix, batch, others)

    async def _publish_each(
        self, reply_prefix: str, batch: _Batch, items: Iterable[tuple[int, Outgoing]]
    ) -> None:
        publish = self._nc.publish
        for index, item in items:
            try:
                await publish(
                    item.subject,
                    item.payload,
                    reply=f"{reply_prefix}{index}",
                    headers={MSG_ID_HEADER: item.msg_id},
                )
            except Exception:  # closed, bad subject, outbound buffer full: "send again"
                batch.not_sent(index)

    async def _on_reply(self, msg: Msg) -> None:
        """An answer through the subscription (when the direct route is not installed)."""
        headers = msg.headers
        no_responders = headers is not None and headers.get(_STATUS_HEADER) == _NO_RESPONDERS
        self._answer(msg.subject.encode(), msg.data, no_responders)

    def _on_ack(self, subject: bytes, data: bytes, headers: bytes | None) -> None:
        """An answer straight from the protocol parser: raw subject and header block."""
        no_responders = headers is not None and headers.startswith(_NO_RESPONDERS_LINE)
        self._answer(subject, data, no_responders)

    def _answer(self, subject: bytes, data: bytes, no_responders: bool) -> None:
        # <prefix>.<batch id>.<index>
        batch_text, _, index_text = subject[len(self._prefix_bytes) + 1 :].partition(b".")
        try:
            batch = self._batches.get(int(batch_text))
            index = int(index_text)
        except ValueError:
            return
        if batch is not None:
            batch.answer(index, _result(data, no_responders))


def _result(data: bytes, no_responders: bool) -> Result:
    if no_responders:
        return Result.NO_STREAM
    # An ack is {"stream":..,"seq":..}; anything else (an API error, an empty body) is a failure.
    # A stream name or subject cannot hold a '"', so this substring test cannot be fooled.
    if data.startswith(b"{") and b'"error"' not in data and b'"seq"' in data:
        return Result.ACKED
    return Result.FAILED
