"""A sweep file's variants: the explicit list as written, or a grid's cartesian product.

A grid variant is named after its settings, `<setting>=<value>` joined by `+`, the setting being
the last part of its dotted path (`min_score=0.5+cooldown_minutes=15`), or the whole path when
two grid paths end alike. Its overrides are the dotted paths turned into a partial profile
(`{"shadow_trading": {"validation": {"min_score": 0.5}}}`), deep-merged over the base profile the
way `extends` merges. Combinations run in the grid's order, the last setting varying fastest.
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ....config_manager import json_path
from ....errors import ConfigError
from .sweep_file import SweepFile

#: a variant's name (it names a run and files); the schema's `variants[].name` pattern
VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]{0,79}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Variant:
    """One variant: its name, the profile settings it changes, and for a grid the setting values
    (dotted path -> value) that made it. `where` is the sweep file's JSON path it came from."""

    name: str
    overrides: Mapping[str, Any]
    parameters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    description: str = ""
    where: str = "$"


def expand(sweep: SweepFile) -> tuple[Variant, ...]:
    """Every variant of `sweep`, in run order."""
    if not sweep.grid:
        return tuple(Variant(name=str(v["name"]), overrides=MappingProxyType(dict(v["overrides"])),
                             description=str(v.get("description", "")), where=json_path(("variants", i)))
                     for i, v in enumerate(sweep.variants))
    paths = list(sweep.grid)
    labels = setting_labels(paths)
    out: list[Variant] = []
    names: dict[str, dict[str, Any]] = {}
    for values in itertools.product(*(sweep.grid[p] for p in paths)):
        parameters = dict(zip(paths, values))
        name = "+".join(f"{labels[p]}={value_label(v)}" for p, v in parameters.items())
        if not VARIANT_NAME.match(name):
            raise ConfigError(f"{sweep.path}: $.grid: the variant name {name!r} made from the grid is too long or "
                              f"has characters a run id cannot have; list the variants explicitly under `variants`")
        if name in names:
            raise ConfigError(f"{sweep.path}: $.grid: {parameters} and {names[name]} both name a variant {name!r}; "
                              f"give the values distinct spellings or list the variants explicitly")
        names[name] = parameters
        out.append(Variant(name=name, overrides=MappingProxyType(nested(parameters)),
                           parameters=MappingProxyType(parameters), where="$.grid"))
    return tuple(out)


def setting_labels(paths: list[str]) -> dict[str, str]:
    """The short label of each dotted path: its last part, or the whole path when not unique."""
    last = [p.rsplit(".", 1)[-1] for p in paths]
    return {p: (tail if last.count(tail) == 1 else p) for p, tail in zip(paths, last)}


def value_label(value: Any) -> str:
    """A grid value as it appears in a variant name (JSON spelling; unsafe characters as `_`)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return _UNSAFE.sub("_", str(value))


def nested(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted paths to a partial profile: {"a.b.c": 1, "a.d": 2} -> {"a": {"b": {"c": 1}, "d": 2}}."""
    out: dict[str, Any] = {}
    for path, value in parameters.items():
        node = out
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return out
