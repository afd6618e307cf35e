from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence

import pytest

from gateway.domain.usage_readers.json_array import MAX_ELEMENT_BYTES, JsonArraySplitter

TRICKY = [
    {"text": 'quote " and brace } and bracket ] and comma ,'},
    {"text": 'backslash \\ then quote \\" then {', "nested": {"a": [1, {"b": "}]"}]}},
    {"empty": {}, "list": [], "unicode": "caf\u00e9 \u2026", "esc": "\u0000\t\n"},
]


def split_all(chunks: list[bytes]) -> list[bytes]:
    splitter = JsonArraySplitter()
    out: list[bytes] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out


def take_all(chunks: list[bytes]) -> list[object]:
    """The elements, parsed, taking each chunk whole when it can, as the reader does."""
    splitter = JsonArraySplitter()
    out: list[object] = []
    for chunk in chunks:
        whole = splitter.take_whole(chunk)
        if whole is None:
            out.extend(json.loads(element) for element in splitter.feed(chunk))
        else:
            out.append(whole)
    return out


def gemini_array(elements: Sequence[object], indent: int | None) -> bytes:
    parts = [json.dumps(e, indent=indent).encode() for e in elements]
    return b"[" + b"\n,\r\n".join(parts) + b"\n]"


@pytest.mark.parametrize("indent", [None, 2])
def test_elements_come_out_whole_however_the_body_is_cut(
    indent: int | None, random_splits: Callable[[bytes, int], list[bytes]]
) -> None:
    body = gemini_array(TRICKY, indent)
    expected = [json.dumps(e, indent=indent).encode() for e in TRICKY]
    assert split_all([body]) == expected
    assert split_all([body[i : i + 1] for i in range(len(body))]) == expected
    for seed in range(20):
        assert split_all(random_splits(body, seed)) == expected


def test_an_element_is_handed_back_as_soon_as_it_closes() -> None:
    splitter = JsonArraySplitter()
    assert splitter.feed(b'[{"a":"}"}') == [b'{"a":"}"}']
    assert splitter.feed(b"\n,\r\n") == []
    assert splitter.feed(b'{"b":1') == []
    assert splitter.feed(b"}\n]") == [b'{"b":1}']


def test_a_backslash_at_a_chunk_end_still_escapes_the_next_quote() -> None:
    chunks = [b'[{"t":"a\\', b'"', b'}"}', b"]"]
    assert split_all(chunks) == [b'{"t":"a\\"}"}']


def test_a_bare_top_level_object_is_one_element() -> None:
    body = b'{"error": {"code": 429, "message": "x}", "status": "RESOURCE_EXHAUSTED"}}'
    assert split_all([body[:10], body[10:]]) == [body]


def test_an_over_large_element_stops_the_splitter() -> None:
    splitter = JsonArraySplitter()
    splitter.feed(b'[{"text":"')
    piece = b"x" * (1 << 20)
    for _ in range(MAX_ELEMENT_BYTES // len(piece) + 1):
        splitter.feed(piece)
    assert splitter.feed(b'"},{"a":1}]') == []


@pytest.mark.parametrize("seed", range(10))
def test_random_documents(seed: int, random_splits: Callable[[bytes, int], list[bytes]]) -> None:
    rng = random.Random(seed)
    alphabet = 'ab{}[]",:\\ \u00e9\n'
    elements = [
        {"k": "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))), "n": [i, {"x": i}]}
        for i in range(rng.randint(1, 6))
    ]
    body = gemini_array(elements, rng.choice([None, 1]))
    got = [json.loads(e) for e in split_all(random_splits(body, seed))]
    assert got == elements


@pytest.mark.parametrize("indent", [None, 2])
def test_an_element_per_chunk_is_taken_whole(indent: int | None) -> None:
    parts = [json.dumps(e, indent=indent).encode() for e in TRICKY]
    splitter = JsonArraySplitter()
    assert splitter.take_whole(b"[" + parts[0]) == TRICKY[0]
    assert splitter.take_whole(b"\n,\r\n" + parts[1]) == TRICKY[1]
    assert splitter.take_whole(b"\n,\r\n" + parts[2] + b"\n]") == TRICKY[2]
    assert splitter.feed(b"\n") == []
    # After the array closed, a comma-led element is not one: it is left to the scan.
    assert splitter.take_whole(b',{"a":1}') is None


@pytest.mark.parametrize(
    ("before", "chunk"),
    [
        (b"", b'[{"a":1},{"b":2}]'),  # two elements: not one object
        (b"", b'{"a":1}]'),  # a closing bracket outside any array
        (b'[{"a":', b"1}"),  # the middle of an element
        (b"[[", b'{"a":1}'),  # nested deeper than an element
        (b"[", b'{"a":1'),  # not closed yet
        (b"[", b'{"a":"}"'),  # ... inside a string
        (b"[", b'{"a":1}x'),  # trailing bytes
    ],
)
def test_a_chunk_that_is_not_one_element_is_left_to_the_scan(before: bytes, chunk: bytes) -> None:
    splitter = JsonArraySplitter()
    splitter.feed(before)
    assert splitter.take_whole(chunk) is None
    expected = split_all([before + chunk])
    assert [*split_all([before]), *splitter.feed(chunk)] == expected


@pytest.mark.parametrize("seed", range(10))
def test_taking_chunks_whole_finds_what_the_scan_finds(
    seed: int, random_splits: Callable[[bytes, int], list[bytes]]
) -> None:
    rng = random.Random(seed)
    alphabet = 'ab{}[]",:\\ \u00e9\n'
    elements = [
        *TRICKY,
        *(
            {"k": "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))), "n": [i]}
            for i in range(rng.randint(1, 6))
        ),
    ]
    indent = rng.choice([None, 2])
    parts = [json.dumps(e, indent=indent).encode() for e in elements]
    body = gemini_array(elements, indent)
    # Cut at random, cut the usual way around each element's separators, and not cut.
    per_element = [b"[" + parts[0], *(b"\n,\r\n" + part for part in parts[1:]), b"\n]"]
    for chunks in (random_splits(body, seed), per_element, [body]):
        assert take_all(chunks) == elements
    bare = b'{"error": {"code": 429, "message": "x}]"}}'
    assert take_all([bare]) == [json.loads(bare)]
