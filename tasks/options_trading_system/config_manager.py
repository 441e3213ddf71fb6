"""Profiles: find, layer (`extends`), fill `${VAR}` from the environment or `.env`, validate.

A profile is a JSON file in `config/` (or `config/profiles/`, or any path). Loading runs in this
order, and any problem stops it with a `ConfigError` naming the file, the JSON path, the bad value
and what was expected, before anything else runs:

1. `resolve_profile_path` turns a name (`barchart_only`, `profiles/conservative`) or a path into a file;
2. `_load_layers` reads it and, recursively, the profile it `extends`; layers are deep-merged
   (objects merge key by key, everything else is replaced by the child);
3. `_substitute_env` fills `${VAR}` and `${VAR:-default}` in every string;
4. `_validate` checks the result against `config/schema/profile.schema.json` and fills the
   schema's defaults, so the merged profile shows every effective setting.

The result is a frozen `Profile`; subsystems turn their section into their own frozen dataclass.
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping

import jsonschema
from dotenv import dotenv_values
from referencing import Registry, Resource

from .errors import ConfigError
from .secrets_mask import MASK, is_secret_name, mask_document, register_secrets

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "config"
SCHEMA_DIR = CONFIG_DIR / "schema"
PROFILE_SCHEMA = "profile.schema.json"
DEFAULT_PROFILE = "barchart_only"
# Files in config/ that are configuration but not run profiles (they have schemas of their own).
NON_PROFILE_FILES = frozenset({"monitoring.json"})

_ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_KEY = re.compile(r"(api_?key|secret|token|password|passwd|credential)", re.IGNORECASE)
# a JSON number (no leading zeros: "0123" is an identifier and stays a string) or a JSON boolean
_NUMBER_OR_BOOL = re.compile(r"^(-?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?|true|false)$")

JsonPath = tuple[Any, ...]


@dataclass(frozen=True)
class Profile:
    """A loaded, merged, validated profile. `data` is read-only; use `section()` to read it."""

    name: str
    path: Path
    layers: tuple[Path, ...]
    data: Mapping[str, Any]
    secret_paths: frozenset[JsonPath] = field(default_factory=frozenset)

    @property
    def description(self) -> str:
        return str(self.data.get("description", ""))

    def section(self, *keys: str) -> Mapping[str, Any]:
        """The sub-object at `keys` (empty mapping when absent)."""
        node: Any = self.data
        for key in keys:
            if not isinstance(node, Mapping) or key not in node:
                return MappingProxyType({})
            node = node[key]
        return node

    def to_dict(self) -> dict[str, Any]:
        """A mutable deep copy of the profile, secrets included (never write this anywhere)."""
        return _thaw(self.data)

    def masked(self) -> dict[str, Any]:
        """The profile with every secret replaced by a mask: safe to print, log or report."""
        out = self.to_dict()
        for path in self.secret_paths:
            _set_path(out, path, MASK)
        for path, key, value in _walk(out):
            if isinstance(key, str) and _SECRET_KEY.search(key) and value not in ("", None, MASK) \
                    and not key.endswith("_env"):
                _set_path(out, path, MASK)
        return mask_document(out)


def resolve_profile_path(name_or_path: str | os.PathLike[str], *, config_dir: Path = CONFIG_DIR,
                         relative_to: Path | None = None) -> Path:
    """Find a profile file from a name (`all_sources`, `profiles/aggressive`) or a path."""
    raw = str(name_or_path)
    candidates: list[Path] = []
    given = Path(raw)
    if relative_to is not None and not given.is_absolute():
        candidates.append(relative_to / given)
        if given.suffix != ".json":
            candidates.append(relative_to / f"{raw}.json")
    candidates.append(given)
    if not given.is_absolute():
        candidates.append(config_dir / given)
        if given.suffix != ".json":
            candidates.append(config_dir / f"{raw}.json")
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(
        f"profile {raw!r} not found (looked for: {', '.join(str(c) for c in candidates)}); "
        f"run with --list-profiles to see the available profiles"
    )


COMMAND_LINE = Path("<command line>")


def load_profile(name_or_path: str | os.PathLike[str] = DEFAULT_PROFILE, *,
                 env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None,
                 overrides_origin: Path = COMMAND_LINE,
                 config_dir: Path = CONFIG_DIR, schema_dir: Path = SCHEMA_DIR) -> Profile:
    """Load, layer, substitute and validate a profile. Raises `ConfigError` on any problem.

    `overrides` (from command-line options, or a sweep file named by `overrides_origin`) are
    deep-merged last and validated with the rest; errors in them name `overrides_origin`.
    """
    path = resolve_profile_path(name_or_path, config_dir=config_dir)
    merged, origins, layers = _load_layers(path, config_dir=config_dir, seen=())
    merged.pop("extends", None)
    environment = dict(env) if env is not None else load_environment()
    register_secrets(environment)
    secret_paths = _substitute_env(merged, environment, origins, path)
    if overrides:
        _deep_merge(merged, overrides)
        for leaf_path, _key, _value in _walk(overrides):
            origins[leaf_path] = overrides_origin
    check_finite(merged, path, origins)  # values from ${VAR} or the command line
    _validate(merged, origins, path, schema_dir)
    name = _profile_name(path, config_dir)
    return Profile(name=name, path=path, layers=tuple(layers), data=_freeze(merged),
                   secret_paths=frozenset(secret_paths))


def load_environment(dotenv_path: Path | None = None) -> dict[str, str]:
    """The process environment over the project's `.env` (the environment wins)."""
    candidates = [dotenv_path] if dotenv_path else [Path.cwd() / ".env", PROJECT_ROOT / ".env"]
    merged: dict[str, str] = {}
    for candidate in reversed(candidates):
        if candidate is not None and candidate.is_file():
            merged.update({k: v for k, v in dotenv_values(candidate).items() if v is not None})
    merged.update(os.environ)
    register_secrets(merged)  # values of secret variables from .env are masked in every output too
    return merged


