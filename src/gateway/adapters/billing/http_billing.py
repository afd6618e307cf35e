"""billing.mode = http: a billing service speaking docs/billing-api.md.

authorize: one POST bounded by `authorize_timeout`; when the service cannot answer (unreachable,
slow, 5xx, not the protocol) the decision follows `fail_open`. record: through the durable outbox
(outbox.py), so that a service outage delays usage records but never loses them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from gateway.adapters.billing.billing_api import (
    AUTHORIZE_PATH,
    HEALTH_PATH,
    USAGE_PATH,
    BadAnswer,
    authorize_body,
    read_decision,
    usage_result,
)
from gateway.adapters.billing.outbox import Delivered, DeliveryResult, Outbox, OutboxTuning
from gateway.adapters.billing.wire import encode_record
from gateway.domain.errors import BillingUnavailable
from gateway.domain.ports.billing import (
    ALLOW,
    ALLOW_FAIL_OPEN,
    AuthorizationRequest,
    Decision,
    UsageRecord,
)
from gateway.domain.secrets import Secret

log = logging.getLogger(__name__)

_JSON = {"content-type": "application/json"}
# Unavailability is logged at most this often (seconds): an outage must not flood the logs.
_LOG_EVERY = 10.0
_CREDENTIAL_REJECTED = frozenset({401, 403})


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpBillingSettings:
    url: str
    api_key: Secret
    authorize_timeout: float
    fail_open: bool
    outbox_dir: Path
    record_timeout: float = 2.0  # one delivery attempt of a usage record
    pool_size: int = 64
    outbox: OutboxTuning = field(default_factory=OutboxTuning)


class HttpBilling:
    def __init__(self, settings: HttpBillingSettings) -> None:
        self._settings = settings
        self._base = settings.url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._outbox = Outbox(settings.outbox_dir, self._deliver, settings.outbox)
        self._record_timeout = aiohttp.ClientTimeout(total=settings.record_timeout)
        self._logged_at = -_LOG_EVERY
        self.unavailable = 0  # authorize calls the service could not answer
        # The last authorize's answer was 401/403: the service rejects the gateway's own
        # credential (billing.api_key), which /health, unauthenticated, cannot tell.
        self._credential_rejected = False

    @property
    def needs_usage(self) -> bool:
        return True

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    async def start(self) -> None:
        if self._session is not None:
            return  # started already (a test may start it before the container does)
        headers = {"user-agent": "ai-gateway-billing"}
        if key := self._settings.api_key.reveal():
            headers["authorization"] = f"Bearer {key}"
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(limit=self._settings.pool_size, keepalive_timeout=30),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._settings.record_timeout),
            skip_auto_headers=("User-Agent",),
        )
        await self._outbox.start()

    async def close(self) -> None:
        await self._outbox.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def authorize(self, request: AuthorizationRequest) -> Decision:
        try:
            async with asyncio.timeout(self._settings.authorize_timeout):
                status, body = await self._post(AUTHORIZE_PATH, authorize_body(request), {})
            self._credential_rejected = status in _CREDENTIAL_REJECTED
            if status != 200:
                raise BadAnswer(f"status {status}")
            denial = read_decision(body)
        except (aiohttp.ClientError, TimeoutError, BadAnswer, RuntimeError) as exc:
            return self._unavailable(exc)
        return ALLOW if denial is None else Decision(False, denial)

    def expect(self, record: UsageRecord) -> None:
        return None  # the service keeps the quotas: it counts a record when it gets it

    async def record(self, record: UsageRecord) -> None:
        await self._outbox.submit(record.request_id, encode_record(record))

    async def record_many(self, records: Sequence[UsageRecord]) -> None:
        # One POST per record, concurrently: the billing API takes records one by one.
        await asyncio.gather(*(self.record(record) for record in records))

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        reachable = await self._reachable()
        details: dict[str, object] = {
            "mode": "http",
            "reachable": reachable,
            "outbox_pending": self._outbox.pending,
        }
        answering = reachable and not self._credential_rejected
        if self._credential_rejected:
            details["error"] = "the billing service rejects billing.api_key (401/403)"
        return answering or self._settings.fail_open, details

    async def _reachable(self) -> bool:
        if self._session is None:
            return False
        try:
            async with asyncio.timeout(self._settings.authorize_timeout):
                async with self._session.get(self._base + HEALTH_PATH) as response:
                    await response.read()
                    return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def _deliver(self, request_id: str, body: bytes) -> DeliveryResult:
        try:
            status, _ = await self._post(
                USAGE_PATH, body, {"idempotency-key": request_id}, self._record_timeout
            )
        except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
            return DeliveryResult(Delivered.RETRY, type(exc).__name__)
        return usage_result(status)

    async def _post(
        self,
        path: str,
        body: bytes,
        headers: dict[str, str],
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> tuple[int, bytes]:
        if self._session is None:
            raise RuntimeError("HttpBilling is not started")
        # Without a timeout, the session's (connect only): authorize bounds the whole call itself.
        request = (
            self._session.post(self._base + path, data=body, headers={**_JSON, **headers})
            if timeout is None
            else self._session.post(
                self._base + path, data=body, headers={**_JSON, **headers}, timeout=timeout
            )
        )
        async with request as response:
            return response.status, await response.read()

    def _unavailable(self, exc: BaseException) -> Decision:
        self.unavailable += 1
        now = time.monotonic()
        if now - self._logged_at >= _LOG_EVERY:
            self._logged_at = now
            action = "allowing (fail_open)" if self._settings.fail_open else "denying with 503"
            log.warning("billing service could not authorize (%s); %s", type(exc).__name__, action)
        if self._settings.fail_open:
            return ALLOW_FAIL_OPEN
        return Decision(False, BillingUnavailable())
