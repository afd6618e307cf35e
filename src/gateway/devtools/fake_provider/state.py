"""What one fake-provider app remembers: recorded requests, batches and a request counter."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from aiohttp import web

from gateway.devtools.fake_provider.batches import BatchStore


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request exactly as it reached the fake upstream (header names lowercased)."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes


class FakeState:
    def __init__(
        self, *, public_base_url: str | None, record_limit: int, new_api: bool = False
    ) -> None:
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        # Playing new-api, not the providers: where the two answer differently, as new-api does.
        self.new_api = new_api
        self.record_limit = max(record_limit, 0)
        self.requests: list[RecordedRequest] = []
        self.batches = BatchStore()
        self._counter = itertools.count(1)

    def next_request_id(self) -> str:
        return f"req_fake_{next(self._counter)}"

    def record(self, request: web.BaseRequest, body: bytes) -> None:
        if not self.record_limit:
            return
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(
            RecordedRequest(request.method, request.path, request.query_string, headers, body)
        )
        # Trimming one at a time keeps the bound exact; shifting ~1000 pointers is cheap.
        if len(self.requests) > self.record_limit:
            del self.requests[0]


STATE = web.AppKey("fake_provider_state", FakeState)
