"""The serving process's collector after start-up: start-up heap frozen, young batches larger."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway.cli.gc_tuning import YOUNG_THRESHOLD, tune_gc_after_start


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def _in_a_generation(objects: list[list[int]]) -> bool:
    ids = {id(o) for o in objects}
    return any(id(o) in ids for generation in range(3) for o in gc.get_objects(generation))


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_young_collections_batched() -> None:
    gc.unfreeze()
    _, middle, old = gc.get_threshold()
    made_at_start_up = [[i] for i in range(3)]  # stand for modules, the container...
    assert _in_a_generation(made_at_start_up)
    tune_gc_after_start()
    assert not _in_a_generation(made_at_start_up)  # frozen: no collection scans them again
    assert gc.get_freeze_count() >= len(made_at_start_up)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
    made_later = [[i] for i in range(3)]
    assert _in_a_generation(made_later)  # the collector still sees what the server makes
