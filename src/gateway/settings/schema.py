"""The gateway's configuration, one frozen pydantic model per section of the YAML file.

Every model forbids unknown keys so that a typo is an error naming the key, not a silent default.
Defaults follow docs/contract.md.
"""

import math
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    field_validator,
    model_validator,
)

from gateway.settings.units import format_duration, format_size, parse_duration, parse_size

__all__ = [
    "BillingSettings",
    "ByteSize",
    "ClaudeUpstream",
    "CorsSettings",
    "Duration",
    "EventsSettings",
    "FeaturesSettings",
    "GeminiUpstream",
    "HttpSettings",
    "LoggingSettings",
    "MaskedSecret",
    "MetricsSettings",
    "NatsSettings",
    "OpenAIUpstream",
    "ProviderUpstream",
    "ServerSettings",
    "Settings",
    "TracingSettings",
    "UpstreamsSettings",
]


class MaskedSecret(SecretStr):
    """A string kept out of logs: ``str()`` and ``repr()`` show ``***`` (or ``""`` when empty)."""

    def _display(self) -> str:
        return "***" if self.get_secret_value() else ""


def _mask(secret: MaskedSecret) -> str:
    return str(secret)


_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


def _optional(value: object) -> object:
    # "${PUBLIC_URL:-}" expands to "": treat an empty string as "not set".
    return None if value == "" else value


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _http_url(value: str) -> str:
    # The value is never echoed: a misplaced API key must not end up in an error message.
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("must not contain a query string or fragment")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ValueError("has an invalid port") from None
    return value.strip().rstrip("/")


def _nats_urls(value: str) -> str:
    for server in value.split(","):
        parts = urlsplit(server.strip())
        if parts.scheme not in ("nats", "tls", "ws", "wss") or not parts.hostname:
            raise ValueError("must be nats://host:port (or tls://, ws://, wss://), comma-separated")
    return value.strip()


def _stream_name(value: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError("must be letters, digits, '_' or '-' (a JetStream stream name)")
    return value


def _subject_prefix(value: str) -> str:
    if not all(_TOKEN.fullmatch(token) for token in value.split(".")):
        raise ValueError(
            "must be dot-separated tokens of letters, digits, '_' or '-' (no wildcards or spaces)"
        )
    return value


def _parse_addr(addr: str) -> tuple[str, int]:
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.%\w]+\]|[^:\[\]\s]*):(\d{1,5})", addr)
    if match is None or int(match.group(2)) > 65535:
        raise ValueError(
            f"invalid listen address {addr!r} (use e.g. :18100, 127.0.0.1:18100, [::1]:18100)"
        )
    return match.group(1).strip("[]"), int(match.group(2))


Duration = Annotated[
    float, BeforeValidator(parse_duration), PlainSerializer(format_duration, when_used="json")
]
"""Seconds; YAML accepts ``30s``, ``5m``, ``1h30m``, ``250ms``, ``7d`` or a number of seconds."""

ByteSize = Annotated[
    int, BeforeValidator(parse_size), PlainSerializer(format_size, when_used="json")
]
"""Bytes; YAML accepts ``32MiB``, ``1GiB``, ``10MB`` (decimal) or a number of bytes."""

SecretField = Annotated[MaskedSecret, PlainSerializer(_mask, when_used="json")]
HttpUrlStr = Annotated[str, AfterValidator(_http_url)]

_NO_SECRET = MaskedSecret("")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_section(cls, data: Any) -> Any:
        # A section whose keys are all commented out parses as null: treat it as empty.
        return {} if data is None else data


class HttpSettings(_Section):
    addr: str = ":18100"
    # Each above 0: Sanic reads 0 as "expire now", and a write_timeout of 0 would cut every
    # stream at its first byte (an unbounded one is a large value, e.g. 24h).
    read_timeout: Duration = Field(default=30.0, gt=0)
    write_timeout: Duration = Field(default=300.0, gt=0)
    idle_timeout: Duration = Field(default=120.0, gt=0)
    max_body_size: ByteSize = 32 * 2**20

    @field_validator("addr")
    @classmethod
    def _check_addr(cls, value: str) -> str:
        _parse_addr(value)
        return value

    @property
    def host(self) -> str:
        """The interface to bind; ``0.0.0.0`` (all interfaces) when the address has no host."""
        host = _parse_addr(self.addr)[0]
        return host or "0.0.0.0"

    @property
    def port(self) -> int:
        return _parse_addr(self.addr)[1]


# Response headers the Anthropic, OpenAI and Google SDKs read (request ids, retry hints, limits).
_EXPOSE_HEADERS = [
    "request-id",
    "x-request-id",
    "x-gateway-request-id",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    *(
        f"anthropic-ratelimit-{kind}-{field}"
        for kind in ("requests", "tokens", "input-tokens", "output-tokens")
        for field in ("limit", "remaining", "reset")
    ),
    *(
        f"x-ratelimit-{field}-{kind}"
        for field in ("limit", "remaining", "reset")
        for kind in ("requests", "tokens")
    ),
    "openai-processing-ms",
]


