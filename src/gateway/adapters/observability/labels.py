"""A cache of labelled metric children: `metric.labels(...)` validates and locks on every call."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

T_co = TypeVar("T_co", covariant=True)
C = TypeVar("C")


class _Labelled(Protocol[T_co]):
    def labels(self, *values: str) -> T_co: ...


class Children(Generic[C]):
    """`children("openai", "chat")` is the child for those label values, built once."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: _Labelled[C]) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], C] = {}

    def __call__(self, *values: str) -> C:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child
