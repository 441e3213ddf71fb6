"""Risk stage, "who has more skin in the game": dollars at risk of out-of-the-money option holders,
battle zones near the price, and dealer gamma exposure with the level where it changes sign.

Reads the expirations the profile names (none named = the front one). Per strike:
- dollars at risk = open interest x mark x multiplier of the OTM holders: calls struck above F,
  puts struck below F (a strike exactly at F has no OTM holder);
- gamma exposure GEX = sum of gamma x OI x multiplier x F^2 x 0.01, calls +, puts - (dollars per
  1% move; `gamma` comes from the greeks stage, hence `requires`).
The zero-gamma level is found by re-pricing (`gamma_exposure`): total dealer GEX at a grid of
hypothetical underlying prices (`gamma_grid_span` either side of F in `gamma_grid_step` steps),
every contract's gamma re-priced there with its own IV and time to expiry; the sign change nearest
F is the level. A contract without an IV of its own takes its expiration's smile at its strike
(deep ITM quotes carry no time value to solve); one without either is left out and counted. The
per-strike cumulative crossing (where GEX summed over strikes upwards changes sign) is kept as a
secondary, weaker figure, `cumulative_gex_crossing`.
Contracts whose OI, mark or gamma is missing are left out of the sums and counted in the summary.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from . import kernels
from .gamma_exposure import GEX_PER_PERCENT, ZeroGamma, price_grid, sign_changes, total_gex
from .greeks import smile_iv, smile_part, strike_smile
from .pipeline import AnalysisContext, PipelineAnalysis, count_codes, run_tables
from .stage_tools import (category_dtype, fast_frame, fast_json_list, fast_json_lists, json_records, json_value,
                          parse_expirations, reason_series, table_records)
from ..errors import ConfigError

log = logging.getLogger(__name__)

VERDICT_CALL = "STRONG_CALL_DOMINANCE (upward pressure)"
VERDICT_PUT = "STRONG_PUT_DOMINANCE (downward pressure)"
VERDICT_BALANCED = "BALANCED"
VERDICT_NO_DATA = "NO_DATA"
ZONE_IMMEDIATE, ZONE_NEAR, ZONE_MEDIUM, ZONE_DISTANT = "IMMEDIATE", "NEAR", "MEDIUM", "DISTANT"
ZONES = (ZONE_IMMEDIATE, ZONE_NEAR, ZONE_MEDIUM, ZONE_DISTANT)
SIGMA_UNAVAILABLE = "no ATM IV for the expiration (see the greeks summary): no one-sigma move"


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
    gamma_grid_span: float = 0.10   # re-pricing grid: this fraction of F either side (0.10 = +/-10%)
    gamma_grid_step: float = 0.001  # grid step as a fraction of F (0.001 = 0.1%)

    def __post_init__(self) -> None:
        parse_expirations(self.expirations, "pipeline.risk.expirations")
        if not 0 < self.gamma_grid_step <= self.gamma_grid_span < 1:
            raise ConfigError(f"`pipeline.risk.gamma_grid_step` ({self.gamma_grid_step:g}) must be positive and at "
                              f"most `pipeline.risk.gamma_grid_span` ({self.gamma_grid_span:g}), itself below 1")
        if not self.strong_put_ratio < self.strong_call_ratio:
            raise ConfigError(f"`pipeline.risk.strong_put_ratio` ({self.strong_put_ratio:g}) must be below "
                              f"`pipeline.risk.strong_call_ratio` ({self.strong_call_ratio:g})")
        d = self.zone_distances
        if not d.immediate <= d.near <= d.medium:
            raise ConfigError(f"`pipeline.risk.zone_distances`: immediate <= near <= medium expected, got "
                              f"{d.immediate:g}, {d.near:g}, {d.medium:g}")


@dataclass(frozen=True)
class StrikeTable:
    """Per strike (ascending) of the stage's rows: call/put OI, OTM call/put dollars at risk, GEX, how
    many OTM call/put contracts the strike has. Dollars at risk are 0 where that right is in the
    money (no OTM holder) and NaN where OTM contracts exist but none has both OI and mark."""

    strike: np.ndarray
    call_oi: np.ndarray
    put_oi: np.ndarray
    call_dollars_at_risk: np.ndarray
    put_dollars_at_risk: np.ndarray
    otm_calls: np.ndarray
    otm_puts: np.ndarray
    gex: np.ndarray


@dataclass(frozen=True)
class GammaProfile:
    """Total dealer GEX re-priced at each grid price, the level where it changes sign, and which
    contracts went into it."""

    prices: np.ndarray
    total_gex: np.ndarray
    zero_gamma: ZeroGamma
    contracts: int
    iv_from_smile: int
    left_out: int


@dataclass(frozen=True)
class RiskTables:
    """The risk stage's per-run work (`prepare`), shared by candidates and summarize."""

    used: list[pd.Timestamp]
    missing: list[pd.Timestamp]
    table: StrikeTable
    otm_missing_oi_or_mark: int
    missing_gamma_or_oi: int
    profile: GammaProfile
    one_sigma: dict[str, Any]
    held: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # select's kept table, columns