class CorsSettings(_Section):
    allow_origins: list[str] = Field(default_factory=lambda: ["*"])
    allow_methods: list[str] = Field(default_factory=lambda: ["GET", "POST", "DELETE", "OPTIONS"])
    allow_headers: list[str] = Field(default_factory=lambda: ["*"])
    expose_headers: list[str] = Field(default_factory=lambda: list(_EXPOSE_HEADERS))
    max_age: Duration = 600.0

    @field_validator("allow_methods")
    @classmethod
    def _upper_methods(cls, value: list[str]) -> list[str]:
        return [method.upper() for method in value]


class ServerSettings(_Section):
    mode: Annotated[Literal["production", "development"], BeforeValidator(_lower)] = "production"
    http: HttpSettings = HttpSettings()
    workers: int = Field(default=1, ge=1)
    cors: CorsSettings = CorsSettings()
    public_url: Annotated[HttpUrlStr | None, BeforeValidator(_optional)] = None


class FeaturesSettings(_Section):
    new_api_enabled: bool = True
    new_api_url: HttpUrlStr = "http://localhost:3000"
    new_api_key: SecretField = _NO_SECRET
    async_logging: bool = True
    openai_include_usage: bool = True


class ProviderUpstream(_Section):
    base_url: HttpUrlStr
    api_key: SecretField = _NO_SECRET

    @field_validator("base_url")
    @classmethod
    def _no_api_version(cls, value: str) -> str:
        # The gateway forwards the client's full path (/v1/chat/completions, /v1beta/models/...),
        # so a base URL that already ends in the version would double it.
        for suffix in ("/v1", "/v1beta"):
            if value.endswith(suffix):
                raise ValueError(
                    f"must be the host without {suffix!r}: the gateway appends the client's "
                    f"full path (e.g. {suffix}/...)"
                )
        return value


class ClaudeUpstream(ProviderUpstream):
    base_url: HttpUrlStr = "https://api.anthropic.com"


class OpenAIUpstream(ProviderUpstream):
    base_url: HttpUrlStr = "https://api.openai.com"


class GeminiUpstream(ProviderUpstream):
    base_url: HttpUrlStr = "https://generativelanguage.googleapis.com"


class UpstreamsSettings(_Section):
    # http1: the gateway's own keep-alive HTTP/1.1 client (asyncio + httptools), the fast one;
    # aiohttp: aiohttp's client.
    client: Annotated[Literal["http1", "aiohttp"], BeforeValidator(_lower)] = "http1"
    connect_timeout: Duration = 10.0
    read_timeout: Duration = 300.0
    pool_size: int = Field(default=512, ge=1)
    pool_per_host: int = Field(default=0, ge=0)
    keepalive_timeout: Duration = 30.0
    claude: ClaudeUpstream = ClaudeUpstream()
    openai: OpenAIUpstream = OpenAIUpstream()
    gemini: GeminiUpstream = GeminiUpstream()


class BillingSettings(_Section):
    mode: Annotated[Literal["disabled", "local", "http"], BeforeValidator(_lower)] = "disabled"
    fail_open: bool = False
    authorize_timeout: Duration = 2.0
    url: HttpUrlStr = "http://127.0.0.1:18200"
    api_key: SecretField = _NO_SECRET
    local_db: str = "data/billing.sqlite3"
    outbox_dir: str = "data/billing-outbox"
    model_multipliers: dict[str, float] = Field(default_factory=dict)

    @field_validator("model_multipliers")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        for model, multiplier in value.items():
            if multiplier < 0 or not math.isfinite(multiplier):
                raise ValueError(f"multiplier for {model!r} must be a finite number >= 0")
        return value


class NatsSettings(_Section):
    url: Annotated[str, AfterValidator(_nats_urls)] = "nats://localhost:4222"
    stream: Annotated[str, AfterValidator(_stream_name)] = "GATEWAY_REQUESTS"
    subject_prefix: Annotated[str, AfterValidator(_subject_prefix)] = "gateway.requests"
    duplicate_window: Duration = 120.0
    max_age: Duration = 7 * 86400.0
    max_bytes: ByteSize = 2**30
    queue_size: int = Field(default=10000, ge=1)
    spool_dir: str = "data/event-spool"
    spool_max_bytes: ByteSize = 256 * 2**20
    connect_timeout: Duration = 2.0
    publish_timeout: Duration = 5.0


class EventsSettings(_Section):
    backend: Annotated[Literal["nats", "jsonl"], BeforeValidator(_lower)] = "nats"
    jsonl_path: str = "data/events.jsonl"


class TracingSettings(_Section):
    enabled: bool = False
    endpoint: str = "localhost:4317"
    sample_rate: float = Field(default=0.1, ge=0.0, le=1.0)
    service_name: str = "ai-gateway"


class LoggingSettings(_Section):
    level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)] = "info"
    access_log: bool = True


class MetricsSettings(_Section):
    enabled: bool = True
    multiproc_dir: Annotated[str | None, BeforeValidator(_optional)] = None
    # Model names that always get their own `model` label, beyond the first 50 a worker sees.
    known_models: tuple[str, ...] = ()


class Settings(_Section):
    """The whole configuration file; every section and key is optional."""

    server: ServerSettings = ServerSettings()
    features: FeaturesSettings = FeaturesSettings()
    upstreams: UpstreamsSettings = UpstreamsSettings()
    billing: BillingSettings = BillingSettings()
    nats: NatsSettings = NatsSettings()
    events: EventsSettings = EventsSettings()
    tracing: TracingSettings = TracingSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
