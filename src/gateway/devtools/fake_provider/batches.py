"""In-memory Message Batches: every batch has "ended" by the time its create call returns."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from gateway.devtools.fake_provider.wire import Json


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class BatchItem:
    custom_id: str
    model: str


@dataclass(slots=True)
class Batch:
    id: str
    items: tuple[BatchItem, ...]
    chunks: int
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    cancel_initiated_at: datetime | None = None

    def as_json(self, results_url: str) -> Json:
        cancelled = self.cancel_initiated_at
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": "ended",
            "request_counts": {
                "processing": 0,
                "succeeded": len(self.items),
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.created_at + timedelta(hours=24)),
            "ended_at": _iso(self.created_at),
            "cancel_initiated_at": _iso(cancelled) if cancelled else None,
            "archived_at": None,
            "results_url": results_url,
        }


@dataclass(frozen=True, slots=True)
class Page:
    batches: list[Batch]
    has_more: bool


class BatchStore:
    """Batches by id, listed newest first like the real API."""

    def __init__(self) -> None:
        self._batches: dict[str, Batch] = {}
        self._ids = itertools.count(1)

    def create(self, items: tuple[BatchItem, ...], chunks: int) -> Batch:
        batch = Batch(id=f"msgbatch_fake_{next(self._ids):06d}", items=items, chunks=chunks)
        self._batches[batch.id] = batch
        return batch

    def get(self, batch_id: str) -> Batch | None:
        return self._batches.get(batch_id)

    def delete(self, batch_id: str) -> bool:
        return self._batches.pop(batch_id, None) is not None

    def __iter__(self) -> Iterator[Batch]:
        return reversed(self._batches.values())

    def page(self, limit: int, after_id: str | None, before_id: str | None) -> Page:
        """One page of the newest-first list; an unknown cursor id gives an empty page."""
        ordered = list(self)
        ids = [batch.id for batch in ordered]
        if after_id is not None:
            start = ids.index(after_id) + 1 if after_id in ids else len(ids)
            chosen = ordered[start : start + limit]
            return Page(chosen, start + limit < len(ordered))
        if before_id is not None:
            end = ids.index(before_id) if before_id in ids else 0
            begin = max(end - limit, 0)
            return Page(ordered[begin:end], begin > 0)
        return Page(ordered[:limit], limit < len(ordered))