class RiskAnalysis(PipelineAnalysis):
    """Candidates are battle zones (strikes with dollars at risk), ranked by danger =
    dollars x zone urgency; the summary carries the call/put verdict, GEX, the re-priced zero-gamma
    level with its GEX-by-price curve, and per-strike arrays for the report's charts."""

    name: ClassVar[str] = "risk"
    config_class: ClassVar[type] = RiskConfig
    requires: ClassVar[tuple[str, ...]] = ("greeks",)
    select_ranks: ClassVar[bool] = True  # the zones come ranked from `_columns`
    config: RiskConfig

    def prepare(self, chain: pd.DataFrame, ctx: AnalysisContext) -> RiskTables:
        cfg = self.config
        tables = run_tables(chain, ctx)
        wanted = parse_expirations(cfg.expirations, "pipeline.risk.expirations")
        selection = tables.select(wanted, ctx.front_expiration)
        if selection.missing:
            log.warning("risk: expirations %s not in the chain", [m.date().isoformat() for m in selection.missing])
        rows = selection.positions
        forward = ctx.underlying_price
        is_call, is_put = tables.is_call[rows], tables.is_put[rows]
        strike = tables.strike[rows]
        oi = tables.quoted(chain, "open_interest")[rows]
        mark = tables.quoted(chain, "mark")[rows]
        column = {name: tables.floats(chain, name)[rows]  # the greeks stage's columns, as arrays
                  for name in ("gamma", "iv", "years_to_expiry", "discount", "atm_iv")}
        gamma = column["gamma"]
        otm = (is_call & (strike > forward)) | (is_put & (strike < forward))
        table = strike_table(strike, is_call, is_put, oi, mark, gamma, forward, ctx.multiplier)
        shared = tables.smile  # the greeks stage's smile, when it is of these IVs
        smile = shared[1] if shared is not None and shared[0] is tables.floats(chain, "iv") else None
        profile = gamma_profile(column["iv"], column["years_to_expiry"], column["discount"], tables.expiration[rows],
                                strike, is_call, is_put, oi, forward, ctx.multiplier, cfg, smile=smile)
        return RiskTables(
            used=selection.used, missing=selection.missing, table=table,
            otm_missing_oi_or_mark=int((otm & (np.isnan(oi) | np.isnan(mark))).sum()),
            missing_gamma_or_oi=int((np.isnan(gamma) | np.isnan(oi)).sum()),
            profile=profile, one_sigma=one_sigma_move(column["atm_iv"], column["years_to_expiry"], forward,
                                                             selection.used))

    def candidates(self, chain: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        return pd.DataFrame(self._columns(chain, ctx))

    def filter_reasons(self, candidates: pd.DataFrame, ctx: AnalysisContext) -> pd.Series:
        return reason_series(self._codes(candidates), self._labels(), candidates.index)

    def select(self, chain: pd.DataFrame, ctx: AnalysisContext) -> tuple[pd.DataFrame, int, dict[str, int]]:
        columns = self._columns(chain, ctx)  # the zones' arrays, filtered before the table is built
        keep, dropped = count_codes(self._codes(columns), self._labels())
        if not keep.all():
            rows = np.flatnonzero(keep)
            columns = {name: values[rows] for name, values in columns.items()}
        kept = fast_frame(columns)
        prepared = self.prepared(chain, ctx)
        if isinstance(prepared, RiskTables):
            prepared.held["kept"] = (kept, columns)
        return kept, keep.size, dropped

    def _codes(self, columns: Any) -> np.ndarray:
        """1 where the zone's dollars at risk are below the floor, else 0 (a code into `_labels`)."""
        return (np.asarray(columns["dollars_at_risk"]) < self.config.min_dollars_at_risk).astype(np.int64)

    def _labels(self) -> tuple[str, str]:
        return "", f"dollars at risk below min_dollars_at_risk (${self.config.min_dollars_at_risk:,.0f})"

    def _columns(self, chain: pd.DataFrame, ctx: AnalysisContext) -> dict[str, Any]:
        """The battle zones' columns (strikes with dollars at risk), ranked by danger, distance, strike."""
        table = self.prepared(chain, ctx).table
        d, u = self.config.zone_distances, self.config.urgency
        # the strikes with dollars at risk, ranked (one compiled pass; `sort` keeps this order)
        rows, distance, zone, urgency, dollars, danger = kernels.battle_zones(
            table.strike, table.call_dollars_at_risk, table.put_dollars_at_risk, float(ctx.underlying_price),
            np.array([d.immediate, d.near, d.medium], dtype=np.float64),
            np.array([u.immediate, u.near, u.medium], dtype=np.float64), float(u.distant))
        strikes = table.strike[rows]
        kind = np.result_type(u.immediate, u.near, u.medium, u.distant)  # select_first's dtype of the urgencies
        if urgency.dtype != kind:
            urgency = urgency.astype(kind)
        return {
            "strike": strikes,
            "side": pd.Categorical.from_codes(np.where(strikes > ctx.underlying_price, 0, 1),
                                              dtype=category_dtype(("CALL", "PUT")), validate=False),
            "distance": distance,
            "zone": pd.Categorical.from_codes(zone, dtype=category_dtype(ZONES), validate=False),
            "urgency": urgency,
            "dollars_at_risk": dollars,
            "danger": danger,
            "call_oi": table.call_oi[rows],
            "put_oi": table.put_oi[rows],
            "gex": table.gex[rows],
        }

    def sort(self, kept: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        """By danger (high first), then distance, then strike: the order `candidates` already made."""
        return kept

    def summarize(self, chain: pd.DataFrame, kept: pd.DataFrame, ctx: AnalysisContext) -> dict[str, Any]:
        cfg = self.config
        prepared: RiskTables = self.prepared(chain, ctx)
        table, profile = prepared.table, prepared.profile
        call_total = _side_total(table.call_dollars_at_risk, table.otm_calls)
        put_total = _side_total(table.put_dollars_at_risk, table.otm_puts)
        ratio, verdict, ratio_note = call_put_verdict(call_total, put_total, cfg)
        cumulative = cumulative_gex_crossing(table.strike, table.gex, ctx.underlying_price)
        zero = profile.zero_gamma
        at_spot = profile.total_gex[np.argmin(np.abs(profile.prices - ctx.underlying_price))] \
            if profile.prices.size and profile.contracts else float("nan")
        known_gex = table.gex[~np.isnan(table.gex)]
        held = prepared.held.get("kept")
        strike_lists = fast_json_lists(table.strike, table.call_oi, table.put_oi, table.call_dollars_at_risk,
                                       table.put_dollars_at_risk, table.gex)
        price_list, gex_list = fast_json_lists(profile.prices, profile.total_gex)
        return {
            "underlying_price": json_value(ctx.underlying_price),
            "expirations": fast_json_list(prepared.used),
            "missing_expirations": fast_json_list(prepared.missing),
            "call_dollars_at_risk": json_value(call_total),
            "put_dollars_at_risk": json_value(put_total),
            "call_put_ratio": json_value(ratio),
            "ratio_note": ratio_note,
            "verdict": verdict,
            "zones": int(len(kept)),
            "top_zones": table_records(held[1], limit=cfg.top_zones) if held is not None and held[0] is kept
            else json_records(kept, limit=cfg.top_zones),
            "total_gex": json_value(known_gex.sum()) if known_gex.size else None,
            "zero_gamma_level": json_value(zero.level),
            "zero_gamma_crossings": fast_json_list(zero.crossings),
            "zero_gamma_note": zero.note,
            "zero_gamma_method": (f"total dealer GEX re-priced at {profile.prices.size} underlying prices "
                                  f"(+/-{cfg.gamma_grid_span * 100:g}% of F in {cfg.gamma_grid_step * 100:g}% steps), each "
                                  f"contract with its own IV and time to expiry; the sign change nearest F"),
            "gex_at_underlying": json_value(at_spot),
            "gex_profile": {"price": price_list, "total_gex": gex_list,
                            "span": cfg.gamma_grid_span, "step": cfg.gamma_grid_step,
                            "contracts": profile.contracts, "iv_from_smile": profile.iv_from_smile,
                            "contracts_left_out": profile.left_out},
            "cumulative_gex_crossing": json_value(cumulative.level),
            "cumulative_gex_crossings": fast_json_list(cumulative.crossings),
            "cumulative_gex_note": cumulative.note,
            "one_sigma": prepared.one_sigma,
            "otm_contracts_missing_oi_or_mark": prepared.otm_missing_oi_or_mark,
            "contracts_missing_gamma_or_oi": prepared.missing_gamma_or_oi,
            "by_strike": dict(zip(("strike", "call_oi", "put_oi", "call_dollars_at_risk", "put_dollars_at_risk", "gex"),
                                  strike_lists)),
        }


def strike_table(strike: np.ndarray, is_call: np.ndarray, is_put: np.ndarray, oi: np.ndarray, mark: np.ndarray,
                 gamma: np.ndarray, forward: float, multiplier: float) -> StrikeTable:
    """The per-strike table (see `StrikeTable`) of some contracts (one entry per contract)."""
    known = ~np.isnan(strike)
    if not known.all():
        strike, is_call, is_put = strike[known], is_call[known], is_put[known]
        oi, mark, gamma = oi[known], mark[known], gamma[known]
    listed, strikes, codes = kernels.sorted_unique(strike)  # strikes already ascending: no sort needed
    if not listed:
        strikes, codes = np.unique(strike, return_inverse=True)
    call_oi, put_oi, call_dollars, put_dollars, otm_calls, otm_puts, gex = kernels.strike_sums(
        codes, strikes.size, strike, is_call, is_put, oi, mark, gamma, forward, multiplier, forward ** 2,
        GEX_PER_PERCENT)
    return StrikeTable(strike=strikes, call_oi=call_oi, put_oi=put_oi, call_dollars_at_risk=call_dollars,
                       put_dollars_at_risk=put_dollars, otm_calls=otm_calls, otm_puts=otm_puts, gex=gex)


def gamma_profile(iv: np.ndarray, years: np.ndarray, discount: np.ndarray, expiration: np.ndarray,
                  strike: np.ndarray, is_call: np.ndarray, is_put: np.ndarray, oi: np.ndarray, forward: float,
                  multiplier: float, config: RiskConfig,
                  smile: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> GammaProfile:
    """Total GEX at the grid prices around `forward` and its zero-gamma level (see the module doc),
    from the contracts' IV, years to expiry and discount (the greeks stage's columns). `smile`: the
    `strike_smile` of a chain holding every row of these contracts' expirations (the greeks stage's),
    read for their expirations only (the same figures as the smile of these rows); None: built here."""
    prices = price_grid(forward, config.gamma_grid_span, config.gamma_grid_step) if forward > 0 else np.array([])
    discount = np.where(np.isnan(discount), 1.0, discount)
    holds = (is_call | is_put) & (oi > 0) & (strike > 0)
    need_smile = holds & np.isnan(iv)
    from_smile = np.zeros(iv.size, dtype=bool)
    if need_smile.any():
        wanted = expiration[need_smile]
        if smile is None:
            smile = strike_smile(expiration, strike, iv, is_call, is_put, forward)
        smile_exp, smile_k = smile[0], smile[1]
        if wanted.dtype.kind == "M" and smile_exp.dtype == wanted.dtype and not np.isnat(wanted).any() \
                and not np.isnat(smile_exp).any() and not np.isnan(smile_k).any():
            # each row reads its own expiration's part of the smile: `smile_iv` in one compiled pass
            filled = kernels.smile_fill(wanted.view(np.int64), np.ascontiguousarray(strike[need_smile]),
                                        smile_exp.view(np.int64), smile_k, smile[2])
        else:
            filled = smile_iv(wanted, strike[need_smile], smile_part(smile, wanted))
        iv = iv.copy()
        iv[need_smile] = filled
        from_smile[need_smile] = ~np.isnan(filled)
    usable = holds & (iv > 0) & (years > 0)
    left_out = int((holds & ~usable).sum())
    if not usable.any() or prices.size == 0:
        why = ("the underlying price is missing" if prices.size == 0 else
               "no contract has open interest, an implied volatility and time to expiry")
        return GammaProfile(prices, np.full(prices.shape, np.nan), ZeroGamma(float("nan"), (), f"no gamma exposure: {why}"),
                            0, 0, left_out)
    signed_oi = np.where(is_call, oi, -oi)[usable]
    totals = total_gex(prices, strike[usable], years[usable], iv[usable], signed_oi, multiplier, discount[usable])
    zero = sign_changes(prices, totals, forward, what="total dealer GEX")
    if np.isnan(zero.level):
        zero = ZeroGamma(zero.level, (), f"none within +/-{config.gamma_grid_span * 100:g}% of the underlying: "
                                         f"{zero.note}")
    return GammaProfile(prices, totals, zero, int(usable.sum()), int((from_smile & usable).sum()), left_out)


def one_sigma_move(atm: np.ndarray, years: np.ndarray, forward: float, used: list[pd.Timestamp]
                   ) -> dict[str, Any]:
    """The one-standard-deviation move to the (earliest) expiration used, F x ATM IV x sqrt(T): what
    the report's charts open on (+/-3 of it around F), from the rows' ATM IV and years to expiry."""
    known = ~np.isnan(atm) & ~np.isnan(years)
    expiration = used[0].date().isoformat() if used else None
    if not known.any() or not forward > 0:
        return {"points": None, "atm_iv": None, "years": None, "expiration": expiration, "note": SIGMA_UNAVAILABLE}
    first = np.flatnonzero(known)[0]
    points = forward * atm[first] * np.sqrt(years[first])
    note = "" if points > 0 else "no time to expiry left: no one-sigma move"
    return {"points": json_value(points) if points > 0 else None, "atm_iv": json_value(atm[first]),
            "years": json_value(years[first]), "expiration": expiration, "note": note}


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


def cumulative_gex_crossing(strikes: np.ndarray, gex: np.ndarray, forward: float) -> ZeroGamma:
    """The secondary figure: where GEX summed over strikes upwards changes sign, linear between the
    two strikes around the change; the crossing nearest F when there are several. Strikes without a
    GEX figure are skipped. It is not the zero-gamma level (that re-prices gamma, `gamma_profile`)."""
    known = ~np.isnan(gex)
    if not known.any():
        return ZeroGamma(float("nan"), (), "no gamma exposure: no contract has both gamma and open interest")
    return sign_changes(strikes[known], np.cumsum(gex[known]), forward, what="cumulative GEX across the strikes")


def _side_total(per_strike: np.ndarray, otm_contracts: np.ndarray) -> float:
    """One side's dollars at risk: 0 when it has no OTM contract, NaN when none of them has data."""
    has = otm_contracts > 0
    if not has.any():
        return 0.0
    values = per_strike[has]
    values = values[~np.isnan(values)]
    return float(values.sum()) if values.size else float("nan")
