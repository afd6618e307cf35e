"""Which provider API a request speaks and which operation of that API it calls.

These are StrEnums: on per-request paths adapters take a member's text as `str(member)`, one C
call, rather than `.value`, which goes through enum's Python-level descriptor (7x slower).
"""

from __future__ import annotations

from enum import StrEnum


class Provider(StrEnum):
    CLAUDE = "claude"
    OPENAI = "openai"
    GEMINI = "gemini"


class Operation(StrEnum):
    # Claude
    MESSAGES = "messages"
    COUNT_TOKENS = "count_tokens"
    BATCH_CREATE = "batch_create"
    BATCH_LIST = "batch_list"
    BATCH_GET = "batch_get"
    BATCH_RESULTS = "batch_results"
    BATCH_CANCEL = "batch_cancel"
    BATCH_DELETE = "batch_delete"
    # OpenAI
    RESPONSES = "responses"
    CHAT_COMPLETIONS = "chat_completions"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    LIST_MODELS = "list_models"
    # Gemini
    GET_MODEL = "get_model"
    GENERATE_CONTENT = "generate_content"
    STREAM_GENERATE_CONTENT = "stream_generate_content"
    GEMINI_COUNT_TOKENS = "gemini_count_tokens"
    EMBED_CONTENT = "embed_content"
    BATCH_EMBED_CONTENTS = "batch_embed_contents"


# Gemini's `{model}:{action}` verbs the gateway relays, with the operation each one is.
GEMINI_ACTIONS: dict[str, Operation] = {
    "generateContent": Operation.GENERATE_CONTENT,
    "streamGenerateContent": Operation.STREAM_GENERATE_CONTENT,
    "countTokens": Operation.GEMINI_COUNT_TOKENS,
    "embedContent": Operation.EMBED_CONTENT,
    "batchEmbedContents": Operation.BATCH_EMBED_CONTENTS,
}

# Operations whose request body is JSON the gateway reads (for the model and the stream flag).
JSON_BODY_OPERATIONS = frozenset(
    {
        Operation.MESSAGES,
        Operation.COUNT_TOKENS,
        Operation.BATCH_CREATE,
        Operation.RESPONSES,
        Operation.CHAT_COMPLETIONS,
        Operation.COMPLETIONS,
        Operation.EMBEDDINGS,
        Operation.GENERATE_CONTENT,
        Operation.STREAM_GENERATE_CONTENT,
        Operation.GEMINI_COUNT_TOKENS,
        Operation.EMBED_CONTENT,
        Operation.BATCH_EMBED_CONTENTS,
    }
)

# Claude batch answers carrying a `results_url` the gateway rewrites to its own origin.
RESULTS_URL_OPERATIONS = frozenset(
    {Operation.BATCH_CREATE, Operation.BATCH_GET, Operation.BATCH_LIST, Operation.BATCH_CANCEL}
)
