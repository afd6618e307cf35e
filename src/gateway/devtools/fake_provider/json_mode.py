"""JSON mode: an answer that is a JSON document matching the schema the client gave.

Clients that ask for structured output parse the answer and retry when it does not parse or
validate (gemini-cli's model router asks for `{"complexity_reasoning": str, "complexity_score":
int}` before every turn), so the fake's usual "tok0 tok1 ..." would make them retry for a minute.
The value is the smallest one that fits: a string is "tok0", a number its minimum or 1, a list
empty unless it needs items, an object every property. Schemas come as JSON Schema or as
Gemini's OpenAPI subset (upper-case types); what is not understood gets null.
"""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 16  # a recursive schema ($ref is not followed) cannot be, but be safe


def sample_of(schema: Any, depth: int = 0) -> Any:
    """The smallest JSON value that `schema` accepts, as far as this sampler can tell."""
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for union in ("anyOf", "oneOf", "allOf"):
        options = schema.get(union)
        if isinstance(options, list) and options:
            return sample_of(options[0], depth + 1)
    kind = _type_of(schema)
    if kind == "object":
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {name: sample_of(sub, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        count = int(_number(schema.get("minItems")) or 0)  # int64, so maybe a string
        return [sample_of(schema.get("items"), depth + 1) for _ in range(min(count, 16))]
    if kind == "string":
        return "tok0"
    if kind in ("integer", "number"):
        low = _number(schema.get("minimum"))
        value = low if low is not None else 1
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    return None


def _type_of(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):  # JSON Schema's ["string", "null"]
        kind = next((k for k in kind if isinstance(k, str) and k.lower() != "null"), None)
    if isinstance(kind, str):
        return kind.lower()  # Gemini's OpenAPI subset says "OBJECT", "INTEGER", ...
    if "properties" in schema:
        return "object"
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):  # Gemini's Schema proto carries int64 bounds as strings
        try:
            return float(value)
        except ValueError:
            return None
    return None
