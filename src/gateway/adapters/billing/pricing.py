"""Charged tokens: what a usage record costs against a key's token quota (docs/accounting.md).

charged = ceil(usage.total_tokens x multiplier), the multiplier being `billing.model_multipliers`
for the record's exact model name, else 1.0. Decimal arithmetic: 100 x 1.1 is 110, not 111.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

DEFAULT_MULTIPLIER = Decimal(1)


class Pricing:
    def __init__(self, multipliers: Mapping[str, float] | None = None) -> None:
        # str() first: Decimal(1.1) would carry the binary float's error into the product.
        self._multipliers = {m: Decimal(str(v)) for m, v in (multipliers or {}).items()}

    def multiplier(self, model: str | None) -> Decimal:
        if model is None:
            return DEFAULT_MULTIPLIER
        return self._multipliers.get(model, DEFAULT_MULTIPLIER)

    def charged_tokens(self, total_tokens: int, model: str | None) -> int:
        multiplier = self.multiplier(model)
        if multiplier == DEFAULT_MULTIPLIER:
            return total_tokens
        return math.ceil(Decimal(total_tokens) * multiplier)
