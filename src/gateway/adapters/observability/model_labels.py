"""Bounded `model` label values: clients choose model strings, so they cannot be labels as is."""

from __future__ import annotations

import re
from collections.abc import Iterable

OTHER = "other"
NONE = "none"
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,79}")


class ModelLabels:
    """Known models keep their name; then the first `limit` other well-formed names seen by this
    process; everything after that (and anything odd-looking) is "other".

    With N workers the series count is at most len(known) + N * limit per provider and token type.
    """

    __slots__ = ("_labels", "_learned", "_limit")

    def __init__(self, known: Iterable[str] = (), limit: int = 50) -> None:
        self._labels: dict[str, str] = {name: name for name in known}
        self._limit = limit
        self._learned = 0

    def __call__(self, model: str | None) -> str:
        if not model:
            return NONE
        label = self._labels.get(model)
        if label is not None:
            return label
        if self._learned >= self._limit or _PLAIN.fullmatch(model) is None:
            return OTHER  # not remembered: an attacker's random names cannot grow the dict
        self._learned += 1
        self._labels[model] = model
        return model
