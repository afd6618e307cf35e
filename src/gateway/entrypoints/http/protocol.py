"""Sanic's HTTP protocol, with server.http.read_timeout over a request's body as well, a direct
write for a stream's chunks, and HTTP/1.0 framing for an HTTP/1.0 client's streams."""

from __future__ import annotations

from collections.abc import Coroutine
from time import monotonic
from typing import Any

from sanic.exceptions import BadRequest, RequestTimeout
from sanic.headers import format_http1_response
from sanic.helpers import has_message_body
from sanic.http.constants import Stage
from sanic.http.http1 import Http
from sanic.server.protocols.http_protocol import HttpProtocol


class GatewayHttp(Http):
    """Sanic's HTTP/1 connection, which frames a body of unknown length in chunks for every
    client. An HTTP/1.0 client knows no chunked coding (RFC 9112 6.1: a server must not send
    Transfer-Encoding in answer to HTTP/1.0), so it would read the chunk sizes as part of the
    body: a relayed stream's `data:` lines with hexadecimal lines between them. Here such a
    body goes unframed, and the connection's close ends it (RFC 9112 6.3, the last rule), as
    HTTP/1.0 defines. Everything else is Sanic's own path."""

    __slots__ = ()

    def create_empty_request(self) -> None:
        """Sanic's error path makes a request object from the target it read. When the target is
        what was refused (a bare LF or a control character in it), that raised again, past
        Sanic's handling: the connection closed with no answer and a logged traceback. The
        refusal is then answered for "/"."""
        try:
            super().create_empty_request()
        except BadRequest:
            self.url = "/"
            super().create_empty_request()

    def http1_response_header(self, data: bytes, end_stream: bool) -> Coroutine[Any, Any, None]:
        # Not async: it hands back the coroutine to await, so that the usual response (on the
        # hot path: any to HTTP/1.1, any whole body) costs one plain call more than Sanic's own
        # path, not a coroutine more. These bodies' later pieces go to the protocol's
        # `write_unframed` (relay_handler), or through `_close_delimited_body` when it refuses.
        if end_stream or self.request.version != "1.0" or not self._closes_to_end(data):
            return super().http1_response_header(data, end_stream)
        return self._send_close_delimited_head(data)

    def sends_close_delimited_body(self) -> bool:
        """Whether the response being sent is a body the connection's close ends."""
        return self.response_func == self._close_delimited_body

    def _closes_to_end(self, data: bytes) -> bool:
        """A body of unknown length, to an HTTP/1.0 client: Sanic would chunk it."""
        response = self.response
        if self.head_only:
            return False
        if not data and getattr(response, "body", None):
            return False  # Sanic sends a body set on the response whole, with its length
        status = response.status
        return (
            isinstance(status, int)
            and status >= 200
            and has_message_body(status)  # type: ignore[no-untyped-call]
            and "content-length" not in response.headers
        )

    async def _send_close_delimited_head(self, data: bytes) -> None:
        response = self.response
        self.keep_alive = False  # even when the client asked for keep-alive: the close ends it
        self.response_size = len(data)
        response.headers["connection"] = "close"
        head = format_http1_response(response.status, response.processed_headers)
        if self.protocol.access_log:
            self.log_response()
        self.response_func = self._close_delimited_body
        await self._send(head + data)
        self.stage = Stage.RESPONSE

    async def _close_delimited_body(self, data: bytes, end_stream: bool) -> None:
        if data:
            await self._send(data)
        if end_stream:  # Sanic's loop then closes the connection (keep_alive is off)
            self.response_func = None  # type: ignore[assignment]  # as Sanic ends a body
            self.stage = Stage.IDLE


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
    HTTP_CLASS = GatewayHttp

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

    def connection_lost(self, exc: Exception | None) -> None:
        # The client left while its request's body was being read: Sanic cancels the request
        # before any handler, error handler or middleware runs, so it would leave no trace.
        # The app's hook concludes it (errors.conclude_abandoned_body).
        http = self._http
        if self._awaiting_body and http is not None and http.request is not None:
            hook = getattr(self.app.ctx, "on_abandoned_body", None)
            if hook is not None:
                hook(http.request)
        super().connection_lost(exc)  # type: ignore[no-untyped-call]

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

    def close_if_idle(self) -> bool:
        """Sanic asks this of every connection once the server stops listening: an idle one
        closes, a busy one finishes its request. It must then take no other: Sanic would go on
        serving a keep-alive client's next requests for as long as it sent them, up to the
        graceful stop's limit (write_timeout), and then cut the streams begun after the stop.
        Its current response says `connection: close` if its head is not out yet."""
        http = self._http
        if http is not None:
            http.keep_alive = False
        return bool(super().close_if_idle())

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

    def write_unframed(self, data: bytes) -> bool:
        """`write_chunk` for a body the connection's close ends (an HTTP/1.0 client's stream,
        `GatewayHttp`): the piece goes as it is. An HTTP/1.0 client may be common: nginx speaks
        HTTP/1.0 to the servers it proxies unless told `proxy_http_version 1.1`."""
        if not self.write_chunk(b""):  # the same checks; an empty piece writes nothing
            return False
        transport = self.transport
        if data and transport is not None:
            transport.write(data)
            self._time = monotonic()
        return True
