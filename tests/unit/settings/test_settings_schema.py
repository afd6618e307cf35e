import pydantic
import pytest

from gateway.settings import ConfigError, Settings, parse_settings


def test_defaults_follow_the_contract() -> None:
    settings = Settings()

    assert settings.server.mode == "production"
    assert settings.server.http.addr == ":18100"
    assert settings.server.http.read_timeout == 30.0
    assert settings.server.http.write_timeout == 300.0
    assert settings.server.http.idle_timeout == 120.0
    assert settings.server.http.max_body_size == 32 * 2**20
    assert settings.server.workers == 1
    assert settings.server.cors.allow_origins == ["*"]
    assert settings.server.public_url is None
    assert settings.features.new_api_enabled is True
    assert settings.features.new_api_url == "http://localhost:3000"
    assert settings.features.new_api_key.get_secret_value() == ""
    assert settings.features.async_logging is True
    assert settings.upstreams.connect_timeout == 10.0
    assert settings.upstreams.read_timeout == 300.0
    assert settings.upstreams.claude.base_url == "https://api.anthropic.com"
    assert settings.upstreams.openai.base_url == "https://api.openai.com"
    assert settings.upstreams.gemini.base_url == "https://generativelanguage.googleapis.com"
    assert settings.billing.mode == "disabled"
    assert settings.nats.url == "nats://localhost:4222"
    assert settings.nats.stream == "GATEWAY_REQUESTS"
    assert settings.nats.subject_prefix == "gateway.requests"
    assert settings.tracing.enabled is False
    assert settings.tracing.endpoint == "localhost:4317"
    assert settings.tracing.sample_rate == 0.1


def test_other_defaults() -> None:
    settings = Settings()

    assert settings.server.cors.allow_methods == ["GET", "POST", "DELETE", "OPTIONS"]
    assert settings.server.cors.max_age == 600.0
    assert {"request-id", "x-request-id", "retry-after"} <= set(settings.server.cors.expose_headers)
    assert settings.features.openai_include_usage is True
    assert settings.upstreams.client == "http1"
    assert settings.upstreams.pool_size == 512
    assert settings.upstreams.pool_per_host == 0
    assert settings.upstreams.keepalive_timeout == 30.0
    assert settings.billing.authorize_timeout == 2.0
    assert settings.billing.url == "http://127.0.0.1:18200"
    assert settings.billing.model_multipliers == {}
    assert settings.nats.duplicate_window == 120.0
    assert settings.nats.max_age == 7 * 86400.0
    assert settings.nats.max_bytes == 2**30
    assert settings.nats.spool_max_bytes == 256 * 2**20
    assert settings.nats.queue_size == 10000
    assert settings.events.backend == "nats"
    assert settings.logging.level == "info"
    assert settings.metrics.enabled is True
    assert settings.metrics.multiproc_dir is None


def test_an_empty_document_gives_the_defaults() -> None:
    assert parse_settings({}, env={}) == Settings()


def test_a_section_with_every_key_commented_out_gives_its_defaults() -> None:
    assert parse_settings({"server": None}, env={}).server == Settings().server


def test_settings_are_immutable() -> None:
    settings = Settings()

    with pytest.raises(pydantic.ValidationError, match="frozen"):
        settings.server.workers = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("addr", "host", "port"),
    [
        (":18100", "0.0.0.0", 18100),
        ("127.0.0.1:18100", "127.0.0.1", 18100),
        ("[::1]:18100", "::1", 18100),
        ("localhost:8080", "localhost", 8080),
        ("0.0.0.0:0", "0.0.0.0", 0),
    ],
)
def test_parses_the_listen_address(addr: str, host: str, port: int) -> None:
    http = parse_settings({"server": {"http": {"addr": addr}}}, env={}).server.http

    assert (http.host, http.port) == (host, port)


@pytest.mark.parametrize("addr", ["18100", "::1:18100", "host:port", ":70000", "", "a b:1"])
def test_rejects_a_bad_listen_address(addr: str) -> None:
    with pytest.raises(ConfigError, match=r"server\.http\.addr: invalid listen address"):
        parse_settings({"server": {"http": {"addr": addr}}}, env={})