def list_profiles(config_dir: Path = CONFIG_DIR) -> list[tuple[str, str]]:
    """(name, one-line description) of every profile under `config_dir`, sorted by name."""
    out: list[tuple[str, str]] = []
    files = sorted(config_dir.glob("*.json")) + sorted((config_dir / "profiles").glob("*.json"))
    for file in files:
        if file.name in NON_PROFILE_FILES:
            continue
        try:
            description = json.loads(file.read_text()).get("description", "")
        except (OSError, json.JSONDecodeError) as exc:
            description = f"(unreadable: {exc})"
        out.append((_profile_name(file, config_dir), str(description).splitlines()[0] if description else ""))
    return out


class _NonFinite(str):
    """A number the JSON text spelled but that is not finite (`NaN`, `Infinity`, `1e309`)."""


def _parse_constant(text: str) -> _NonFinite:
    return _NonFinite(text)  # NaN / Infinity / -Infinity: Python's json accepts them, JSON does not


def _parse_float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)  # 1e309 overflows to inf


def loads_finite(text: str) -> Any:
    """`json.loads`, but a non-finite number is kept as a marker that `check_finite` reports."""
    return json.loads(text, parse_constant=_parse_constant, parse_float=_parse_float)


def check_finite(document: Any, source: Path, origins: Mapping[JsonPath, Path] | None = None) -> None:
    """Refuse `NaN`, `Infinity`, `-Infinity` and numbers that overflow to infinity, naming the
    file and JSON path: they pass schema checks (NaN compares false with every bound) and a NaN
    budget would switch a cap off."""
    for path, _key, value in _walk(document):
        if isinstance(value, _NonFinite) or (isinstance(value, float) and not math.isfinite(value)):
            file = _origin(origins, path, source) if origins else source
            raise ConfigError(f"{_display(file)}: {json_path(path)}: bad value {str(value)!r}: expected a "
                              f"finite number (NaN, Infinity and numbers beyond 1.8e308 are refused)")


