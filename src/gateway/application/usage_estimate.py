"""Estimating usage a stream consumed when it ended before the provider's final count.

Rule (docs/accounting.md): output is at least ceil(generated text bytes / 4) - about four bytes of
English text per token - and at least what the provider already reported. Input the provider has
not reported yet (OpenAI reports it only at the end) is estimated the same way from the request
body. The record is then marked partial and estimated.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.domain.usage import Usage

BYTES_PER_TOKEN = 4


def _tokens(n_bytes: int) -> int:
    return -(-n_bytes // BYTES_PER_TOKEN)


def estimate_usage(seen: Usage, output_text_bytes: int, request_bytes: int) -> Usage:
    output = max(seen.output_tokens, _tokens(output_text_bytes))
    prompt_seen = seen.input_tokens + seen.cache_read_tokens + seen.cache_write_tokens
    input_tokens = seen.input_tokens if prompt_seen else _tokens(request_bytes)
    return replace(seen, output_tokens=output, input_tokens=input_tokens)