def test_picks_the_upstream_client() -> None:
    assert (
        parse_settings({"upstreams": {"client": "AIOHTTP"}}, env={}).upstreams.client == "aiohttp"
    )
    with pytest.raises(ConfigError, match=r"upstreams\.client"):
        parse_settings({"upstreams": {"client": "httpx"}}, env={})


def test_reads_durations_and_sizes() -> None:
    settings = parse_settings(
        {"server": {"http": {"read_timeout": "1m30s", "max_body_size": "10MB"}}}, env={}
    )

    assert settings.server.http.read_timeout == 90.0
    assert settings.server.http.max_body_size == 10_000_000


def test_strips_the_trailing_slash_of_base_urls() -> None:
    settings = parse_settings(
        {"upstreams": {"openai": {"base_url": "http://127.0.0.1:18001/"}}}, env={}
    )

    assert settings.upstreams.openai.base_url == "http://127.0.0.1:18001"


def test_a_partial_provider_section_keeps_that_providers_default_url() -> None:
    settings = parse_settings({"upstreams": {"gemini": {"api_key": "k"}}}, env={})

    assert settings.upstreams.gemini.base_url == "https://generativelanguage.googleapis.com"


@pytest.mark.parametrize("url", ["api.openai.com", "ftp://x.org", "https://", "https://h/?a=1"])
def test_rejects_a_base_url_that_is_not_http(url: str) -> None:
    with pytest.raises(ConfigError, match=r"upstreams\.openai\.base_url: must "):
        parse_settings({"upstreams": {"openai": {"base_url": url}}}, env={})


def test_rejects_an_openai_base_url_ending_in_v1() -> None:
    with pytest.raises(ConfigError, match="without '/v1'"):
        parse_settings({"upstreams": {"openai": {"base_url": "https://api.openai.com/v1"}}}, env={})


def test_an_empty_public_url_means_unset() -> None:
    settings = parse_settings({"server": {"public_url": ""}}, env={})

    assert settings.server.public_url is None


def test_enum_values_are_case_insensitive() -> None:
    settings = parse_settings({"logging": {"level": "INFO"}, "billing": {"mode": "Local"}}, env={})

    assert (settings.logging.level, settings.billing.mode) == ("info", "local")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"server": {"workers": 0}}, "server.workers: Input should be greater than or equal to 1"),
        ({"server": {"workers": "four"}}, "server.workers: Input should be a valid integer"),
        # 0 would cut every stream at its first byte (the deadline expires at once).
        (
            {"server": {"http": {"write_timeout": "0s"}}},
            "server.http.write_timeout: Input should be greater than 0",
        ),
        ({"server": {"mode": "staging"}}, "server.mode: Input should be 'production'"),
        ({"tracing": {"sample_rate": 1.5}}, "tracing.sample_rate: Input should be less than"),
        (
            {"features": {"async_logging": "maybe"}},
            "features.async_logging: Input should be a valid",
        ),
        (
            {"server": {"cors": {"allow_origins": "*"}}},
            "server.cors.allow_origins: Input should be",
        ),
        ({"nats": {"subject_prefix": "gateway.>"}}, "nats.subject_prefix: must be dot-separated"),
        ({"nats": {"url": "localhost:4222"}}, "nats.url: must be nats://"),
        (
            {"billing": {"model_multipliers": {"gpt-4.1": -1}}},
            "billing.model_multipliers: multiplier for 'gpt-4.1' must be",
        ),
    ],
)
def test_type_errors_name_the_dotted_path(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, env={})

    assert f"config error in <config>: {expected}" in str(caught.value)


def test_env_strings_are_coerced_to_numbers_and_booleans() -> None:
    settings = parse_settings(
        {"server": {"workers": "${W}"}, "tracing": {"enabled": "${T}"}}, env={"W": "4", "T": "true"}
    )

    assert (settings.server.workers, settings.tracing.enabled) == (4, True)
