from __future__ import annotations

import random
import re

import pytest

from gateway.domain.usage_readers.sse import MAX_LINE_BYTES, SseEvent, SseParser

BOM = b"\xef\xbb\xbf"


def parse(chunks: list[bytes]) -> list[SseEvent]:
    parser = SseParser()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events


def bytewise(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def reference(body: bytes) -> list[SseEvent]:
    """A plain, line-at-a-time reading of the WHATWG rules, for comparison."""
    body = body.removeprefix(BOM)
    events: list[SseEvent] = []
    event: bytes | None = None
    data: bytes | None = None
    for line in re.split(rb"\r\n|\r|\n", body)[:-1]:  # the last piece has no line end yet
        if not line:
            if data is not None:
                events.append((event, data))
            event, data = None, None
        elif not line.startswith(b":"):
            name, _, value = line.partition(b":")
            value = value.removeprefix(b" ")
            if name == b"data":
                data = value if data is None else data + b"\n" + value
            elif name == b"event":
                event = value or None
    return events


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending_gives_the_same_events(ending: bytes) -> None:
    body = ending.join([b"event: a", b"data: 1", b"", b"data: 2", b"", b""])
    expected = [(b"a", b"1"), (None, b"2")]
    assert parse([body]) == expected
    assert parse(bytewise(body)) == expected


def test_a_crlf_pair_split_between_chunks_is_one_line_end() -> None:
    # A CR ending one chunk and the LF opening the next must not make an extra blank line,
    # which would dispatch "event: a" without its data.
    chunks = [b"event: a\r", b"\ndata: 1\r", b"\n\r", b"\n"]
    assert parse(chunks) == [(b"a", b"1")]


def test_empty_chunks_change_nothing() -> None:
    chunks = [b"", b"data: a\r", b"", b"\n\r", b"", b"\n", b""]
    assert parse(chunks) == [(None, b"a")]


def test_comments_are_ignored_and_data_lines_are_joined_with_lf() -> None:
    body = b": keep-alive\ndata: first\n: between\ndata: second\ndata:\n\n"
    assert parse([body]) == [(None, b"first\nsecond\n")]


def test_only_one_leading_space_is_removed() -> None:
    body = b"data:  two spaces\n\ndata:none\n\nevent:x\ndata: y\n\n"
    assert parse([body]) == [(None, b" two spaces"), (None, b"none"), (b"x", b"y")]


def test_an_event_without_data_is_not_dispatched_and_its_name_is_reset() -> None:
    body = b"event: lonely\n\ndata: after\n\n"
    assert parse([body]) == [(None, b"after")]


def test_a_line_without_colon_is_a_field_with_an_empty_value() -> None:
    body = b"data\n\nid: 7\nretry: 100\nunknown: x\ndata: z\n\n"
    assert parse([body]) == [(None, b""), (None, b"z")]


@pytest.mark.parametrize("split", [False, True])
def test_a_leading_bom_is_ignored(split: bool) -> None:
    body = BOM + b"event: e\ndata: d\n\n"
    assert parse(bytewise(body) if split else [body]) == [(b"e", b"d")]


def test_a_bom_after_the_start_is_kept() -> None:
    assert parse([b"data: " + BOM + b"\n\n"]) == [(None, BOM)]


def test_pending_is_the_event_an_end_of_stream_would_flush() -> None:
    parser = SseParser()
    assert parser.feed(b'event: message_delta\ndata: {"a":1}\n') == []
    assert parser.pending() == (b"message_delta", b'{"a":1}')
    assert parser.pending() == (b"message_delta", b'{"a":1}')  # nothing consumed
    assert parser.feed(b"\n") == [(b"message_delta", b'{"a":1}')]
    assert parser.pending() is None


def test_pending_includes_an_unterminated_last_line() -> None:
    parser = SseParser()
    parser.feed(b"data: {}\n\ndata: [DO")
    assert parser.pending() == (None, b"[DO")


def test_an_over_long_line_is_dropped_and_parsing_goes_on() -> None:
    parser = SseParser()
    piece = b"x" * (1 << 20)
    parser.feed(b"data: ")
    for _ in range(MAX_LINE_BYTES // len(piece) + 2):
        assert parser.feed(piece) == []
    assert parser.pending() is None
    assert parser.feed(b"tail of the long line\ndata: ok\n\n") == [(None, b"ok")]


LINES = [
    b"data: {}",
    b'data: {"type":"x","text":"caf\xc3\xa9"}',
    b"data:tight",
    b"data:  spaced",
    b"data",
    b"event: ping",
    b"event:",
    b": comment",
    b"id: 1",
    b"retry: 5",
    b"other: value",
    b"",
    b"",
]


@pytest.mark.parametrize("seed", range(40))
def test_random_streams_match_the_reference_reading(seed: int) -> None:
    rng = random.Random(seed)
    body = b"".join(
        rng.choice(LINES) + rng.choice([b"\n", b"\r\n", b"\r"]) for _ in range(rng.randint(1, 60))
    )
    if rng.random() < 0.2:
        body = BOM + body
    cuts = sorted(rng.randint(0, len(body)) for _ in range(rng.randint(0, 30)))  # empties too
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    assert parse(chunks) == reference(body)
    assert parse(bytewise(body)) == reference(body)
