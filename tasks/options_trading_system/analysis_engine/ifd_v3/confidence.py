"""The IFD v3.0 confidence score: five components in [0, 1], weighted, weights summing to 1.

    confidence = (w_sig * significance + w_per * persistence + w_tre * trend
                  + w_con * concentration + w_ano * anomaly) * (1 - discount if straddle-like)

- significance = clamp((pressure_ratio - 0.5) / (full_pressure_ratio - 0.5)): how one-sided the
  window's aggressor volume is (0.5 balanced -> 0; full_pressure_ratio or more -> 1);
- persistence = slices among the newest `persistence_slices` whose net flow had the window's
  direction, divided by `persistence_slices`: a campaign, not one print;
- trend = clamp(net flow in the newest `trend_slices` slices, in the window's direction, / net
  flow of the window): the flow is arriving now rather than fading;
- concentration = clamp(contract's share of all option aggressor volume in the window /
  full_concentration_share): the flow is aimed at this strike;
- anomaly = quality * (clamp(z / full_z) + clamp((percentile - floor) / (1 - floor))) / 2, with
  z and percentile of |net| against the strike's own baseline and quality = days of history /
  lookback days; 0 when there is no history (stated in the signal).

With every component at 1 and no discount the score is exactly 1.0, so every tier can fire.
docs/ifd_v3.md explains each input with an example.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .config import IFDv3Config, TiersConfig
from .jit import kernel, kernel_inline

LOW = "LOW"


class ConfidenceParams(NamedTuple):
    """The confidence settings as plain numbers for the kernel."""

    w_significance: float
    w_persistence: float
    w_trend: float
    w_concentration: float
    w_anomaly: float
    full_pressure_ratio: float
    persistence_slices: int
    trend_slices: int
    full_concentration_share: float
    full_z: float
    percentile_floor: float


def confidence_params(config: IFDv3Config) -> ConfidenceParams:
    c = config.confidence
    return ConfidenceParams(*c.weights.as_tuple(), float(c.full_pressure_ratio), int(c.persistence_slices),
                            int(c.trend_slices), float(c.full_concentration_share), float(c.full_z),
                            float(c.percentile_floor))


@kernel_inline
def clamp01(x: float) -> float:
    if x != x:  # NaN
        return 0.0
    return min(max(x, 0.0), 1.0)


@kernel
def significance(pressure_ratio: float, full_pressure_ratio: float) -> float:
    return clamp01((pressure_ratio - 0.5) / (full_pressure_ratio - 0.5))


@kernel
def persistence(slices_with_direction: int, persistence_slices: int) -> float:
    return clamp01(slices_with_direction / persistence_slices)


@kernel
def trend(recent_directional_net: float, window_abs_net: float) -> float:
    if window_abs_net <= 0:
        return 0.0
    return clamp01(recent_directional_net / window_abs_net)


@kernel
def concentration(volume: float, market_volume: float, full_share: float) -> float:
    if market_volume <= 0:
        return 0.0
    return clamp01(volume / market_volume / full_share)


@kernel
def anomaly(z: float, pct: float, quality: float, full_z: float, percentile_floor: float) -> float:
    if z != z or pct != pct:
        return 0.0
    z_part = clamp01(z / full_z)
    pct_part = clamp01((pct - percentile_floor) / (1.0 - percentile_floor))
    return clamp01(quality) * 0.5 * (z_part + pct_part)


@kernel
def combine(p: ConfidenceParams, sig: float, per: float, tre: float, con: float, ano: float) -> float:
    """The weighted sum (before any market-making discount)."""
    return (p.w_significance * sig + p.w_persistence * per + p.w_trend * tre
            + p.w_concentration * con + p.w_anomaly * ano)


def tier_of(confidence: np.ndarray | float, tiers: TiersConfig) -> np.ndarray:
    """Tier names for confidences: EXTREME / VERY_HIGH / HIGH / MODERATE at or above their
    thresholds, LOW below."""
    values = np.atleast_1d(np.asarray(confidence, dtype=float))
    names = [name for name, _ in tiers.ordered()]
    conditions = [values >= threshold for _, threshold in tiers.ordered()]
    return np.select(conditions, names, default=LOW).astype(object)
