from pathlib import Path

from gateway.settings import load_settings, render_effective_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
ENV = {
    "ANTHROPIC_API_KEY": "sk-ant-test-key",
    "OPENAI_API_KEY": "sk-openai-test-key",
    "GEMINI_API_KEY": "gemini-test-key",
    "NEW_API_KEY": "sk-new-api-test-key",
}


def test_the_default_config_runs_offline_without_nats() -> None:
    settings = load_settings(CONFIGS / "config.yaml", env={})

    assert settings.server.mode == "production"
    assert (settings.server.http.host, settings.server.http.port) == ("0.0.0.0", 18100)
    assert settings.features.new_api_enabled is False
    # Events on, to a local file: the quick start shows them, with no NATS server to run.
    assert settings.features.async_logging is True and settings.events.backend == "jsonl"
    assert settings.billing.mode == "disabled"
    for upstream in (
        settings.upstreams.claude,
        settings.upstreams.openai,
        settings.upstreams.gemini,
    ):
        assert upstream.base_url == "http://127.0.0.1:18001"


def test_the_default_config_takes_keys_from_the_environment() -> None:
    settings = load_settings(CONFIGS / "config.yaml", env=ENV)

    assert settings.upstreams.claude.api_key.get_secret_value() == "sk-ant-test-key"
    assert settings.upstreams.openai.api_key.get_secret_value() == "sk-openai-test-key"
    assert settings.upstreams.gemini.api_key.get_secret_value() == "gemini-test-key"


def test_the_production_example_loads() -> None:
    settings = load_settings(CONFIGS / "production.example.yaml", env=ENV)

    assert settings.features.new_api_enabled is True
    assert settings.features.new_api_key.get_secret_value() == "sk-new-api-test-key"
    assert settings.features.async_logging is True
    assert settings.billing.mode == "local"
    assert settings.events.backend == "nats"
    assert settings.tracing.enabled is True
    assert "sk-new-api-test-key" not in render_effective_config(settings)


def test_the_production_example_takes_deployment_values_from_the_environment() -> None:
    env = {"GATEWAY_WORKERS": "8", "NATS_URL": "nats://nats:4222", "GATEWAY_ADDR": ":9000"}

    settings = load_settings(CONFIGS / "production.example.yaml", env=env)

    assert (settings.server.workers, settings.server.http.port) == (8, 9000)
    assert settings.nats.url == "nats://nats:4222"
