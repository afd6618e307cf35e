"""One try of one batch request through the relay use-case, read whole and concluded."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from gateway.application.batch_input import BatchRequest
from gateway.application.exchange import RelayExchange
from gateway.application.headers import header_value
from gateway.application.relay_command import RelayCommand
from gateway.domain.errors import GatewayError
from gateway.domain.provider import RESULTS_URL_OPERATIONS
from gateway.domain.usage import Usage


class Relay(Protocol):
    """The relay use-case as a batch uses it (RelayService)."""

    async def open(self, command: RelayCommand) -> RelayExchange: ...


class ResponseTooLarge(GatewayError):
    status = 502
    kind = "response_too_large"
    default_message = "the response is larger than the batch's response size limit"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes  # content-decoded
    usage: Usage


async def _collect(exchange: RelayExchange, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    # Bounded by `limit`: a body that keeps coming is cut off, not held whole in memory.
    async for chunk in exchange:
        size += len(chunk)
        if size > limit:
            raise ResponseTooLarge()
        parts.append(chunk)
    return b"".join(parts)


def _decoded(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body as JSON text. The relay asks for identity, but an upstream may gzip anyway."""
    encoding = (encoding or "").strip().lower()
    if encoding not in ("gzip", "x-gzip", "deflate"):
        return body
    decoder = zlib.decompressobj(wbits=47 if encoding != "deflate" else zlib.MAX_WBITS)
    try:
        plain = decoder.decompress(body, limit + 1)
    except zlib.error:
        return body
    if len(plain) > limit:
        raise ResponseTooLarge()
    return plain


async def attempt(
    relay: Relay,
    request: BatchRequest,
    headers: Mapping[str, str],
    request_id: str,
    max_body: int,
    public_origin: str | None = None,
) -> Answer:
    """Send `request` once and read its answer. Raises GatewayError when no answer exists.

    The exchange is always finished, also when cancelled, so the event and usage record of every
    attempt exist (a cancelled one as client_cancelled).
    """
    command = RelayCommand(
        route=request.route,
        route_name=request.route_name,
        method=request.method,
        query=request.query,
        headers=headers,
        body=request.body,
        request_id=request_id,
        public_origin=public_origin if request.route.operation in RESULTS_URL_OPERATIONS else None,
    )
    exchange = await relay.open(command)
    try:
        if exchange.streaming:
            body = await _collect(exchange, max_body)
        else:
            body = await exchange.read_body()
        body = _decoded(body, header_value(exchange.headers, "content-encoding"), max_body)
    except BaseException as exc:
        exchange.finish(exc)
        raise
    exchange.finish()
    return Answer(exchange.status, exchange.headers, body, exchange.trace.report.usage)
