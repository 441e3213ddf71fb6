"""Turning a vendor's (schema-validated) profile section into its frozen settings object.

The JSON Schema (`config/schema/source.<vendor>.schema.json`) documents every setting and fills
its default; the dataclass mirrors it so code reads typed attributes, never raw dicts. Lists
become tuples (hashable, immutable); a key the dataclass does not know is a `ConfigError`, which
catches a schema and a dataclass drifting apart.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, TypeVar

from ..errors import ConfigError

C = TypeVar("C")


def config_from_section(cls: type[C], section: Mapping[str, Any] | None, *, where: str) -> C:
    """Build `cls` from `section`; absent keys keep the dataclass default."""
    section = dict(section or {})
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {unknown} (expected some of: {', '.join(sorted(known))})")
    values = {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in section.items()}
    return cls(**values)
