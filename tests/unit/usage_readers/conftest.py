"""Shared helpers: fixture bodies, and feeding a body every way a network could cut it."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from gateway.domain.usage_readers import UsageReader, UsageReport

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "usage"

MakeReader = Callable[[], UsageReader]
ReadEveryWay = Callable[[MakeReader, bytes], UsageReport]


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def random_splits(body: bytes, seed: int) -> list[bytes]:
    """`body` cut at random points (seeded), empty pieces included."""
    rng = random.Random(seed)
    cuts = sorted(rng.randint(0, len(body)) for _ in range(rng.randint(1, max(1, len(body) // 8))))
    edges = [0, *cuts, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges)]


def read(make: MakeReader, chunks: Iterable[bytes]) -> UsageReport:
    reader = make()
    for chunk in chunks:
        reader.feed(chunk)
    return reader.report()


def read_every_way(make: MakeReader, body: bytes) -> UsageReport:
    """The report for `body` fed whole; asserts byte-by-byte and random cuts give the same."""
    whole = read(make, [body])
    assert read(make, [body[i : i + 1] for i in range(len(body))]) == whole
    for seed in range(8):
        assert read(make, random_splits(body, seed)) == whole, f"seed {seed}"
    return whole


def line_endings(body: bytes, ending: bytes) -> bytes:
    """An LF-ended SSE body with every line end replaced by `ending`."""
    return body.replace(b"\r\n", b"\n").replace(b"\n", ending)


# Test modules take these helpers as fixtures rather than importing this module: that works
# whatever pytest import mode is in use.
@pytest.fixture(name="read_every_way")
def read_every_way_fixture() -> ReadEveryWay:
    return read_every_way


@pytest.fixture(name="fixture_bytes")
def fixture_bytes_fixture() -> Callable[[str], bytes]:
    return fixture_bytes


@pytest.fixture(name="read")
def read_fixture() -> Callable[[MakeReader, Iterable[bytes]], UsageReport]:
    return read


@pytest.fixture(name="random_splits")
def random_splits_fixture() -> Callable[[bytes, int], list[bytes]]:
    return random_splits


@pytest.fixture(name="line_endings")
def line_endings_fixture() -> Callable[[bytes, bytes], bytes]:
    return line_endings
