"""Claude Message Batches carry an absolute `results_url` on the provider's host (protocols 1.6).

Clients follow it as given, so it is rewritten to the gateway's own origin: otherwise the SDK would
send the gateway's key straight to the provider, around the gateway.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import orjson


def _rewrite_one(batch: Any, origin: str) -> bool:
    if not isinstance(batch, dict):
        return False
    url = batch.get("results_url")
    if not isinstance(url, str) or not url:
        return False
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    batch["results_url"] = origin + path
    return True


def rewrite_results_urls(body: bytes, origin: str) -> bytes:
    """The body with every batch's results_url on `origin`; unchanged bytes when nothing to do."""
    if b"results_url" not in body:
        return body
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    changed = _rewrite_one(document, origin)
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        for batch in document["data"]:
            changed = _rewrite_one(batch, origin) or changed
    return orjson.dumps(document) if changed else body
