"""Sanic's HTTP protocol, with server.http.read_timeout over a request's body as well, and a
direct write for a stream's chunks."""

from __future__ import annotations

from time import monotonic
from typing import Any

from sanic.exceptions import RequestTimeout
from sanic.http.constants import Stage
from sanic.server.protocols.http_protocol import HttpProtocol


class GatewayHttpProtocol(HttpProtocol):
    """Sanic's request timeout covers a request's headers only. It reads the body once its
    handler stage has begun, where only the response timeout applies (at least
    upstreams.read_timeout + 5 s: 305 s by default). A client that stopped sending its body held
    its connection that long, and the request ended in a 503 and no request-log event.

    Here a body that stops arriving for server.http.read_timeout (silence, as Sanic counts it
    for the headers) ends the request with a 408, which the error handler concludes as a
    refused request, with its event (errors.py).

    "Being read" is a wait for the client's bytes in the handler stage: Sanic reads nothing else
    from the client then. Its own `request_body` mark does not do: it stays set on a GET whose
    body nobody reads (Sanic ignores GET bodies), and it is cleared before a chunked body's last
    bytes are."""

    __slots__ = ("_awaiting_body",)  # Sanic's protocols are slotted

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_body = False

    async def receive_more(self) -> None:
        http = self._http
        self._awaiting_body = http is not None and http.stage is Stage.HANDLER
        try:
            await super().receive_more()  # type: ignore[no-untyped-call]
        finally:
            self._awaiting_body = False

    def check_timeouts(self) -> None:
        http = self._http
        if (
            self._task
            and http is not None
            and self._awaiting_body
            and monotonic() - self._time > self.request_timeout
        ):
            http.exception = RequestTimeout("Request Timeout")
            # Answer, then close: the rest of the body is not waited for (Sanic would try to
            # read it before the connection's next request), as for a body over the limit.
            http.keep_alive = False
            http.request_body = None
            self._task.cancel("the request's body did not arrive in time")
            return
        super().check_timeouts()  # type: ignore[no-untyped-call]

    def write_chunk(self, data: bytes) -> bool:
        """Write one piece of a chunked response body now, framed and timed as Sanic's own
        send does, and say whether it was written. A stream's chunks come here, not through
        `response.send`: that is four coroutines per chunk (the response's send, the framing,
        the protocol's send, the wait for a writable transport), on every chunk of every stream.

        False when the transport is not taking data (the client reads slower than the upstream
        writes) or is closing: the caller then sends through Sanic, which waits for it or raises.
        Sanic's `http.lifecycle.send` signal is not dispatched for these chunks; the gateway
        registers no handler for it, and Sanic then compiles its own dispatch out as well.
        """
        transport = self.transport
        if transport is None or transport.is_closing() or not self._can_write.is_set():
            return False
        http = self._http
        if http is None or http.stage is not Stage.RESPONSE:
            return False  # the response has ended: Sanic's send raises rather than write past it
        if data:  # an empty chunk would be the body's end
            transport.write(b"%x\r\n%b\r\n" % (len(data), data))
            self._time = monotonic()  # Sanic's response timeout counts silence from here
        return True
