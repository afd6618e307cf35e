"""round_ms: the same figures as round(ms, 3), for the times events and access lines carry."""

from __future__ import annotations

import random

from gateway.domain.clock import round_ms


def test_agrees_with_round_to_three_digits() -> None:
    # Exact halves aside (see round_ms), which random durations do not hit.
    rng = random.Random(7)
    samples = [rng.uniform(0, 5) for _ in range(20_000)] + [
        rng.uniform(0, 600_000) for _ in range(20_000)
    ]
    assert [round_ms(x) for x in samples] == [round(x, 3) for x in samples]


def test_cleans_float_artifacts() -> None:
    assert round_ms(1.124 - 0.711) == 0.413  # 0.41300000000000003 before rounding
    assert round_ms(0.0004) == 0.0
    assert round_ms(0.0015) == 0.002
    assert round_ms(2.0) == 2.0
