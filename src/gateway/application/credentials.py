"""Reading the client's credential where its SDK puts it, and setting the upstream's."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from gateway.application.relay_command import Headers, UpstreamTarget
from gateway.domain.caller import ANONYMOUS, Caller, CredentialPlace, caller_for
from gateway.domain.provider import Provider


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if value and value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def read_caller(provider: Provider, headers: Headers, query: str) -> Caller:
    """Claude: x-api-key or Bearer; OpenAI: Bearer; Gemini: x-goog-api-key or ?key=."""
    if provider is Provider.CLAUDE:
        if key := headers.get("x-api-key"):
            return caller_for(key, CredentialPlace.X_API_KEY)
        if token := _bearer(headers):
            return caller_for(token, CredentialPlace.BEARER)
    elif provider is Provider.OPENAI:
        if token := _bearer(headers):
            return caller_for(token, CredentialPlace.BEARER)
    else:
        if key := headers.get("x-goog-api-key"):
            return caller_for(key, CredentialPlace.GOOG_HEADER)
        if "key=" in query and (key := _query_key(query)):
            return caller_for(key, CredentialPlace.GOOG_QUERY)
        if token := _bearer(headers):  # OAuth access tokens on the Gemini API
            return caller_for(token, CredentialPlace.BEARER)
    return ANONYMOUS


def _query_key(query: str) -> str | None:
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "key":
            return value
    return None


def strip_query_key(query: str) -> str:
    """Remove `key=` so a Gemini key never travels in an upstream URL (or any log of one)."""
    if "key=" not in query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(n, v) for n, v in pairs if n != "key"])


_NATIVE_PLACE = {
    Provider.CLAUDE: CredentialPlace.X_API_KEY,
    Provider.OPENAI: CredentialPlace.BEARER,
    Provider.GEMINI: CredentialPlace.GOOG_HEADER,
}


def _header_for(place: CredentialPlace, credential: str) -> tuple[str, str]:
    if place is CredentialPlace.BEARER:
        return ("authorization", f"Bearer {credential}")
    if place is CredentialPlace.X_API_KEY:
        return ("x-api-key", credential)
    # A ?key= moves into the header: same meaning to Google and new-api, and kept out of URLs.
    return ("x-goog-api-key", credential)


def upstream_credential(
    provider: Provider, caller: Caller, target: UpstreamTarget, *, new_api: bool
) -> tuple[str, str] | None:
    """The credential header to send upstream.

    new-api: its configured key, or the client's own credential passed through, in the place
    the client used; a Claude credential always in x-api-key, as new-api serves Claude's model
    list only to x-api-key with anthropic-version (the Anthropic SDK 2.x sends its key as a
    Bearer) and reads x-api-key on all of Claude's paths. Direct: the provider's configured key
    in the provider's native header; a provider with no configured key gets the caller's own
    credential (bring-your-own-key) in the place the caller used.
    """
    place = caller.place
    if new_api and provider is Provider.CLAUDE and place is not None:
        place = CredentialPlace.X_API_KEY
    if target.api_key:
        if not new_api or place is None:
            place = _NATIVE_PLACE[provider]
        return _header_for(place, target.api_key.reveal())
    if place is None:
        return None
    return _header_for(place, caller.credential.reveal())
