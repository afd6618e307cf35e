"""Compressed request bodies (Codex sends zstd) are decoded within the size limit."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard

from gateway.domain.errors import InvalidRequest, PayloadTooLarge
from gateway.entrypoints.http.request_body import decode_body

PLAIN = b'{"model":"gpt-5","input":"' + b"x" * 1000 + b'"}'
ENCODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": zstandard.ZstdCompressor().compress,
}


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_each_encoding_decodes(encoding: str) -> None:
    assert decode_body(ENCODERS[encoding](PLAIN), encoding, 10_000) == PLAIN


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_a_bomb_stops_at_the_limit(encoding: str) -> None:
    bomb = ENCODERS[encoding](b"0" * 5_000_000)
    with pytest.raises(PayloadTooLarge):
        decode_body(bomb, encoding, 100_000)


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_garbage_is_a_400(encoding: str) -> None:
    with pytest.raises(InvalidRequest):
        decode_body(b"not compressed at all", encoding, 100_000)


def test_unknown_encoding_is_a_400_and_identity_is_kept() -> None:
    with pytest.raises(InvalidRequest):
        decode_body(b"x", "compress", 10)
    assert decode_body(b"x", "identity", 10) == b"x"
    assert decode_body(b"x", None, 10) == b"x"
