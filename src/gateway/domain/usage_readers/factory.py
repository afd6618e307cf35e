"""Which usage reader reads which response body.

The caller decides the framing (from the content type, the stream flag, `alt=sse`); this picks
the provider's reader for it. Operations whose bodies carry no usage (model lists, batch
bookkeeping), and framings an operation never uses, get the shared `NullUsageReader`, which
costs nothing per chunk. JSON readers buffer the body (up to `readers.MAX_JSON_BYTES`, 64 MiB;
beyond that they report nothing) and parse it once, at the first report().
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from gateway.domain.provider import Operation, Provider
from gateway.domain.usage_readers import claude, gemini, openai, openai_embeddings
from gateway.domain.usage_readers import openai_responses as responses
from gateway.domain.usage_readers.base import BodyFraming, UsageReader
from gateway.domain.usage_readers.readers import NullUsageReader

_Makers = dict[BodyFraming, Callable[[], UsageReader]]
_JSON, _SSE = BodyFraming.JSON, BodyFraming.SSE
_ARRAY, _JSONL = BodyFraming.JSON_ARRAY_STREAM, BodyFraming.JSONL

NULL_READER: Final = NullUsageReader()


def _any_framing(make: Callable[[], UsageReader]) -> _Makers:
    return dict.fromkeys(BodyFraming, make)


_READERS: Final[dict[tuple[Provider, Operation], _Makers]] = {
    (Provider.CLAUDE, Operation.MESSAGES): {
        _JSON: claude.messages_json_reader,
        _SSE: claude.messages_sse_reader,
    },
    (Provider.CLAUDE, Operation.COUNT_TOKENS): _any_framing(claude.count_tokens_reader),
    # Results are JSON Lines; a one-result body labelled plain JSON is one line all the same.
    (Provider.CLAUDE, Operation.BATCH_RESULTS): {
        _JSONL: claude.batch_results_reader,
        _JSON: claude.batch_results_reader,
    },
    (Provider.OPENAI, Operation.CHAT_COMPLETIONS): {
        _JSON: openai.chat_json_reader,
        _SSE: openai.chat_sse_reader,
    },
    # Legacy completions share chat's usage object and stream framing.
    (Provider.OPENAI, Operation.COMPLETIONS): {
        _JSON: openai.chat_json_reader,
        _SSE: openai.chat_sse_reader,
    },
    (Provider.OPENAI, Operation.EMBEDDINGS): {_JSON: openai_embeddings.embeddings_reader},
    (Provider.OPENAI, Operation.RESPONSES): {
        _JSON: responses.responses_json_reader,
        _SSE: responses.responses_sse_reader,
    },
    (Provider.GEMINI, Operation.GENERATE_CONTENT): {
        _JSON: gemini.generate_json_reader,
        _SSE: gemini.generate_sse_reader,
    },
    # A stream answered as one JSON document (an error, say) is an array or an object: the
    # array reader reads both.
    (Provider.GEMINI, Operation.STREAM_GENERATE_CONTENT): {
        _SSE: gemini.generate_sse_reader,
        _ARRAY: gemini.generate_array_reader,
        _JSON: gemini.generate_array_reader,
    },
    (Provider.GEMINI, Operation.GEMINI_COUNT_TOKENS): _any_framing(gemini.zero_final_reader),
    (Provider.GEMINI, Operation.EMBED_CONTENT): _any_framing(gemini.zero_final_reader),
    (Provider.GEMINI, Operation.BATCH_EMBED_CONTENTS): _any_framing(gemini.zero_final_reader),
}


def usage_reader_for(provider: Provider, operation: Operation, framing: BodyFraming) -> UsageReader:
    """A fresh reader for one response body (stateless ones are shared)."""
    make = _READERS.get((provider, operation), {}).get(framing)
    return make() if make is not None else NULL_READER
