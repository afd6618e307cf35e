"""The spool on a real temp directory: order, bounds, acked offsets, locks, torn lines."""

from __future__ import annotations

import os
from pathlib import Path

from gateway.adapters.events.spool import Spool


def lines_of(spool: Spool, n: int = 1000) -> list[bytes]:
    found = spool.next_batch(n)
    return [] if found is None else [line for _, line in found[1]]


def test_lines_come_back_in_order_after_seal(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000)
    spool.open()
    for i in range(5):
        assert spool.append(b'{"n":%d}' % i)
    assert spool.depth_bytes == sum(len(b'{"n":0}') + 1 for _ in range(5))
    spool.seal()
    assert lines_of(spool) == [b'{"n":%d}' % i for i in range(5)]


def test_bound_refuses_without_keeping_anything(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=20)
    spool.open()
    assert spool.append(b"x" * 9) and spool.append(b"y" * 9)
    assert not spool.append(b"z")
    assert spool.depth_bytes == 20


def test_acked_offset_survives_a_new_owner(tmp_path: Path) -> None:
    first = Spool(tmp_path, max_bytes=10_000)
    first.open()
    for i in range(4):
        first.append(b"line%d" % i)
    first.seal()
    segment, batch = first.next_batch(2) or (None, [])
    assert segment is not None
    segment.mark_acked(batch[-1][0])
    first.close()
    second = Spool(tmp_path, max_bytes=10_000)
    assert second.open() == 1
    assert lines_of(second) == [b"line2", b"line3"]


def test_a_locked_segment_is_not_adopted(tmp_path: Path) -> None:
    owner = Spool(tmp_path, max_bytes=10_000)
    owner.open()
    owner.append(b"mine")
    owner.flush()
    other = Spool(tmp_path, max_bytes=10_000)
    assert other.open() == 0
    owner.close()
    assert Spool(tmp_path, max_bytes=10_000).open() == 1


def test_a_torn_last_line_is_skipped_and_counted(tmp_path: Path) -> None:
    writer = Spool(tmp_path, max_bytes=10_000)
    writer.open()
    writer.append(b"whole")
    writer.close()
    (segment_path,) = tmp_path.glob("*.spool")
    with open(segment_path, "ab") as f:
        f.write(b'{"cut sho')
    reader = Spool(tmp_path, max_bytes=10_000)
    reader.open()
    assert lines_of(reader) == [b"whole"]
    assert reader.next_batch(10) is None
    assert reader.torn_lines == 1 and list(tmp_path.glob("*.spool")) == []


def test_empty_segment_is_removed_on_close(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000)
    spool.open()
    spool.append(b"a")
    spool.seal()
    segment, batch = spool.next_batch(10) or (None, [])
    assert segment is not None
    segment.mark_acked(batch[-1][0])
    spool.remove_done()
    spool.close()
    assert os.listdir(tmp_path) == []


async def test_sync_fsyncs_in_a_thread(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=10_000)
    spool.open()
    spool.append(b"durable")
    await spool.sync()
    (path,) = tmp_path.glob("*.spool")
    assert path.read_bytes() == b"durable\n"
    spool.close()
