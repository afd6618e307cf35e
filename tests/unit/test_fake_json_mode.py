"""The fake provider's JSON mode: the smallest value each schema accepts."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.devtools.fake_provider.json_mode import sample_of

# gemini-cli's model router, as it sends it (Gemini's OpenAPI subset, upper-case types).
ROUTER_SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "complexity_reasoning": {"type": "STRING", "description": "Brief explanation."},
        "complexity_score": {"type": "INTEGER", "description": "Complexity score from 1-100."},
    },
    "required": ["complexity_reasoning", "complexity_score"],
}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (ROUTER_SCHEMA, {"complexity_reasoning": "tok0", "complexity_score": 1}),
        ({"type": "string", "enum": ["pro", "flash"]}, "pro"),
        ({"const": 7}, 7),
        ({"type": ["null", "number"], "minimum": 2.5}, 2.5),
        ({"type": "INTEGER", "minimum": "10"}, 10),  # int64 bounds come as strings
        ({"type": "boolean"}, False),
        ({"type": "array", "items": {"type": "string"}}, []),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 2}, [1, 1]),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "tok0"),
        ({"properties": {"a": {"type": "object"}}}, {"a": {}}),
        ({"$ref": "#/definitions/x"}, None),
        ("not a schema", None),
    ],
)
def test_the_sample_fits_the_schema(schema: Any, expected: Any) -> None:
    assert sample_of(schema) == expected
