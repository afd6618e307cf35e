"""Load the YAML config: parse, expand ``${VAR}`` / ``${VAR:-default}``, validate.

Expansion happens on the parsed string values, not on the raw text, so a secret containing YAML
syntax (quotes, ``#``, ``: ``) cannot change the document's structure. ``$$`` is a literal ``$``;
any other ``$`` is kept as is. Error messages name the key as a dotted path and never include a
configured value that could be a secret.
"""

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from gateway.settings.schema import Settings

__all__ = ["ConfigError", "load_settings", "parse_settings"]

_VARIABLE = re.compile(r"\$\$|\$\{([^}]*)\}|\$\{")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ConfigError(Exception):
    """The configuration file cannot be used; ``problems`` holds one ``key.path: message`` each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__("\n".join(f"config error in {source}: {p}" for p in problems))


def load_settings(path: str | Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read, expand and validate the YAML file at ``path``; ``env`` defaults to ``os.environ``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, [f"cannot read the file: {exc}"]) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(source, [_yaml_problem(exc)]) from None
    return parse_settings({} if data is None else data, env=env, source=source)


def parse_settings(
    data: object, *, env: Mapping[str, str] | None = None, source: str = "<config>"
) -> Settings:
    """Expand and validate already-parsed YAML data (a mapping of sections)."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, ["the top level must be a mapping of sections (server, ...)"])
    problems: list[str] = []
    with_defaults = _with_environment_defaults(data)
    expanded = _expand(with_defaults, os.environ if env is None else env, (), problems)
    if problems:
        raise ConfigError(source, problems)
    try:
        return Settings.model_validate(expanded)
    except ValidationError as exc:
        raise ConfigError(source, [_problem(err) for err in exc.errors()]) from None


# Keys whose default is read from the environment (the contract's config), filled in where the
# file leaves them out and then expanded as if written there. Without them, a provider key left
# out of the file was empty, and its callers' own credentials went upstream instead.
_ENVIRONMENT_DEFAULTS = (
    (("upstreams", "claude", "api_key"), "${ANTHROPIC_API_KEY:-}"),
    (("upstreams", "openai", "api_key"), "${OPENAI_API_KEY:-}"),
    (("upstreams", "gemini", "api_key"), "${GEMINI_API_KEY:-}"),
)


def _with_environment_defaults(data: Mapping[Any, Any]) -> dict[Any, Any]:
    """A copy of ``data`` with each absent key of _ENVIRONMENT_DEFAULTS set. A null section is
    read as empty, as the schema reads it; one given as something else than a mapping is left
    to the schema to report."""
    result = dict(data)
    for path, default in _ENVIRONMENT_DEFAULTS:
        node = result
        for key in path[:-1]:
            child = node.get(key, {})
            if child is None:
                child = {}
            if not isinstance(child, Mapping):
                break
            copy = dict(child)
            node[key] = copy
            node = copy
        else:
            node.setdefault(path[-1], default)
    return result


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a key given twice in one mapping instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # Only the problem and its position: the default str() quotes the offending line, which
    # may hold a secret.
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return "invalid YAML"


def _expand(
    value: object, env: Mapping[str, str], loc: tuple[Any, ...], problems: list[str]
) -> Any:
    if isinstance(value, str):
        return _expand_string(value, env, loc, problems)
    if isinstance(value, Mapping):
        return {key: _expand(item, env, (*loc, key), problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, env, (*loc, index), problems) for index, item in enumerate(value)]
    return value


def _expand_string(
    value: str, env: Mapping[str, str], loc: tuple[Any, ...], problems: list[str]
) -> str:
    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "$$":
            return "$"
        if text == "${":
            problems.append(f"{_dotted(loc)}: unterminated '${{' (write '$$' for a literal '$')")
            return ""
        name, has_default, default = match.group(1).partition(":-")
        if not _NAME.fullmatch(name):
            problems.append(
                f"{_dotted(loc)}: invalid variable reference (use ${{NAME}} or ${{NAME:-default}})"
            )
            return ""
        current = env.get(name)
        if has_default:
            return current if current else default
        if current is None:
            problems.append(
                f"{_dotted(loc)}: environment variable {name} is not set "
                f"(use ${{{name}:-default}} for a default)"
            )
            return ""
        return current

    return _VARIABLE.sub(replace, value)


def _problem(error: Any) -> str:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{_dotted(loc)}: unknown key{_suggestion(loc)}"
    # A ValueError from our validators reads better without pydantic's "Value error, " prefix.
    custom = error["type"] == "value_error"
    message = str(error["ctx"]["error"]) if custom else str(error["msg"])
    return f"{_dotted(loc)}: {message}" if loc else message


def _suggestion(loc: tuple[Any, ...]) -> str:
    model: Any = Settings
    for part in loc[:-1]:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return ""
        field = model.model_fields.get(str(part))
        model = field.annotation if field is not None else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ""
    matches = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def _dotted(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(str(part)):
            path += f".{part}" if path else str(part)
        else:
            path += f"[{str(part)!r}]"
    return path or "(top level)"
