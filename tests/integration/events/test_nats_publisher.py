"""The NATS publisher against a real nats-server: delivered once, spooled when down, replayed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace

import pytest
from pytest_mock import MockerFixture

from gateway.adapters.events.config import NatsPublisherConfig
from gateway.adapters.events.encoding import Outgoing
from gateway.adapters.events.nats_publisher import NatsJetStreamPublisher
from gateway.adapters.events.nats_sender import Result
from gateway.devtools.loopback import NatsServer
from tests.integration.events.conftest import StreamReader
from tests.unit.events.samples import sample_event

pytestmark = pytest.mark.integration


async def test_each_event_is_stored_once_with_its_id_and_subject(
    publisher_config: NatsPublisherConfig, stream: StreamReader
) -> None:
    publisher = NatsJetStreamPublisher(publisher_config)
    await publisher.start()
    assert publisher.state == "connected"
    events = [sample_event(i) for i in range(30)]
    for event in events:
        publisher.publish(event)
    stored = await stream.wait_for_count(30)
    await publisher.close()
    messages = await stream.messages()
    assert [m[2]["id"] for m in messages] == [e.id for e in events]
    for (subject, headers, body), event in zip(messages, events, strict=True):
        assert subject == f"{publisher_config.subject_prefix}.{event.provider.value}"
        assert headers["Nats-Msg-Id"] == event.id
        assert body == event.to_dict()
    assert len(stored) == 30 and publisher.published == 30 and publisher.spooled == 0


async def test_start_is_bounded_when_nats_is_down_and_events_are_replayed_later(
    nats_server: NatsServer, publisher_config: NatsPublisherConfig, stream: StreamReader
) -> None:
    nats_server.stop()
    publisher = NatsJetStreamPublisher(publisher_config)
    began = time.monotonic()
    await publisher.start()
    assert time.monotonic() - began < publisher_config.connect_timeout + 0.3
    events = [sample_event(i) for i in range(200)]
    for event in events:
        publisher.publish(event)
    await asyncio.sleep(0.3)
    assert publisher.state == "spooling" and publisher.spooled == 200
    assert publisher.spool_depth_bytes > 0
    ready, details = await publisher.readiness()
    assert ready and details["spooling"] and not details["connected"]
    nats_server.start()
    stored = await stream.wait_for_count(200)
    assert sorted(e["id"] for e in stored) == sorted(e.id for e in events)
    assert publisher.spool_depth_bytes == 0 and publisher.state == "connected"
    await publisher.close()
    assert list(publisher_config.spool_dir.glob("*.spool")) == []


async def test_close_delivers_the_queue(
    publisher_config: NatsPublisherConfig, stream: StreamReader
) -> None:
    publisher = NatsJetStreamPublisher(publisher_config)
    await publisher.start()
    for i in range(2000):
        publisher.publish(sample_event(i))
    await publisher.close()
    assert publisher.published == 2000
    assert len(await stream.wait_for_count(2000)) == 2000


async def test_every_batch_gathers_for_the_window_and_close_cuts_it_short(
    publisher_config: NatsPublisherConfig, stream: StreamReader
) -> None:
    publisher = NatsJetStreamPublisher(replace(publisher_config, gather_window=30.0))
    await publisher.start()
    publisher.publish(sample_event(0))  # an idle pump gathers too, not only after a batch
    await asyncio.sleep(0.3)
    assert publisher.published == 0
    for i in range(1, 4):
        publisher.publish(sample_event(i))
    await asyncio.sleep(0.3)
    assert publisher.published == 0  # still the same batch, gathering
    began = time.monotonic()
    await publisher.close()
    assert time.monotonic() - began < 2  # not the 30 s window
    assert publisher.published == 4
    assert len(await stream.wait_for_count(4)) == 4


async def test_a_full_batch_does_not_wait_for_the_window(
    publisher_config: NatsPublisherConfig, stream: StreamReader
) -> None:
    config = replace(publisher_config, gather_window=30.0, max_in_flight=10)
    publisher = NatsJetStreamPublisher(config)
    await publisher.start()
    for i in range(35):  # 4 batches: the first three full
        publisher.publish(sample_event(i))
    await stream.wait_for_count(30)
    await asyncio.sleep(0.3)
    assert publisher.published == 30 and publisher.queue_depth == 5
    await publisher.close()
    assert publisher.published == 35


async def test_close_spools_the_queue_when_nats_is_down_and_next_start_replays_it(
    nats_server: NatsServer, publisher_config: NatsPublisherConfig, stream: StreamReader
) -> None:
    publisher = NatsJetStreamPublisher(publisher_config)
    await publisher.start()
    nats_server.stop(kill=True)
    for i in range(100):
        publisher.publish(sample_event(i))
    await publisher.close()
    assert publisher.spooled == 100 and publisher.published == 0
    assert list(publisher_config.spool_dir.glob("*.spool"))
    nats_server.start()
    second = NatsJetStreamPublisher(publisher_config)
    await second.start()
    assert len(await stream.wait_for_count(100)) == 100
    await second.close()
    assert list(publisher_config.spool_dir.glob("*.spool")) == []


async def test_a_batch_the_sender_fails_on_is_spooled_and_replayed(
    publisher_config: NatsPublisherConfig,
    stream: StreamReader,
    mocker: MockerFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Fault injection: the sender answers every failure it knows of; an exception is a bug,
    # and the batch it held must still not be lost.
    publisher = NatsJetStreamPublisher(publisher_config)
    await publisher.start()
    sender = publisher._link.sender
    real_send = sender.send_batch
    broken = mocker.patch.object(sender, "send_batch", side_effect=RuntimeError("bug"))
    for i in range(20):
        publisher.publish(sample_event(i))
    deadline = time.monotonic() + 5
    while publisher.spooled < 20 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert publisher.spooled == 20 and broken.called
    assert "event publisher step failed" in caplog.text
    mocker.patch.object(sender, "send_batch", side_effect=real_send)  # the bug is fixed
    assert len(await stream.wait_for_count(20)) == 20
    await publisher.close()
    assert publisher.published + publisher.counters.replayed == 20


async def test_a_replay_batch_the_sender_fails_on_is_read_again(
    nats_server: NatsServer,
    publisher_config: NatsPublisherConfig,
    stream: StreamReader,
    mocker: MockerFixture,
) -> None:
    publisher = NatsJetStreamPublisher(publisher_config)
    await publisher.start()
    nats_server.stop(kill=True)
    # Published once the link knows NATS is gone, the events go to the spool without a publish
    # that nats-py would buffer and flush on reconnect: only the replay can store them.
    deadline = time.monotonic() + 5
    while publisher.state == "connected" and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    published = [sample_event(i) for i in range(30)]
    for event in published:
        publisher.publish(event)
    while publisher.spooled < 30 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert publisher.spooled == 30 and publisher.counters.failed_publishes == 0
    sender = publisher._link.sender
    real_send = sender.send_batch
    calls = 0

    async def first_call_fails(items: Sequence[Outgoing], timeout: float) -> list[Result]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("bug")
        return await real_send(items, timeout)

    mocker.patch.object(sender, "send_batch", side_effect=first_call_fails)
    nats_server.start()
    events = await stream.wait_for_count(30)
    await publisher.close()
    assert calls >= 2
    assert sorted(e["id"] for e in events) == sorted(e.id for e in published)
    assert publisher.counters.replayed == 30


async def test_spool_bound_drops_with_a_counter_and_one_error_line(
    nats_server: NatsServer,
    publisher_config: NatsPublisherConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:
    nats_server.stop()
    config = replace(publisher_config, spool_max_bytes=20_000)
    publisher = NatsJetStreamPublisher(config)
    await publisher.start()
    with caplog.at_level(logging.ERROR, logger="gateway.events"):
        for i in range(100):
            publisher.publish(sample_event(i))
        await asyncio.sleep(0.3)
    assert publisher.spooled > 0 and publisher.dropped == 100 - publisher.spooled
    assert publisher.spool_depth_bytes <= 20_000
    drops = [r for r in caplog.records if "DROPPED" in r.getMessage()]
    assert len(drops) == 1
    await publisher.close()


async def test_an_existing_stream_is_left_as_it_is(
    nats_server: NatsServer, publisher_config: NatsPublisherConfig
) -> None:
    import nats
    from nats.js.api import StreamConfig

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    subjects = [f"{publisher_config.subject_prefix}.>"]
    await js.add_stream(StreamConfig(name=publisher_config.stream, subjects=subjects, max_age=60))
    publisher = NatsJetStreamPublisher(publisher_config)
    await publisher.start()
    publisher.publish(sample_event())
    await publisher.close()
    info = await js.stream_info(publisher_config.stream)
    await nc.close()
    assert info.config.max_age == 60 and info.state.messages == 1
