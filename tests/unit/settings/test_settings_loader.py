from pathlib import Path

import pytest

from gateway.settings import ConfigError, Settings, load_settings, parse_settings

SECRET = "sk-ant-api03-VERY-SECRET-value"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_a_yaml_file(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  http:\n    addr: '127.0.0.1:9000'\n    read_timeout: 5m\n")

    settings = load_settings(path, env={})

    assert (settings.server.http.port, settings.server.http.read_timeout) == (9000, 300.0)


def test_an_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, ""), env={}) == Settings()


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config error in .*nope\.yaml: file not found"):
        load_settings(tmp_path / "nope.yaml", env={})


def test_invalid_yaml_is_an_error_without_quoting_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, f'features:\n  new_api_key: "{SECRET}\n  x: [\n')

    with pytest.raises(ConfigError, match="invalid YAML at line") as caught:
        load_settings(path, env={})

    assert SECRET not in str(caught.value)


def test_a_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  workers: 2\nserver:\n  workers: 3\n")

    with pytest.raises(ConfigError, match="line 3, column 1: duplicate key 'server'"):
        load_settings(path, env={})


def test_yaml_merge_keys_still_work(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "upstreams:\n"
        "  claude: &fake {base_url: 'http://127.0.0.1:18001', api_key: a}\n"
        "  openai: {<<: *fake, api_key: b}\n",
    )

    settings = load_settings(path, env={})

    assert settings.upstreams.openai.base_url == "http://127.0.0.1:18001"
    assert settings.upstreams.openai.api_key.get_secret_value() == "b"


def test_the_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(write(tmp_path, "- server\n"), env={})


def test_expands_a_set_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "upstreams:\n  claude: {api_key: '${ANTHROPIC_API_KEY}'}\n")

    settings = load_settings(path, env={"ANTHROPIC_API_KEY": SECRET})

    assert settings.upstreams.claude.api_key.get_secret_value() == SECRET


def test_expands_inside_a_longer_string() -> None:
    settings = parse_settings(
        {"nats": {"url": "nats://${NATS_HOST}:${NATS_PORT:-4222}"}}, env={"NATS_HOST": "n1"}
    )

    assert settings.nats.url == "nats://n1:4222"


def test_uses_the_default_when_unset_or_empty() -> None:
    data = {"features": {"new_api_url": "${NEW_API_URL:-http://new-api:3000}"}}

    unset = parse_settings(data, env={})
    empty = parse_settings(data, env={"NEW_API_URL": ""})

    assert unset.features.new_api_url == empty.features.new_api_url == "http://new-api:3000"


def test_an_empty_default_is_allowed() -> None:
    settings = parse_settings({"features": {"new_api_key": "${NEW_API_KEY:-}"}}, env={})

    assert settings.features.new_api_key.get_secret_value() == ""


def test_an_unset_variable_names_the_variable_and_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"billing": {"api_key": "${BILLING_KEY}"}}, env={})

    assert "billing.api_key: environment variable BILLING_KEY is not set" in str(caught.value)


def test_expands_in_nested_lists() -> None:
    data = {"server": {"cors": {"allow_origins": ["${ORIGIN_A}", "https://${HOST:-b.example}"]}}}

    settings = parse_settings(data, env={"ORIGIN_A": "https://a.example"})

    assert settings.server.cors.allow_origins == ["https://a.example", "https://b.example"]


def test_an_unset_variable_in_a_list_names_the_index() -> None:
    with pytest.raises(ConfigError, match=r"server\.cors\.allow_origins\[1\]: .* ORIGIN_B"):
        parse_settings({"server": {"cors": {"allow_origins": ["a", "${ORIGIN_B}"]}}}, env={})


def test_a_double_dollar_is_a_literal_dollar() -> None:
    settings = parse_settings({"billing": {"api_key": "pa$$word-$${NOT_A_VAR}"}}, env={})

    assert settings.billing.api_key.get_secret_value() == "pa$word-${NOT_A_VAR}"


def test_a_lone_dollar_is_kept() -> None:
    settings = parse_settings({"billing": {"api_key": "pa$word"}}, env={})

    assert settings.billing.api_key.get_secret_value() == "pa$word"


def test_expanded_values_are_not_expanded_again() -> None:
    settings = parse_settings({"billing": {"api_key": "${KEY}"}}, env={"KEY": "a${B}c"})

    assert settings.billing.api_key.get_secret_value() == "a${B}c"


