"""IFD v3.0 settings as frozen dataclasses (schema: config/schema/ifd_v3.schema.json).

Defaults here equal the schema's defaults; the profile is the place to change them. Cross-field
rules the schema cannot express (weights summing to 1, windows made of whole slices) are checked
in `__post_init__` and raise `ConfigError` naming the keys.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from ...data_ingestion.mbo.live_config import LiveConfig
from ...errors import ConfigError

NS_PER_S = 1_000_000_000


@dataclass(frozen=True, kw_only=True)
class WindowConfig:
    """The rolling window: `window_s` long, kept as a ring of `slice_s` slices."""

    window_s: int = 300
    slice_s: int = 10

    @property
    def n_slices(self) -> int:
        return self.window_s // self.slice_s

    def __post_init__(self) -> None:
        if self.slice_s <= 0 or self.window_s % self.slice_s != 0:
            raise ConfigError(f"ifd_v3: `window.window_s` ({self.window_s}) must be a whole number of "
                              f"`window.slice_s` ({self.slice_s})")


@dataclass(frozen=True, kw_only=True)
class BaselineConfig:
    """How much history a strike is compared with."""

    lookback_days: int = 20
    min_std_contracts: float = 1.0


@dataclass(frozen=True, kw_only=True)
class MarketMakingConfig:
    """Straddle-like call and put activity at one strike is discounted."""

    interval_s: int = 300
    min_ratio: float = 0.5
    discount: float = 0.5


@dataclass(frozen=True, kw_only=True)
class WeightsConfig:
    """Weights of the five confidence components; they sum to 1."""

    significance: float = 0.25
    persistence: float = 0.15
    trend: float = 0.10
    concentration: float = 0.15
    anomaly: float = 0.35

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (self.significance, self.persistence, self.trend, self.concentration, self.anomaly)

    def __post_init__(self) -> None:
        total = sum(self.as_tuple())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ConfigError(f"ifd_v3: `confidence.weights` must add up to 1 so a perfect input scores 1.0; "
                              f"they add up to {total:g} ({self})")


@dataclass(frozen=True, kw_only=True)
class ConfidenceConfig:
    """How each component maps its measurement into [0, 1] (see docs/ifd_v3.md)."""

    weights: WeightsConfig = field(default_factory=WeightsConfig)
    full_pressure_ratio: float = 0.85
    persistence_slices: int = 6
    trend_slices: int = 15
    full_concentration_share: float = 0.25
    full_z: float = 4.0
    percentile_floor: float = 0.5


@dataclass(frozen=True, kw_only=True)
class TiersConfig:
    """Confidence tiers, highest first; below `moderate` the tier is LOW."""

    extreme: float = 0.9
    very_high: float = 0.8
    high: float = 0.7
    moderate: float = 0.6

    def ordered(self) -> tuple[tuple[str, float], ...]:
        return (("EXTREME", self.extreme), ("VERY_HIGH", self.very_high), ("HIGH", self.high),
                ("MODERATE", self.moderate))

    def __post_init__(self) -> None:
        values = [v for _, v in self.ordered()]
        if values != sorted(values, reverse=True):
            raise ConfigError(f"ifd_v3: `signals.tiers` must descend extreme >= very_high >= high >= moderate, "
                              f"got {dict(self.ordered())}")


@dataclass(frozen=True, kw_only=True)
class SignalsConfig:
    """When a scored window becomes a signal."""

    min_confidence: float = 0.6
    min_net_contracts: int = 50
    min_notional: float = 100_000.0
    cooldown_s: int = 300
    tiers: TiersConfig = field(default_factory=TiersConfig)


@dataclass(frozen=True, kw_only=True)
class CapacityConfig:
    """Initial table sizes; every table doubles when full."""

    orders: int = 65536
    levels: int = 16384
    instruments: int = 1024
    signals: int = 256


@dataclass(frozen=True, kw_only=True)
class IFDv3Config:
    """Everything the IFD v3.0 engine needs; build it with `ifd_config_from_mapping`."""

    underlying_root: str = "NQ"
    window: WindowConfig = field(default_factory=WindowConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    market_making: MarketMakingConfig = field(default_factory=MarketMakingConfig)
    confidence: ConfidenceConfig = field(default_factory=ConfidenceConfig)
    signals: SignalsConfig = field(default_factory=SignalsConfig)
    capacity: CapacityConfig = field(default_factory=CapacityConfig)
    live: LiveConfig = field(default_factory=LiveConfig)

    def __post_init__(self) -> None:
        n = self.window.n_slices
        mm = self.market_making.interval_s
        if mm % self.window.slice_s != 0 or mm > self.window.window_s:
            raise ConfigError(f"ifd_v3: `market_making.interval_s` ({mm}) must be a multiple of "
                              f"`window.slice_s` ({self.window.slice_s}) and at most `window.window_s` "
                              f"({self.window.window_s})")
        for key, value in (("persistence_slices", self.confidence.persistence_slices),
                           ("trend_slices", self.confidence.trend_slices)):
            if value > n:
                raise ConfigError(f"ifd_v3: `confidence.{key}` ({value}) is more than the window's "
                                  f"{n} slices (window_s / slice_s)")


def ifd_config_from_mapping(mapping: Mapping[str, Any] | None) -> IFDv3Config:
    """Frozen config from a validated profile section (absent keys take the defaults)."""
    from ..pipeline import frozen_config

    return frozen_config(IFDv3Config, mapping or {})
