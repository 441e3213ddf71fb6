"""The signal-source interface, the idea table every source returns, and the registry.

A signal is: id, time, algorithm, instrument, direction, entry reference, target, stop,
confidence, expected value, and the data it came from. A source fills the trade idea (direction,
levels, confidence, expected value, evidence); the orchestrator stamps the rest.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import pandas as pd

from ....config_manager import Profile, validate_document
from ....data_ingestion.canonical import OptionsChain
from ....errors import ConfigError
from ...greeks import GreeksConfig
from ...pipeline import frozen_config
from ..feeds.snapshot_store import GreeksTable
from ..shadow_config import SignalSourceConfig, thaw

#: columns of the table a source returns (one row per trade idea)
SIGNAL_IDEA_COLUMNS: dict[str, str] = {
    "contract": "object",          # the option behind the idea, if any
    "strike": "float64",
    "option_right": "object",      # 'C' / 'P' / None
    "direction": "object",         # LONG / SHORT
    "target": "float64",           # index points of the underlying future
    "stop": "float64",
    "confidence": "float64",       # 0..1, the algorithm's own scale (see each source)
    "tier": "object",
    "expected_value_points": "float64",
    "evidence": "object",          # dict: the figures the idea came from
}

SIGNAL_SOURCE_CLASSES: dict[str, str] = {
    "ifd_v1": "tasks.options_trading_system.analysis_engine.strategies.signals.ifd_v1_source:IfdV1SignalSource",
    "ev": "tasks.options_trading_system.analysis_engine.strategies.signals.ev_source:EvSignalSource",
    "ifd_v3": "tasks.options_trading_system.analysis_engine.strategies.signals.ifd_v3_source:IfdV3SignalSource",
}


@dataclass(frozen=True)
class SignalInput:
    """One market event as the sources see it."""

    time: pd.Timestamp
    price: float                          # market price at decision time (the entry reference)
    chain: OptionsChain | None = None     # validated snapshot (chain events)
    greeks: GreeksTable | None = None     # that snapshot's greeks, computed once by the feed (replay)
    interval_chain: pd.DataFrame | None = None  # that snapshot with `volume` = volume since the previous one
    mbo_signals: pd.DataFrame | None = None     # what the IFD v3 engine emitted at this time (mbo events)


class SignalSource(ABC):
    """Turns market events into trade ideas. `event_kind` says which events it reads."""

    algorithm: ClassVar[str]
    event_kind: ClassVar[str]

    def __init__(self, name: str, *, trade: bool = True) -> None:
        self.name = name
        self.trade = trade

    @property
    def greeks_config(self) -> GreeksConfig | None:
        """The greeks settings this source reads, for a feed that computes them once per snapshot
        (`SignalInput.greeks`); None when it reads no greeks."""
        return None

    def settings_identity(self) -> str | None:
        """Everything besides its input that decides this source's ideas, as text (a replay's day
        cache keys on it); None when the source cannot say, and its days are then never cached."""
        return None

    @classmethod
    @abstractmethod
    def from_profile(cls, source: SignalSourceConfig, profile: Profile, shadow: Any) -> "SignalSource":
        """Build from the profile (its algorithm's section) and the source's overrides."""

    @abstractmethod
    def generate(self, event: SignalInput) -> pd.DataFrame:
        """Trade ideas for this event (`SIGNAL_IDEA_COLUMNS`; empty when there is none)."""


_EMPTY_IDEAS = pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in SIGNAL_IDEA_COLUMNS.items()})


def empty_ideas() -> pd.DataFrame:
    """A zero-row idea table (a copy: the caller may add columns)."""
    return _EMPTY_IDEAS.copy()


def source_class(algorithm: str) -> type[SignalSource]:
    target = SIGNAL_SOURCE_CLASSES.get(algorithm)
    if target is None:
        raise ConfigError(f"unknown signal algorithm {algorithm!r} "
                          f"(expected one of: {', '.join(sorted(SIGNAL_SOURCE_CLASSES))})")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_signal_sources(profile: Profile, shadow: Any) -> list[SignalSource]:
    """The profile's signal sources, in order (config errors surface here, before any data)."""
    return [source_class(s.algorithm).from_profile(s, profile, shadow) for s in shadow.signals.sources]


def stage_settings(profile: Profile, stage: str, schema_file: str, source: SignalSourceConfig,
                   config_class: type) -> Any:
    """The profile's `pipeline.<stage>` section with the source's overrides on top, validated
    against the stage's schema and frozen into its config class."""
    merged = _deep_merge(thaw(profile.section("pipeline", stage)), thaw(source.settings))
    try:
        validate_document(merged, schema_file, source=profile.path)
    except ConfigError as exc:
        raise ConfigError(f"`shadow_trading.signals.sources` {source.name!r} settings: {exc}") from exc
    return frozen_config(config_class, merged)


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value
    return base


def ideas_frame(rows: Mapping[str, Sequence[Any]] | pd.DataFrame) -> pd.DataFrame:
    """Coerce a source's columns to `SIGNAL_IDEA_COLUMNS` (absent columns empty / NaN), by
    position, in one frame construction (a column-by-column build costs more than the ideas)."""
    given = {name: (values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else values)
             for name, values in (rows.items() if not isinstance(rows, pd.DataFrame)
                                  else ((c, rows[c]) for c in rows.columns))}
    lengths = {len(v) for v in given.values()}
    if len(lengths) > 1:
        raise ValueError(f"idea columns of different lengths: {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    data: dict[str, Any] = {}
    for name, dtype in SIGNAL_IDEA_COLUMNS.items():
        values = given.get(name)
        if dtype == "float64":
            data[name] = np.full(n, np.nan) if values is None else np.asarray(values, dtype="float64")
        else:
            data[name] = pd.Series(_objects(values, n), dtype=object, copy=False)
    return pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)


def _objects(values: Any, n: int) -> np.ndarray:
    """A text-or-anything column as plain Python objects, its gaps as pandas reads them: an absent
    column, or text with gaps, or gaps that include a NaN, as NaN; a column of None stays None;
    anything else is kept as given."""
    column = np.empty(n, dtype=object)
    if values is None:
        column[:] = np.nan
        return column
    items = list(values)
    gaps = [v is None or (isinstance(v, float) and np.isnan(v)) for v in items]
    present = [v for v, gap in zip(items, gaps) if not gap]
    if any(gaps) and (all(isinstance(v, str) for v in present) if present
                      else any(v is not None for v in items)):
        items = [np.nan if gap else v for v, gap in zip(items, gaps)]
    column[:] = items
    return column
