import yaml

from gateway.settings import Settings, parse_settings, render_effective_config

SECRETS = {
    "NEW_API_KEY": "sk-newapi-0123456789",
    "ANTHROPIC_API_KEY": "sk-ant-api03-abcdefgh",
    "OPENAI_API_KEY": "sk-proj-abcdefgh",
    "GEMINI_API_KEY": "AIzaSyA-abcdefgh",
    "BILLING_API_KEY": "billing-secret-abc",
}
CONFIG = {
    "features": {"new_api_key": "${NEW_API_KEY}"},
    "upstreams": {
        "claude": {"api_key": "${ANTHROPIC_API_KEY}"},
        "openai": {"api_key": "${OPENAI_API_KEY}"},
        "gemini": {"api_key": "${GEMINI_API_KEY}"},
    },
    "billing": {"mode": "http", "api_key": "${BILLING_API_KEY}"},
}


def test_masks_every_secret() -> None:
    settings = parse_settings(CONFIG, env=SECRETS)

    text = render_effective_config(settings)
    rendered = yaml.safe_load(text)

    assert not [secret for secret in SECRETS.values() if secret in text]
    assert rendered["features"]["new_api_key"] == "***"
    assert rendered["upstreams"]["claude"]["api_key"] == "***"
    assert rendered["billing"]["api_key"] == "***"


def test_an_empty_secret_renders_empty() -> None:
    rendered = yaml.safe_load(render_effective_config(Settings()))

    assert rendered["features"]["new_api_key"] == ""
    assert rendered["upstreams"]["openai"]["api_key"] == ""


def test_secrets_print_masked() -> None:
    settings = parse_settings(CONFIG, env=SECRETS)

    assert str(settings.features.new_api_key) == "***"
    assert str(Settings().features.new_api_key) == ""
    assert not [secret for secret in SECRETS.values() if secret in repr(settings)]


def test_masks_credentials_in_urls() -> None:
    settings = parse_settings(
        {"nats": {"url": "nats://user:hunter2@n1:4222,nats://s3cr3t-token@n2:4222"}}, env={}
    )

    rendered = yaml.safe_load(render_effective_config(settings))

    assert rendered["nats"]["url"] == "nats://user:***@n1:4222,nats://***@n2:4222"


def test_masks_a_secret_copied_into_another_key() -> None:
    settings = parse_settings(
        {
            "features": {"new_api_key": "sk-copied-123"},
            "tracing": {"service_name": "sk-copied-123"},
        },
        env={},
    )

    assert "sk-copied-123" not in render_effective_config(settings)


def test_renders_human_durations_and_sizes() -> None:
    settings = parse_settings(
        {"server": {"http": {"read_timeout": 90, "max_body_size": 10_000_000}}}, env={}
    )

    rendered = yaml.safe_load(render_effective_config(settings))

    assert rendered["server"]["http"]["read_timeout"] == "1m30s"
    assert rendered["server"]["http"]["write_timeout"] == "5m"
    assert rendered["server"]["http"]["max_body_size"] == "10MB"
    assert rendered["nats"]["max_bytes"] == "1GiB"
    assert rendered["nats"]["max_age"] == "7d"
    assert rendered["billing"]["authorize_timeout"] == "2s"


def test_the_rendered_config_loads_back_to_the_same_settings() -> None:
    settings = parse_settings({"server": {"http": {"addr": "[::1]:9"}, "public_url": None}}, env={})

    assert parse_settings(yaml.safe_load(render_effective_config(settings)), env={}) == settings
