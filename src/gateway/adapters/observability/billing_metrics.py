"""A Billing decorator that counts decisions and times every billing call."""

from __future__ import annotations

import time
from collections.abc import Sequence

from gateway.adapters.observability.metrics import GatewayMetrics
from gateway.domain.ports.billing import AuthorizationRequest, Billing, Decision, UsageRecord


class MetricsBilling:
    def __init__(self, inner: Billing, metrics: GatewayMetrics) -> None:
        self._inner = inner
        self._decisions = metrics.billing_decisions
        self._authorize_time = metrics.billing_duration("authorize")
        self._record_time = metrics.billing_duration("record")
        self._records = metrics.billing_records
        # Once per request, and nothing to count: the inner billing's own method, no layer.
        self.expect = inner.expect

    @property
    def needs_usage(self) -> bool:
        return self._inner.needs_usage

    async def authorize(self, request: AuthorizationRequest) -> Decision:
        started = time.perf_counter()
        try:
            decision = await self._inner.authorize(request)
        except Exception:
            self._decisions("error").inc()
            raise
        finally:
            self._authorize_time.observe(time.perf_counter() - started)
        if decision.allowed:
            # Billing down under fail_open lets every request through: say so, or the outage
            # would not show in the decisions at all.
            self._decisions("allowed_fail_open" if decision.fail_open else "allowed").inc()
        else:
            denial = decision.denial
            self._decisions(denial.kind if denial is not None else "denied").inc()
        return decision

    async def record(self, record: UsageRecord) -> None:
        await self.record_many((record,))

    async def record_many(self, records: Sequence[UsageRecord]) -> None:
        """Counts each record; times the call (the records of concurrent requests, together)."""
        started = time.perf_counter()
        try:
            await self._inner.record_many(records)
        except Exception:
            self._records("error").inc(len(records))
            raise
        finally:
            self._record_time.observe(time.perf_counter() - started)
        self._records("ok").inc(len(records))


def metered_billing(billing: Billing, metrics: GatewayMetrics | None) -> Billing:
    """`billing` itself when metrics are off: no wrapper, no cost."""
    return billing if metrics is None else MetricsBilling(billing, metrics)
