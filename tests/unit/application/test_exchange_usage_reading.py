"""How a relayed body reaches its usage reader: in batches, all of it, and never more than one
batch held; a broken encoding stops the reading, not the relay."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import pytest

from gateway.application.exchange import READ_BATCH_BYTES, RelayExchange
from gateway.application.request_trace import RequestTrace
from gateway.domain.caller import Caller
from gateway.domain.secrets import Secret
from gateway.domain.usage_readers import UsageReport
from gateway.domain.usage_readers.claude import messages_sse_reader
from tests.fakes import ScriptedResponse
from tests.unit.application.test_relay_service import MESSAGES, SSE, Writer, command


class RecordingReader:
    """A usage reader that keeps what it was fed, piece by piece."""

    def __init__(self) -> None:
        self.fed: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        self.fed.append(chunk)

    def report(self, *, text_when_final: bool = True) -> UsageReport:
        return UsageReport()


def exchange_for(
    response: ScriptedResponse,
    reader: RecordingReader | None = None,
    content_encoding: str | None = None,
) -> tuple[RelayExchange, list[RelayExchange]]:
    finished: list[RelayExchange] = []
    trace = RequestTrace(
        command=command(MESSAGES),
        caller=Caller(credential=Secret("k"), place=None),
        started_at=datetime.now(UTC),
        started=0.0,
        upstream_kind="direct",
    )
    exchange = RelayExchange(
        trace=trace,
        response=response,
        headers=[],
        streaming=True,
        reader=reader if reader is not None else messages_sse_reader(),
        content_encoding=content_encoding,
        stream_filter=None,
        rewrite_origin=None,
        on_finish=lambda done, error: finished.append(done),
        monotonic=lambda: 1.0,
    )
    return exchange, finished


async def test_a_stream_is_read_in_batches_and_its_rest_at_the_end() -> None:
    chunks = [bytes([65 + n % 26]) * 1000 for n in range(40)]  # 40,000 bytes, 4.9 batches
    reader = RecordingReader()
    exchange, finished = exchange_for(ScriptedResponse(headers=SSE, body_chunks=chunks), reader)
    held: list[int] = []

    def write(chunk: bytes) -> bool:
        held.append(sum(map(len, chunks[: len(held) + 1])) - sum(map(len, reader.fed)))
        return True

    assert await exchange.push(write) is None
    assert len(reader.fed) == 4 and all(len(piece) >= READ_BATCH_BYTES for piece in reader.fed)
    assert max(held) < READ_BATCH_BYTES  # what arrived and is not read yet stays under a batch
    exchange.finish()
    assert b"".join(reader.fed) == b"".join(chunks)  # every byte once, in order
    assert len(reader.fed) == 5 and finished == [exchange]


async def test_a_cut_stream_is_read_to_its_last_byte() -> None:
    chunks = [b"x" * 100, b"y" * 100]
    reader = RecordingReader()
    exchange, _ = exchange_for(
        ScriptedResponse(headers=SSE, body_chunks=chunks, fail_with=ConnectionResetError()),
        reader,
    )
    try:
        await exchange.push(Writer())
    except ConnectionResetError as exc:
        exchange.finish(exc)
    assert reader.fed == [b"x" * 100 + b"y" * 100]


async def test_a_broken_encoding_stops_the_reading_and_the_client_gets_every_byte() -> None:
    start = (
        b"event: message_start\ndata: "
        b'{"type":"message_start","message":{"usage":{"input_tokens":20,"output_tokens":1}}}\n\n'
    )
    encoder = zlib.compressobj(wbits=31)
    chunks = [encoder.compress(start) + encoder.flush(zlib.Z_SYNC_FLUSH), b"\xff" * 20, b"tail"]
    exchange, _ = exchange_for(
        ScriptedResponse(headers=SSE, body_chunks=chunks), content_encoding="gzip"
    )
    write = Writer()
    assert await exchange.push(write) is None
    exchange.finish()
    assert write.written == chunks
    report = exchange.trace.report
    assert report.usage.input_tokens == 20 and not report.final  # read up to the broken piece


async def test_a_broken_compressed_body_is_answered_as_it_came() -> None:
    body = b"\x1f\x8b\x08\x00" + b"\xff" * 20  # a gzip header, then no deflate data
    exchange, finished = exchange_for(ScriptedResponse(body_chunks=[body]), content_encoding="gzip")
    assert await exchange.read_body() == body
    exchange.finish()
    assert finished == [exchange] and exchange.trace.report == UsageReport()


class BrokenReader(RecordingReader):
    def feed(self, chunk: bytes) -> None:
        raise RuntimeError("a reader's bug")


async def test_a_readers_bug_at_the_end_still_concludes_the_request() -> None:
    exchange, finished = exchange_for(
        ScriptedResponse(headers=SSE, body_chunks=[b"data: {}\n\n"]), BrokenReader()
    )
    assert await exchange.push(Writer()) is None
    with pytest.raises(RuntimeError):
        exchange.finish()
    assert finished == [exchange] and exchange.trace.report == UsageReport()
