"""OpenTelemetry GenAI semantic-convention names, kept as our own literals (the semconv package
marks them moved and unstable), and how a request-log event maps onto them."""

from __future__ import annotations

from gateway.domain.events import RequestLogEvent
from gateway.domain.provider import Provider

PROVIDER_NAME = "gen_ai.provider.name"
OPERATION_NAME = "gen_ai.operation.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_STREAM = "gen_ai.request.stream"
RESPONSE_ID = "gen_ai.response.id"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
CACHE_WRITE_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"

_PROVIDERS = {
    Provider.CLAUDE: "anthropic",
    Provider.OPENAI: "openai",
    Provider.GEMINI: "gcp.gemini",
}
# The gateway's operations named as the conventions name them; others keep the gateway's name.
_OPERATIONS = {
    "messages": "chat",
    "chat_completions": "chat",
    "responses": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
    "embed_content": "embeddings",
    "batch_embed_contents": "embeddings",
    "generate_content": "generate_content",
    "stream_generate_content": "generate_content",
}

Attributes = dict[str, str | bool | int | float]


def operation_name(operation: str) -> str:
    return _OPERATIONS.get(operation, operation)


def event_attributes(event: RequestLogEvent) -> Attributes:
    """The GenAI attributes of one finished request. `gen_ai.usage.input_tokens` counts every
    prompt token (cache reads and writes included), as the conventions define it."""
    usage = event.usage
    attributes: Attributes = {
        PROVIDER_NAME: _PROVIDERS[event.provider],
        OPERATION_NAME: operation_name(event.operation),
        REQUEST_STREAM: event.stream,
        INPUT_TOKENS: usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens,
        OUTPUT_TOKENS: usage.output_tokens,
    }
    if event.model:
        attributes[REQUEST_MODEL] = event.model
    if usage.cache_read_tokens:
        attributes[CACHE_READ_TOKENS] = usage.cache_read_tokens
    if usage.cache_write_tokens:
        attributes[CACHE_WRITE_TOKENS] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        attributes[REASONING_TOKENS] = usage.reasoning_tokens
    if event.upstream_request_id:
        # The event carries the upstream's request id (the body's response id is not kept).
        attributes[RESPONSE_ID] = event.upstream_request_id
    if event.ttft_ms is not None:
        attributes[TIME_TO_FIRST_CHUNK] = event.ttft_ms / 1000
    return attributes
