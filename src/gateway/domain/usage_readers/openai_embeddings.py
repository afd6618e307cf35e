"""OpenAI Embeddings usage (protocols.md 2.5): input = `usage.prompt_tokens`, nothing else.

An embeddings answer is mostly vectors (float lists, or base64 strings, the SDK default) and
can run to hundreds of MiB for a large batch, with a tiny `usage` at the end. Buffering and
parsing it whole would hold the memory and stall the event loop for tens of milliseconds, and a
body past the JSON cap would go unbilled. So this reader keeps only the first and the last
64 KiB: a small body is kept whole and parsed; for a larger one, `"usage": {...}` and `"model"`
are found in the kept tail (or head, should a provider put them first) and parsed alone; in
the middle of a large body they would not be found, and nothing would be reported. Vector
data is numbers and base64 only, so a `"usage"` key cannot be faked by it.
"""

from __future__ import annotations

import re
from typing import Final

from gateway.domain.usage import Usage
from gateway.domain.usage_readers.base import UsageReport
from gateway.domain.usage_readers.openai import error_of
from gateway.domain.usage_readers.readers import EMPTY_REPORT, Accumulator
from gateway.domain.usage_readers.scan import (
    JsonObject,
    as_int,
    get_str,
    loads_object,
    object_after_key,
)

KEEP_BYTES: Final = 64 << 10
_MODEL: Final = re.compile(rb'"model"\s*:\s*"([^"\\]*)"')


class EmbeddingsUsageReader:
    """Keeps the first and last KEEP_BYTES of the body; reads the usage at report()."""

    __slots__ = ("_head", "_head_size", "_report", "_size", "_tail", "_tail_size")

    def __init__(self) -> None:
        self._head: list[bytes] = []
        self._head_size = 0
        self._tail: list[bytes] = []
        self._tail_size = 0
        self._size = 0
        self._report: UsageReport | None = None

    def feed(self, chunk: bytes) -> None:
        if not chunk:
            return
        chunk = bytes(chunk)  # no copy when it is bytes already
        self._size += len(chunk)
        self._report = None
        if self._head_size < KEEP_BYTES:
            piece = chunk[: KEEP_BYTES - self._head_size]
            self._head.append(piece)
            self._head_size += len(piece)
            chunk = chunk[len(piece) :]
        if chunk:
            self._tail.append(chunk)
            self._tail_size += len(chunk)
            if self._tail_size > 2 * KEEP_BYTES:  # trim rarely, in bulk
                self._tail = [b"".join(self._tail)[-KEEP_BYTES:]]
                self._tail_size = KEEP_BYTES

    def report(self, *, text_when_final: bool = True) -> UsageReport:
        if self._report is None:
            self._report = self._read()
        return self._report

    def _read(self) -> UsageReport:
        head, tail = b"".join(self._head), b"".join(self._tail)
        state = Accumulator()
        if self._size == len(head) + len(tail):  # all of it was kept
            obj = loads_object(head + tail)
            if obj is None:
                return EMPTY_REPORT
            apply_embeddings(state, obj)
        else:
            _read_ends(state, head, tail)
        return state.build()


def apply_embeddings(state: Accumulator, obj: JsonObject) -> None:
    if obj.get("error"):
        state.stream_error = error_of(obj["error"])
        return
    raw = obj.get("usage")
    if isinstance(raw, dict):
        state.usage = Usage(input_tokens=as_int(raw.get("prompt_tokens")))
        state.final = True
    state.response_model = get_str(obj, "model")


def _read_ends(state: Accumulator, head: bytes, tail: bytes) -> None:
    raw = object_after_key(tail, b"usage", from_end=True) or object_after_key(head, b"usage")
    if raw is not None:
        apply_embeddings(state, {"usage": raw})
    models = _MODEL.findall(tail) or _MODEL.findall(head)
    if models:
        state.response_model = models[-1].decode("utf-8", "replace")


def embeddings_reader() -> EmbeddingsUsageReader:
    return EmbeddingsUsageReader()
