"""CORS from `server.cors`: preflights answered here (never relayed), headers on every response."""

from __future__ import annotations

from sanic import Request
from sanic.response import BaseHTTPResponse, HTTPResponse

from gateway.settings import CorsSettings

# Headers the gateway adds itself, readable by browser code whatever the configuration says.
_OWN_EXPOSED = ("x-gateway-request-id", "x-gateway-overhead-ms")


class Cors:
    def __init__(self, settings: CorsSettings) -> None:
        self._any_origin = "*" in settings.allow_origins
        self._origins = frozenset(o.rstrip("/") for o in settings.allow_origins)
        self._methods = ", ".join(settings.allow_methods)
        # "*" does not cover Authorization in browsers: echo what the browser asks for instead.
        self._any_header = "*" in settings.allow_headers
        self._headers = ", ".join(settings.allow_headers)
        exposed = list(settings.expose_headers)
        exposed += [h for h in _OWN_EXPOSED if h not in exposed]
        self._exposed = ", ".join(exposed)
        self._max_age = str(int(settings.max_age))

    def allowed(self, origin: str) -> bool:
        return self._any_origin or origin in self._origins

    def preflight(self, request: Request) -> HTTPResponse | None:
        """A request hook: the answer to a browser's preflight, or None for anything else."""
        if request.method != "OPTIONS":
            return None
        headers = request.headers
        origin = headers.get("origin")
        if origin is None or "access-control-request-method" not in headers:
            return None  # a plain OPTIONS: routed as usual
        response = HTTPResponse(status=204)
        out = response.headers
        out["vary"] = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        if self.allowed(origin):
            out["access-control-allow-origin"] = origin
            out["access-control-allow-methods"] = self._methods
            asked = headers.get("access-control-request-headers")
            allow = asked if self._any_header else self._headers
            if allow:
                out["access-control-allow-headers"] = allow
            out["access-control-max-age"] = self._max_age
        return response

    def decorate(self, request: Request, response: BaseHTTPResponse) -> None:
        origin = request.headers.get("origin")
        if origin is None or not self.allowed(origin):
            return
        out = response.headers
        if "access-control-allow-origin" in out:
            return  # a preflight answer, already complete
        out["access-control-allow-origin"] = origin
        out["access-control-expose-headers"] = self._exposed
        vary = out.get("vary")
        out["vary"] = f"{vary}, Origin" if vary else "Origin"
