"""Risk stage, "who has more skin in the game": dollars at risk of out-of-the-money option holders,
battle zones near the price, and dealer gamma exposure with the level where it changes sign.

Reads the expirations the profile names (none named = the front one). Per strike:
- dollars at risk = open interest x mark x multiplier of the OTM holders: calls struck above F,
  puts struck below F (a strike exactly at F has no OTM holder);
- gamma exposure GEX = sum of gamma x OI x multiplier x F^2 x 0.01, calls +, puts - (dollars per
  1% move; `gamma` comes from the greeks stage, hence `requires`).
Contracts whose OI, mark or gamma is missing are left out of the sums and counted in the summary.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .pipeline import AnalysisContext, PipelineAnalysis
from .stage_tools import json_list, json_records, json_value, parse_expirations, select_expirations
from ..errors import ConfigError

log = logging.getLogger(__name__)

VERDICT_CALL = "STRONG_CALL_DOMINANCE (upward pressure)"
VERDICT_PUT = "STRONG_PUT_DOMINANCE (downward pressure)"
VERDICT_BALANCED = "BALANCED"
VERDICT_NO_DATA = "NO_DATA"
ZONE_IMMEDIATE, ZONE_NEAR, ZONE_MEDIUM, ZONE_DISTANT = "IMMEDIATE", "NEAR", "MEDIUM", "DISTANT"
GEX_PER_PERCENT = 0.01  # GEX is quoted in dollars per 1% move of the underlying
_COLUMNS = ("expiration", "strike", "right", "open_interest", "mark", "gamma")  # what the stage reads


@dataclass(frozen=True, kw_only=True)
class ZoneDistances:
    """Zone limits in index points from the underlying (`pipeline.risk.zone_distances`)."""

    immediate: float = 10
    near: float = 25
    medium: float = 50


@dataclass(frozen=True, kw_only=True)
class ZoneUrgency:
    """Danger multiplier per zone (`pipeline.risk.urgency`)."""

    immediate: float = 3.0
    near: float = 2.0
    medium: float = 1.0
    distant: float = 0.5


@dataclass(frozen=True, kw_only=True)
class RiskConfig:
    """`pipeline.risk` (config/schema/stage.risk.schema.json)."""

    expirations: tuple[str, ...] = ()
    strong_call_ratio: float = 2.0
    strong_put_ratio: float = 0.5
    zone_distances: ZoneDistances = field(default_factory=ZoneDistances)
    urgency: ZoneUrgency = field(default_factory=ZoneUrgency)
    top_zones: int = 5
    min_dollars_at_risk: float = 0

    def __post_init__(self) -> None:
        parse_expirations(self.expirations, "pipeline.risk.expirations")
        if not self.strong_put_ratio < self.strong_call_ratio:
            raise ConfigError(f"`pipeline.risk.strong_put_ratio` ({self.strong_put_ratio:g}) must be below "
                              f"`pipeline.risk.strong_call_ratio` ({self.strong_call_ratio:g})")
        d = self.zone_distances
        if not d.immediate <= d.near <= d.medium:
            raise ConfigError(f"`pipeline.risk.zone_distances`: immediate <= near <= medium expected, got "
                              f"{d.immediate:g}, {d.near:g}, {d.medium:g}")


class RiskAnalysis(PipelineAnalysis):
    """Candidates are battle zones (strikes with dollars at risk), ranked by danger =
    dollars x zone urgency; the summary carries the call/put verdict, GEX, the zero-gamma level and
    per-strike arrays for the report's charts."""

    name: ClassVar[str] = "risk"
    config_class: ClassVar[type] = RiskConfig
    requires: ClassVar[tuple[str, ...]] = ("greeks",)
    config: RiskConfig

    def candidates(self, chain: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        table = strike_table(self._rows(chain, ctx)[0], ctx)
        dollars = table["call_dollars_at_risk"].fillna(0.0) + table["put_dollars_at_risk"].fillna(0.0)
        zones = table[dollars > 0]
        dollars = dollars[dollars > 0].to_numpy()
        strikes = zones.index.to_numpy(dtype=np.float64)
        distance = np.abs(strikes - ctx.underlying_price)
        d, u = self.config.zone_distances, self.config.urgency
        near_enough = [distance <= d.immediate, distance <= d.near, distance <= d.medium]
        zone = np.select(near_enough, [ZONE_IMMEDIATE, ZONE_NEAR, ZONE_MEDIUM], ZONE_DISTANT)
        urgency = np.select(near_enough, [u.immediate, u.near, u.medium], u.distant)
        return pd.DataFrame({
            "strike": strikes,
            "side": np.where(strikes > ctx.underlying_price, "CALL", "PUT"),
            "distance": distance,
            "zone": zone,
            "urgency": urgency,
            "dollars_at_risk": dollars,
            "danger": dollars * urgency,
            "call_oi": zones["call_oi"].to_numpy(),
            "put_oi": zones["put_oi"].to_numpy(),
            "gex": zones["gex"].to_numpy(),
        })

    def filter_reasons(self, candidates: pd.DataFrame, ctx: AnalysisContext) -> pd.Series:
        floor = self.config.min_dollars_at_risk
        small = candidates["dollars_at_risk"] < floor
        reasons = np.where(small, f"dollars at risk below min_dollars_at_risk (${floor:,.0f})", "")
        return pd.Series(reasons, index=candidates.index, dtype="str")

    def sort(self, kept: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        return kept.sort_values(["danger", "distance", "strike"], ascending=[False, True, True], kind="stable")

    def summarize(self, chain: pd.DataFrame, kept: pd.DataFrame, ctx: AnalysisContext) -> dict[str, Any]:
        rows, used, missing = self._rows(chain, ctx)
        table = strike_table(rows, ctx)
        call_total = _side_total(table["call_dollars_at_risk"], table["otm_calls"])
        put_total = _side_total(table["put_dollars_at_risk"], table["otm_puts"])
        ratio, verdict, ratio_note = call_put_verdict(call_total, put_total, self.config)
        level, crossings, level_note = zero_gamma_level(table.index.to_numpy(dtype=np.float64),
                                                        table["gex"].to_numpy(), ctx.underlying_price)
        otm = _otm_mask(rows, ctx.underlying_price)
        return {
            "underlying_price": json_value(ctx.underlying_price),
            "expirations": json_list(used),
            "missing_expirations": json_list(missing),
            "call_dollars_at_risk": json_value(call_total),
            "put_dollars_at_risk": json_value(put_total),
            "call_put_ratio": json_value(ratio),
            "ratio_note": ratio_note,
            "verdict": verdict,
            "zones": int(len(kept)),
            "top_zones": json_records(kept.head(self.config.top_zones)),
            "total_gex": json_value(table["gex"].sum(min_count=1)),
            "zero_gamma_level": json_value(level),
            "zero_gamma_crossings": json_list(crossings),
            "zero_gamma_note": level_note,
            "otm_contracts_missing_oi_or_mark": int((otm & (rows["open_interest"].isna()
                                                            | rows["mark"].isna())).sum()),
            "contracts_missing_gamma_or_oi": int((rows["gamma"].isna() | rows["open_interest"].isna()).sum()),
            "by_strike": {
                "strike": json_list(table.index),
                "call_oi": json_list(table["call_oi"]),
                "put_oi": json_list(table["put_oi"]),
                "call_dollars_at_risk": json_list(table["call_dollars_at_risk"]),
                "put_dollars_at_risk": json_list(table["put_dollars_at_risk"]),
                "gex": json_list(table["gex"]),
            },
        }

    def _rows(self, chain: pd.DataFrame, ctx: AnalysisContext
              ) -> tuple[pd.DataFrame, list[pd.Timestamp], list[pd.Timestamp]]:
        wanted = parse_expirations(self.config.expirations, "pipeline.risk.expirations")
        rows, used, missing = select_expirations(chain, wanted, ctx.front_expiration, _COLUMNS)
        if missing:
            log.warning("risk: expirations %s not in the chain", [m.date().isoformat() for m in missing])
        return rows, used, missing


def strike_table(rows: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
    """Per strike (ascending): call/put OI, OTM call/put dollars at risk, GEX, and how many OTM
    call/put contracts the strike has (`otm_calls`, `otm_puts`).

    Dollars at risk are 0 where that right is in the money (no OTM holder) and NaN where OTM
    contracts exist but none has both OI and mark; sums skip missing contracts.
    """
    forward, multiplier = ctx.underlying_price, ctx.multiplier
    is_call = (rows["right"] == "C").to_numpy()
    is_put = (rows["right"] == "P").to_numpy()
    strike = rows["strike"].to_numpy(dtype=np.float64)
    oi = rows["open_interest"].to_numpy(dtype=np.float64)
    dollars = oi * rows["mark"].to_numpy(dtype=np.float64) * multiplier
    otm_call, otm_put = is_call & (strike > forward), is_put & (strike < forward)
    sign = np.where(is_call, 1.0, np.where(is_put, -1.0, np.nan))
    gex = sign * rows["gamma"].to_numpy(dtype=np.float64) * oi * multiplier * forward ** 2 * GEX_PER_PERCENT
    parts = pd.DataFrame({
        "strike": strike,
        "call_oi": np.where(is_call, oi, np.nan),
        "put_oi": np.where(is_put, oi, np.nan),
        "call_dollars_at_risk": np.where(otm_call, dollars, np.nan),
        "put_dollars_at_risk": np.where(otm_put, dollars, np.nan),
        "otm_calls": otm_call.astype(np.float64),
        "otm_puts": otm_put.astype(np.float64),
        "gex": gex,
    })
    table = parts.groupby("strike", sort=True).sum(min_count=1)
    table["call_dollars_at_risk"] = table["call_dollars_at_risk"].where(table["otm_calls"] > 0, 0.0)
    table["put_dollars_at_risk"] = table["put_dollars_at_risk"].where(table["otm_puts"] > 0, 0.0)
    return table


def call_put_verdict(call_total: float, put_total: float, config: RiskConfig) -> tuple[float, str, str]:
    """(call/put ratio, verdict, note). No put dollars: the ratio is infinite and calls dominate."""
    if np.isnan(call_total) or np.isnan(put_total):
        side = "calls" if np.isnan(call_total) else "puts"
        return float("nan"), VERDICT_NO_DATA, f"OI or mark missing for every OTM contract of the {side}"
    if put_total == 0 and call_total == 0:
        return float("nan"), VERDICT_NO_DATA, "no dollars at risk on either side"
    ratio = float("inf") if put_total == 0 else call_total / put_total
    note = "no put dollars at risk: the ratio is infinite" if put_total == 0 else ""
    if ratio > config.strong_call_ratio:
        return ratio, VERDICT_CALL, note
    if ratio < config.strong_put_ratio:
        return ratio, VERDICT_PUT, note
    return ratio, VERDICT_BALANCED, note


def zero_gamma_level(strikes: np.ndarray, gex: np.ndarray, forward: float) -> tuple[float, list[float], str]:
    """Where cumulative GEX (summed over strikes upwards) changes sign, linear between the two
    strikes around the change; the crossing nearest F when there are several. NaN with a note if
    it never changes sign. Strikes without a GEX figure are skipped."""
    known = ~np.isnan(gex)
    if not known.any():
        return float("nan"), [], "no gamma exposure: no contract has both gamma and open interest"
    k, cumulative = strikes[known], np.cumsum(gex[known])
    nonzero = np.flatnonzero(cumulative != 0)
    signs = np.sign(cumulative[nonzero])
    flips = np.flatnonzero(signs[:-1] != signs[1:])
    if flips.size == 0:
        sign = "positive" if signs.size and signs[-1] > 0 else "negative" if signs.size else "zero"
        return float("nan"), [], f"cumulative GEX never changes sign (stays {sign} across the strikes)"
    i, j = nonzero[flips], nonzero[flips + 1]
    adjacent = j == i + 1  # else the sum sits at exactly zero on the strikes between: the level is the first
    before, after = cumulative[i], cumulative[j]
    levels = np.where(adjacent, k[i] + (k[j] - k[i]) * before / (before - after), k[np.minimum(i + 1, j)])
    nearest = float(levels[np.argmin(np.abs(levels - forward))])
    return nearest, [float(v) for v in levels], ""


def _otm_mask(rows: pd.DataFrame, forward: float) -> pd.Series:
    return ((rows["right"] == "C") & (rows["strike"] > forward)) | ((rows["right"] == "P") & (rows["strike"] < forward))


def _side_total(per_strike: pd.Series, otm_contracts: pd.Series) -> float:
    """One side's dollars at risk: 0 when it has no OTM contract, NaN when none of them has data."""
    has = otm_contracts > 0
    if not has.any():
        return 0.0
    return float(per_strike[has].sum(min_count=1))
