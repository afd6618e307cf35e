"""A fake Claude / OpenAI / Gemini upstream that speaks each provider's real wire protocol.

Used as the upstream of the gateway's integration tests, to try the gateway offline
(`python -m gateway.devtools.fake_provider --port 18001`) and as a fast benchmark upstream.
Bodies are precomputed and cached per (model, chunk count, ...); nothing is logged per request.

Text: N text deltas (default 4, header `x-fake-chunks: N`), delta i is "tok{i} "; a
non-streamed reply holds their concatenation. Gemini's JSON mode (`responseMimeType:
application/json`) answers instead, in one chunk, a JSON document that fits `responseJsonSchema`
or `responseSchema` (json_mode.py): gemini-cli's model router asks for one before every turn.

Deterministic usage, N = number of text deltas:
- Claude: input_tokens=10, cache_read_input_tokens=3, cache_creation_input_tokens=2,
  output_tokens=N. In SSE, message_start has those input/cache counts and output_tokens=1;
  message_delta has the cumulative output_tokens=N. count_tokens -> {"input_tokens": 10}.
  Batch results: one succeeded line per request with the same usage, service_tier "batch".
- OpenAI chat and legacy completions: prompt_tokens=13 (prompt_tokens_details.cached_tokens=3),
  completion_tokens=N (completion_tokens_details.reasoning_tokens=1), total_tokens=13+N.
  Streams carry usage only with stream_options.include_usage, in a final "choices": [] chunk.
- OpenAI Responses: input_tokens=13 (input_tokens_details.cached_tokens=3), output_tokens=N
  (output_tokens_details.reasoning_tokens=1), total_tokens=13+N. With x-fake-stream-error the
  response.failed event reports output_tokens=1 (one delta was sent), total 14.
- OpenAI embeddings: prompt_tokens = total_tokens = 5 per input item.
- Gemini: promptTokenCount=13, cachedContentTokenCount=3, candidatesTokenCount=N,
  thoughtsTokenCount=2, totalTokenCount=13+N+2. Stream chunk i (0-based) carries
  candidatesTokenCount=i+1 and totalTokenCount=13+(i+1)+2; the last has finishReason "STOP".
  countTokens -> {"totalTokens": 13}.

Behaviour controls (request headers; unparsable values are ignored):
- x-fake-chunks: N             number of text deltas (1..100000, default 4)
- x-fake-status: S             answer S (400..599) in the provider's error envelope; 429 adds
                               retry-after: 1
- x-fake-delay-ms: D           wait D ms before sending the response headers
- x-fake-chunk-delay-ms: D     wait D ms between stream frames
- x-fake-cut-after: K          after K stream frames, close the connection (truncated body);
                               a whole (JSON) body: after K of its bytes, at most all but one,
                               its headers announcing the full Content-Length
- x-fake-stall-after: K        after K stream frames (a whole body: K bytes, as above), go
                               silent for an hour without closing
- x-fake-stream-error: 1       after the first text delta, send the provider's in-stream error
- x-fake-responses-end: incomplete|failed   how a Responses API stream ends
- x-fake-gzip: 1               gzip JSON bodies whatever the Accept-Encoding
- x-fake-echo: 1               add "_echo": {method, path, query, headers} to JSON bodies

Every request is recorded as a `RecordedRequest` in `FakeProvider.requests` (the most recent
`record_limit`).
"""

from gateway.devtools.fake_provider.server import (
    FakeProvider,
    build_app,
    main,
    start_fake_provider,
)
from gateway.devtools.fake_provider.state import RecordedRequest

__all__ = ["FakeProvider", "RecordedRequest", "build_app", "main", "start_fake_provider"]