def test_a_secret_with_yaml_syntax_is_kept_verbatim(tmp_path: Path) -> None:
    tricky = "x'y\": #z\n- [a]"
    path = write(tmp_path, "features:\n  new_api_key: ${KEY}\n")

    settings = load_settings(path, env={"KEY": tricky})

    assert settings.features.new_api_key.get_secret_value() == tricky


@pytest.mark.parametrize("value", ["${", "abc${DEF", "${1BAD}", "${}"])
def test_a_malformed_reference_is_an_error(value: str) -> None:
    with pytest.raises(ConfigError, match=r"billing\.api_key: (unterminated|invalid variable)"):
        parse_settings({"billing": {"api_key": value}}, env={})


def test_reports_a_bad_duration_with_the_file_and_the_dotted_path(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  http:\n    read_timeout: 30 parsecs\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})

    assert str(caught.value) == (
        f"config error in {path}: server.http.read_timeout: "
        "invalid duration '30 parsecs' (use e.g. 30s, 5m, 250ms)"
    )


def test_an_unknown_key_is_named_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"features": {"new_api_enabeld": False}}, env={})

    assert "features.new_api_enabeld: unknown key (did you mean 'new_api_enabled'?)" in str(
        caught.value
    )


def test_an_unknown_section_is_named() -> None:
    with pytest.raises(
        ConfigError, match=r"<config>: tracng: unknown key \(did you mean 'tracing'"
    ):
        parse_settings({"tracng": {}}, env={})


def test_collects_every_error_one_line_each(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "server:\n  workers: 0\n  http: {read_timeout: soon}\nfeatures: {typo: 1}\n",
    )

    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})

    lines = str(caught.value).splitlines()
    assert len(lines) == len(caught.value.problems) == 3
    assert all(line.startswith(f"config error in {path}: ") for line in lines)
    assert {line.split(": ")[1] for line in lines} == {
        "server.http.read_timeout",
        "server.workers",
        "features.typo",
    }


@pytest.mark.parametrize(
    "data",
    [
        {"upstreams": {"claude": {"api_key": [SECRET]}}},
        {"upstreams": {"claude": {"api_kye": SECRET}}},
        {"upstreams": {"claude": {"base_url": SECRET}}},
        {"features": {"new_api_url": SECRET}},
        {"server": {"public_url": SECRET}},
        {"billing": {"url": f"ftp://{SECRET}"}},
    ],
)
def test_errors_never_echo_a_secret(data: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(data, env={})

    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.problems)


def test_errors_never_echo_an_expanded_secret() -> None:
    data = {"upstreams": {"openai": {"base_url": "${OPENAI_API_KEY}"}}}

    with pytest.raises(ConfigError) as caught:
        parse_settings(data, env={"OPENAI_API_KEY": SECRET})

    assert SECRET not in str(caught.value)


PROVIDER_KEYS = {
    "claude": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "gemini": "GEMINI_API_KEY",
}


@pytest.mark.parametrize("text", ["", "upstreams:\n", "upstreams:\n  claude:\n  openai: {}\n"])
def test_provider_keys_left_out_are_read_from_the_environment(tmp_path: Path, text: str) -> None:
    """The contract's defaults are `${ANTHROPIC_API_KEY:-}` and the like: a key left out of the
    file comes from the environment (it was empty, and callers' own credentials went upstream)."""
    env = {variable: f"key-of-{provider}" for provider, variable in PROVIDER_KEYS.items()}
    upstreams = load_settings(write(tmp_path, text), env=env).upstreams
    for provider in PROVIDER_KEYS:
        assert getattr(upstreams, provider).api_key.get_secret_value() == f"key-of-{provider}"
    assert (
        load_settings(write(tmp_path, text), env={}).upstreams.claude.api_key.get_secret_value()
        == ""
    )


def test_a_provider_key_written_in_the_file_is_not_replaced(tmp_path: Path) -> None:
    path = write(tmp_path, "upstreams:\n  claude: {api_key: ''}\n  openai: {api_key: sk-file}\n")
    upstreams = load_settings(path, env={"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o"}).upstreams
    assert (
        upstreams.claude.api_key.get_secret_value(),
        upstreams.openai.api_key.get_secret_value(),
    ) == ("", "sk-file")


def test_a_section_of_the_wrong_type_is_still_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"upstreams\.claude"):
        load_settings(write(tmp_path, "upstreams:\n  claude: [1]\n"), env={})
