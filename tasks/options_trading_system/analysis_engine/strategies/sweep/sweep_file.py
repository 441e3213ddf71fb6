"""Reading a sweep file: JSON, checked against `config/schema/sweep.schema.json`, frozen.

Any mistake is a `ConfigError` naming the file and the JSON path (`$.grid`, `$.variants[2].name`),
raised before anything runs. The checks a schema cannot express are made here: exactly one of
`variants` and `grid`, unique variant names, grid paths that do not nest inside one another.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ....config_manager import json_path, load_json_file, validate_document
from ....errors import ConfigError

SWEEP_SCHEMA = "sweep.schema.json"
#: what a sweep id may look like (it names folders and runs); the schema's `id` pattern
SWEEP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=+-]{0,63}$")


@dataclass(frozen=True)
class SweepFile:
    """A validated sweep file. `variants` holds the explicit list (name, overrides, description);
    `grid` the dotted path -> values mapping; exactly one of them is non-empty."""

    path: Path
    sweep_id: str
    profile: str
    description: str
    days: int | None
    start: date | None
    runner: str
    rank_by: str
    variants: tuple[Mapping[str, Any], ...]
    grid: Mapping[str, tuple[Any, ...]]

    @property
    def kind(self) -> str:
        return "grid" if self.grid else "variants"


def load_sweep_file(path: Path) -> SweepFile:
    """Read and check `path`; `ConfigError` (exit 2) naming the file and JSON path on any problem."""
    path = Path(path)
    document = load_json_file(path)
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: $: expected a JSON object (a sweep), got {type(document).__name__}")
    validate_document(document, SWEEP_SCHEMA, source=path)
    has_variants, has_grid = "variants" in document, "grid" in document
    if has_variants == has_grid:
        where = "$.grid" if has_grid else "$"
        raise ConfigError(f"{path}: {where}: give either `variants` (a list of named overrides) or `grid` "
                          f"(settings to lists of values), {'not both' if has_grid else 'one of them'}")
    variants = tuple(document.get("variants", ()))
    seen: dict[str, int] = {}
    for index, variant in enumerate(variants):
        name = variant["name"]
        if name in seen:
            raise ConfigError(f"{path}: {json_path(('variants', index, 'name'))}: variant name {name!r} is also "
                              f"used by $.variants[{seen[name]}]; names must be unique (they name the runs)")
        seen[name] = index
    grid = document.get("grid", {})
    keys = sorted(grid)
    for shorter, longer in zip(keys, keys[1:]):
        if longer.startswith(shorter + "."):
            raise ConfigError(f"{path}: $.grid.{longer}: lies inside $.grid.{shorter}; a grid setting cannot be "
                              f"varied together with the object that contains it")
    start = document.get("start")
    try:
        start_date = date.fromisoformat(start) if start else None
    except ValueError as exc:
        raise ConfigError(f"{path}: $.start: bad value {start!r}: not a date ({exc})") from exc
    sweep_id = str(document.get("id") or path.stem)
    if not SWEEP_ID.match(sweep_id):
        raise ConfigError(f"{path}: $.id: the file name {path.stem!r} cannot be a sweep id (it names runs and "
                          f"folders: letters, digits, _ . = + -); give the sweep an `id`")
    return SweepFile(
        path=path, sweep_id=sweep_id, profile=str(document["profile"]),
        description=str(document.get("description", "")), days=document.get("days"), start=start_date,
        runner=str(document["runner"]), rank_by=str(document["rank_by"]),
        variants=tuple(MappingProxyType(copy.deepcopy(v)) for v in variants),
        grid=MappingProxyType({k: tuple(v) for k, v in grid.items()}))
