"""The batch sender against a real nats-server: each message's own answer, in bounded time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import StreamConfig
from pytest_mock import MockerFixture

from gateway.adapters.events.encoding import Outgoing
from gateway.adapters.events.nats_sender import JetStreamSender, Result
from gateway.devtools.loopback import NatsServer

pytestmark = pytest.mark.integration


@pytest.fixture(
    params=[
        {"frames": True, "direct_acks": True},
        {"frames": False, "direct_acks": True},
        {"frames": True, "direct_acks": False},
    ],
    ids=["frames", "publish", "acks-by-subscription"],
)
def paths(request: pytest.FixtureRequest) -> dict[str, bool]:
    """Every behaviour holds for the batch's HPUB frames and for publish() per message, and for
    acks taken straight from the protocol parser and through the subscription's callback."""
    value: dict[str, bool] = request.param
    return value


@pytest_asyncio.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=1, connect_timeout=1)
    yield client
    await client.close()


async def _stream(nc: Client, name: str, subject: str, **config: object) -> None:
    js = nc.jetstream(timeout=2)
    await js.add_stream(StreamConfig(name=name, subjects=[subject], **config))  # type: ignore[arg-type]


def _items(subject: str, count: int, start: int = 0, size: int = 20) -> list[Outgoing]:
    return [Outgoing(subject, f"id-{i}", b"x" * size) for i in range(start, start + count)]


async def _stored(nc: Client, stream: str) -> int:
    info = await nc.jetstream(timeout=2).stream_info(stream)
    return info.state.messages


async def test_every_message_of_a_batch_is_acked_and_stored_once(
    nc: Client, paths: dict[str, bool]
) -> None:
    await _stream(nc, "S1", "s1.>")
    sender = JetStreamSender(nc, **paths)
    results = await sender.send_batch(_items("s1.a", 300), timeout=5)
    assert results == [Result.ACKED] * 300
    assert await _stored(nc, "S1") == 300
    msg = await nc.jetstream(timeout=2).get_msg("S1", 7)
    assert msg.headers is not None and msg.headers["Nats-Msg-Id"] == "id-6"


async def test_a_batch_sent_again_is_acked_and_deduplicated(
    nc: Client, paths: dict[str, bool]
) -> None:
    await _stream(nc, "S2", "s2.>", duplicate_window=60)
    sender = JetStreamSender(nc, **paths)
    first = await sender.send_batch(_items("s2.a", 50), timeout=5)
    again = await sender.send_batch(_items("s2.a", 60), timeout=5)
    assert first == [Result.ACKED] * 50 and again == [Result.ACKED] * 60
    assert await _stored(nc, "S2") == 60


async def test_each_answer_goes_to_its_own_message(nc: Client, paths: dict[str, bool]) -> None:
    # Messages over the stream's size limit get an API error; the others in between are acked.
    await _stream(nc, "S3", "s3.>", max_msg_size=100)
    sizes = [10, 500, 10, 10, 500, 10]
    items = [Outgoing("s3.a", f"m{i}", b"y" * size) for i, size in enumerate(sizes)]
    results = await JetStreamSender(nc, **paths).send_batch(items, timeout=5)
    expected = [Result.ACKED if size < 100 else Result.FAILED for size in sizes]
    assert results == expected
    assert await _stored(nc, "S3") == 4


async def test_no_stream_on_the_subject_is_reported_as_such(
    nc: Client, paths: dict[str, bool]
) -> None:
    results = await JetStreamSender(nc, **paths).send_batch(_items("nowhere.a", 3), timeout=5)
    assert results == [Result.NO_STREAM] * 3


async def test_unanswered_messages_fail_after_the_timeout_and_late_answers_are_ignored(
    nc: Client, paths: dict[str, bool]
) -> None:
    # A plain subscriber takes the messages (so no "no responders") and answers only later.
    held: list[Msg] = []

    async def hold(msg: Msg) -> None:
        held.append(msg)

    await nc.subscribe("silent.>", cb=hold)
    await _stream(nc, "S5", "s5.>")
    sender = JetStreamSender(nc, **paths)
    began = time.monotonic()
    results = await sender.send_batch(_items("silent.a", 4), timeout=0.3)
    assert results == [Result.FAILED] * 4
    assert 0.3 <= time.monotonic() - began < 2
    for msg in held:  # answers for a batch that already gave up
        await nc.publish(msg.reply, b'{"stream":"S5","seq":1}')
    await nc.flush()
    assert await sender.send_batch(_items("s5.a", 5), timeout=5) == [Result.ACKED] * 5