def load_json_file(path: Path) -> Any:
    """Read a JSON file, turning syntax errors into a `ConfigError` with line and column and
    refusing non-finite numbers (file and JSON path named)."""
    try:
        document = loads_finite(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{_display(path)}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    except OSError as exc:
        raise ConfigError(f"{_display(path)}: cannot read: {exc.strerror}") from exc
    check_finite(document, path)
    return document


def validate_document(document: Any, schema_file: str, *, source: Path,
                      schema_dir: Path = SCHEMA_DIR, fill_defaults: bool = True) -> None:
    """Validate any config document (profile or not) against a schema in `schema_dir`."""
    _validate(document, {}, source, schema_dir, schema_file=schema_file, fill_defaults=fill_defaults)


# --- layering -------------------------------------------------------------------------------

def _load_layers(path: Path, *, config_dir: Path, seen: tuple[Path, ...]
                 ) -> tuple[dict[str, Any], dict[JsonPath, Path], list[Path]]:
    if path in seen:
        chain = " -> ".join(_display(p) for p in (*seen, path))
        raise ConfigError(f"{_display(path)}: $.extends: profiles extend each other in a cycle ({chain})")
    document = load_json_file(path)
    if not isinstance(document, dict):
        raise ConfigError(f"{_display(path)}: $: expected a JSON object, got {type(document).__name__}")
    parent_ref = document.get("extends")
    merged: dict[str, Any] = {}
    origins: dict[JsonPath, Path] = {}
    layers: list[Path] = []
    if parent_ref is not None:
        if not isinstance(parent_ref, str):
            raise ConfigError(f"{_display(path)}: $.extends: {parent_ref!r} is not a profile name (expected a string)")
        try:
            parent = resolve_profile_path(parent_ref, config_dir=config_dir, relative_to=path.parent)
        except ConfigError as exc:
            raise ConfigError(f"{_display(path)}: $.extends: parent profile {parent_ref!r} not found ({exc})") from exc
        merged, origins, layers = _load_layers(parent, config_dir=config_dir, seen=(*seen, path))
    _deep_merge(merged, document)
    for leaf_path, _key, _value in _walk(document):
        origins[leaf_path] = path
    layers.append(path)
    return merged, origins, layers


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


# --- environment ----------------------------------------------------------------------------

def _substitute_env(document: dict[str, Any], env: Mapping[str, str],
                    origins: Mapping[JsonPath, Path], leaf: Path) -> set[JsonPath]:
    """Replace `${VAR}` in place; return the paths whose values came from secret-looking vars."""
    secret_paths: set[JsonPath] = set()
    for path, _key, value in list(_walk(document)):
        if not isinstance(value, str) or "${" not in value:
            continue
        used_secret = False

        def fill(match: re.Match[str]) -> str:
            nonlocal used_secret
            var, default = match.group(1), match.group(2)
            if is_secret_name(var) or _SECRET_KEY.search(var):
                used_secret = True
            if var in env and env[var] != "":
                return env[var]
            if default is not None:
                return default
            file = _origin(origins, path, leaf)
            raise ConfigError(
                f"{_display(file)}: {json_path(path)}: environment variable {var} is not set "
                f"(set it in the environment or in .env, or write ${{{var}:-default}})"
            )

        filled = _ENV_PATTERN.sub(fill, value)
        whole = _ENV_PATTERN.fullmatch(value)
        new_value: Any = filled
        if whole and _NUMBER_OR_BOOL.match(filled):
            new_value = loads_finite(filled)  # "${TIMEOUT}" -> 12.5, so the schema sees a number
        _set_path(document, path, new_value)
        if used_secret:
            secret_paths.add(path)
    return secret_paths


# --- validation -----------------------------------------------------------------------------

def _schema_registry(schema_dir: Path) -> Registry:
    resources = []
    for file in sorted(schema_dir.glob("*.json")):
        schema = load_json_file(file)
        resources.append((schema.get("$id", file.name), Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def _validate(document: Any, origins: Mapping[JsonPath, Path], leaf: Path, schema_dir: Path,
              schema_file: str = PROFILE_SCHEMA, fill_defaults: bool = True) -> None:
    registry = _schema_registry(schema_dir)
    schema = load_json_file(schema_dir / schema_file)
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema, registry=registry)
    errors = sorted(validator.iter_errors(document), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        lines = [_describe_error(error, origins, leaf) for error in errors[:10]]
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise ConfigError(lines[0] if len(lines) == 1 else "invalid profile:\n  " + "\n  ".join(lines) + more)
    if fill_defaults:
        _fill_defaults(document, schema, registry)


def _describe_error(error: jsonschema.ValidationError, origins: Mapping[JsonPath, Path], leaf: Path) -> str:
    path = tuple(error.absolute_path)
    file = _origin(origins, path, leaf)
    expected = error.schema.get("description") if isinstance(error.schema, Mapping) else None
    if error.validator == "additionalProperties":
        allowed = sorted((error.schema.get("properties") or {}).keys())
        unknown = sorted(set(error.instance) - set(allowed)) if isinstance(error.instance, Mapping) else []
        bad = unknown[0] if unknown else "?"
        return (f"{_display(_origin(origins, (*path, bad), leaf))}: {json_path((*path, bad))}: unknown key {bad!r} "
                f"(expected one of: {', '.join(allowed)})")
    if error.validator == "required":
        return f"{_display(file)}: {json_path(path)}: {error.message}"
    what = f"{error.instance!r}" if not isinstance(error.instance, (dict, list)) else type(error.instance).__name__
    reason = error.message
    if error.validator == "type":
        reason = f"expected {error.validator_value}"
    elif error.validator == "enum":
        reason = f"expected one of {', '.join(map(repr, error.validator_value))}"
    elif error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        reason = f"expected {error.validator} {error.validator_value}"
    hint = f" ({expected})" if expected else ""
    return f"{_display(file)}: {json_path(path)}: bad value {what}: {reason}{hint}"


def _fill_defaults(instance: Any, schema: Mapping[str, Any], registry: Registry) -> None:
    """Set the schema's `default` for every absent property, recursively (objects only)."""
    schema = _deref(schema, registry)
    if not isinstance(instance, dict):
        return
    for key, sub in (schema.get("properties") or {}).items():
        sub = _deref(sub, registry)
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, registry)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping):
        for key in set(instance) - set(schema.get("properties") or {}):
            _fill_defaults(instance[key], extra, registry)


def _deref(schema: Mapping[str, Any], registry: Registry) -> Mapping[str, Any]:
    while isinstance(schema, Mapping) and "$ref" in schema:
        schema = registry.resolver().lookup(schema["$ref"]).contents
    return schema


# --- small helpers --------------------------------------------------------------------------

def _walk(node: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Any, Any]]:
    """Yield (path, key, value) for every leaf (non-container value) under `node`."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if isinstance(value, (Mapping, list)) and value:
                yield from _walk(value, (*path, key))
            else:
                yield (*path, key), key, value
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, (Mapping, list)) and value:
                yield from _walk(value, (*path, index))
            else:
                yield (*path, index), index, value


def _set_path(document: Any, path: JsonPath, value: Any) -> None:
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _origin(origins: Mapping[JsonPath, Path], path: JsonPath, leaf: Path) -> Path:
    for cut in range(len(path), 0, -1):
        if path[:cut] in origins:
            return origins[path[:cut]]
    return leaf


def json_path(path: Iterable[Any]) -> str:
    """`$.a.b[2]` for a key path, as JSON Schema error messages and this project's errors name places."""
    out = "$"
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else f".{key}"
    return out


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _profile_name(path: Path, config_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(config_dir.resolve()).with_suffix(""))
    except ValueError:
        return str(path)


def _freeze(node: Any) -> Any:
    if isinstance(node, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in node.items()})
    if isinstance(node, list):
        return tuple(_freeze(v) for v in node)
    return node


def _thaw(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _thaw(v) for k, v in node.items()}
    if isinstance(node, tuple):
        return [_thaw(v) for v in node]
    return node
