"""Starting and closing components with their worker, as dependency-injector Resources."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable


@runtime_checkable
class Lifecycle(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...


async def running(component: object) -> AsyncIterator[object]:
    """Start a component with the worker and close it when the worker stops. A test double or a
    batch job's own adapter without a lifecycle is used as it is."""
    if not isinstance(component, Lifecycle):
        yield component
        return
    await component.start()
    try:
        yield component
    finally:
        await component.close()