async def test_a_closed_connection_fails_the_batch_at_once(
    nc: Client, paths: dict[str, bool]
) -> None:
    await _stream(nc, "S6", "s6.>")
    sender = JetStreamSender(nc, **paths)
    assert await sender.send_batch(_items("s6.a", 2), timeout=5) == [Result.ACKED] * 2
    await nc.close()
    began = time.monotonic()
    assert await sender.send_batch(_items("s6.a", 3, start=2), timeout=5) == [Result.FAILED] * 3
    assert time.monotonic() - began < 1


async def test_a_connection_closed_before_the_first_batch_fails_it_without_raising(
    nc: Client, paths: dict[str, bool]
) -> None:
    sender = JetStreamSender(nc, **paths)  # its reply subscription is made on the first batch
    await nc.close()
    assert await sender.send_batch(_items("s8.a", 3), timeout=5) == [Result.FAILED] * 3


async def test_concurrent_batches_get_their_own_answers(nc: Client, paths: dict[str, bool]) -> None:
    await _stream(nc, "S7", "s7.>", max_msg_size=100)
    sender = JetStreamSender(nc, **paths)
    good = sender.send_batch(_items("s7.a", 100), timeout=5)
    bad = sender.send_batch(_items("s7.b", 100, start=100, size=500), timeout=5)
    good_results, bad_results = await asyncio.gather(good, bad)
    assert good_results == [Result.ACKED] * 100
    assert bad_results == [Result.FAILED] * 100


async def test_the_frames_path_writes_the_batch_and_publish_is_left_for_the_rest(
    nc: Client, mocker: MockerFixture
) -> None:
    # Ids a frame cannot carry (a space, a CR LF) go through publish(), which cleans them; the
    # others leave in the batch's frames, and every message gets its own answer.
    await _stream(nc, "S9", "s9.>")
    publish = mocker.spy(nc, "publish")
    ids = ["a", "b c", "d", "e\r\nPING", "f"]
    items = [Outgoing("s9.a", msg_id, b"{}") for msg_id in ids]
    results = await JetStreamSender(nc, frames=True).send_batch(items, timeout=5)
    assert results == [Result.ACKED] * 5
    assert publish.call_count == 2
    js = nc.jetstream(timeout=2)
    stored = [await js.get_msg("S9", seq) for seq in range(1, 6)]
    headers = sorted(msg.headers["Nats-Msg-Id"] for msg in stored if msg.headers)
    assert headers == ["a", "b c", "d", "e  PING", "f"]
    assert all(msg.data == b"{}" for msg in stored)


async def test_without_frames_every_message_goes_through_publish(
    nc: Client, mocker: MockerFixture
) -> None:
    await _stream(nc, "S10", "s10.>")
    publish = mocker.spy(nc, "publish")
    results = await JetStreamSender(nc, frames=False).send_batch(_items("s10.a", 4), timeout=5)
    assert results == [Result.ACKED] * 4 and publish.call_count == 4


async def test_a_client_without_the_outbound_queue_falls_back_to_publish(
    nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    class Bare:  # what a nats-py release without `_send_command` would look like to the sender
        def __init__(self, inner: Client) -> None:
            self._inner = inner

        def __getattr__(self, name: str) -> object:
            if name in ("_send_command", "_flush_pending", "_flush_queue"):
                raise AttributeError(name)
            return getattr(self._inner, name)

    await _stream(nc, "S11", "s11.>")
    sender = JetStreamSender(Bare(nc), frames=True)  # type: ignore[arg-type]
    assert "published one by one" in caplog.text
    assert await sender.send_batch(_items("s11.a", 3), timeout=5) == [Result.ACKED] * 3
    assert await _stored(nc, "S11") == 3


async def test_acks_go_straight_to_their_batch_not_through_the_subscription(nc: Client) -> None:
    await _stream(nc, "S12", "s12.>")
    sender = JetStreamSender(nc)
    assert await sender.send_batch(_items("s12.a", 5), timeout=5) == [Result.ACKED] * 5
    subscription = await nc.subscribe("other.subject")  # every other message: the usual way
    await nc.publish("other.subject", b"hello")
    assert (await subscription.next_msg(timeout=2)).data == b"hello"
    # nats-py counts a message it delivers to a subscription; the acks bypassed it.
    assert sender._sub is not None and sender._sub.delivered == 0


async def test_a_client_with_another_message_hook_takes_acks_through_the_subscription(
    nc: Client, caplog: pytest.LogCaptureFixture
) -> None:
    original = nc._process_msg

    async def changed(*arguments: Any) -> None:  # a release whose hook looks otherwise
        await original(*arguments)

    nc._process_msg = changed  # type: ignore[method-assign,assignment]
    await _stream(nc, "S13", "s13.>")
    sender = JetStreamSender(nc)
    assert await sender.send_batch(_items("s13.a", 3), timeout=5) == [Result.ACKED] * 3
    assert "acks take the subscription's path" in caplog.text
    assert nc._process_msg is changed  # left as it was
    assert sender._sub is not None and sender._sub.delivered == 3
