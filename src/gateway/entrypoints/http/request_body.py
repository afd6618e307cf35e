"""The request body as the gateway reads it: content-decoded (Codex sends zstd), size-bounded."""

from __future__ import annotations

import zlib

import brotli
import zstandard

from gateway.domain.errors import InvalidRequest, PayloadTooLarge


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than {limit} bytes once decoded")


def _zlib(body: bytes, limit: int, wbits: int) -> bytes:
    decoder = zlib.decompressobj(wbits=wbits)
    out = decoder.decompress(body, limit + 1)
    if len(out) > limit or decoder.unconsumed_tail:
        raise _too_large(limit)
    return out


def _zstd(body: bytes, limit: int) -> bytes:
    reader = zstandard.ZstdDecompressor().stream_reader(body)
    out = reader.read(limit + 1)
    while len(out) <= limit and (more := reader.read(limit + 1 - len(out))):
        out += more
    if len(out) > limit:
        raise _too_large(limit)
    return bytes(out)


def _brotli(body: bytes, limit: int) -> bytes:
    decoder = brotli.Decompressor()
    out = decoder.process(body, output_buffer_limit=limit + 1)
    if len(out) > limit or not decoder.is_finished():
        raise _too_large(limit)
    return bytes(out)


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Decode `Content-Encoding` (gzip, deflate, br, zstd), refusing more than `limit` bytes out
    (a decompression bomb stops at the limit, it is never inflated whole)."""
    if not content_encoding or not body:
        return body
    encoding = content_encoding.strip().lower()
    try:
        if encoding in ("identity", ""):
            return body
        if encoding in ("gzip", "x-gzip"):
            return _zlib(body, limit, 47)
        if encoding == "deflate":
            return _zlib(body, limit, 15)
        if encoding == "zstd":
            return _zstd(body, limit)
        if encoding == "br":
            return _brotli(body, limit)
    except PayloadTooLarge:
        raise
    except (zlib.error, zstandard.ZstdError, brotli.error) as exc:
        raise InvalidRequest(f"request body is not valid {encoding}") from exc
    raise InvalidRequest(f"unsupported Content-Encoding '{encoding[:32]}'")
