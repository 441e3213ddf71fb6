"""Expected-value stage: the trader's own algorithm, (target, stop) pairs from the strikes, scored.

With F the underlying price and the strikes of the front expiration (or the profile's expirations):
1. Pairs: LONG when target > F > stop, SHORT when target < F < stop (every such pair of strikes).
   reward = |target - F|, risk = |F - stop|.
2. Per strike k a distance weight w(k) from `distance_bands` (|k - F|/F <= 1% -> 1.0, <= 2% -> 0.8,
   <= 5% -> 0.5, else `far_weight` 0.2) and a side modifier m(k) = +1 when k lies on the trade's
   side of F (above for a LONG, below for a SHORT; a strike exactly at F is on neither), else
   `off_side_modifier` (-0.5).
3. Factors, each in [0, 1]:
   - OI factor = clamp(sum_k (call OI + put OI) w m / max_k (call OI + put OI), 0, 1);
   - volume factor: the same from volumes;
   - put/call premium factor: x = (sum call mark x OI - sum put mark x OI) / (the two sums added),
     -x for a SHORT, mapped from [-1, 1] to [0, 1] by (x + 1) / 2;
   - distance factor = clamp(1 - |F - target| / F, 0, 1).
   Only the distance factor depends on the target; the others depend only on the direction.
4. p = 0.35 OI + 0.25 volume + 0.25 premium + 0.15 distance (the profile's `weights`), clamped to
   [probability_floor, probability_cap]. EV = p x reward - (1 - p) x risk, in points and dollars.
5. Keep risk <= max_risk_points, reward/risk >= min_reward_risk, EV >= min_ev_points,
   p >= min_probability, then the top_n by EV; every dropped pair carries its reason.
6. Beside each setup, the market's probability of the same target-before-stop: first passage of a
   driftless log-price with the horizon expiration's ATM IV over its time to expiry
   (`target_first_probability`), and the edge = model p - market p.

Realism (on by default; `profiles/seed_ev` turns it off and is the algorithm above exactly). Only
the distance factor depends on the target, so run faithfully the algorithm ranks targets 10-26
standard deviations away with stops a few points from F first. Before ranking, with
sigma = F x ATM IV x sqrt(T) the standard deviation of the move to the horizon expiration's
settlement (T from `expiry.py`):
- a target more than `max_target_sigma` sigma from F is dropped;
- a stop closer than `min_stop_sigma` sigma is dropped (inside ordinary noise);
- with `collapse_duplicates` only the best stop of each (direction, target) is kept;
- without sigma (no ATM IV, or the expiration has settled) realism cannot be applied: the setups
  are withheld with that reason (`missing_iv: "withhold"`) or kept marked "unchecked" ("flag").
The model probability is unchanged. Each setup carries its distances in sigma and a `market_view`:
"edge" when model and market roughly agree, "out_of_reach" when the market probability is below
`out_of_reach_probability`, "disagree" when they differ by more than `disagreement_threshold`,
"unknown" without a market probability; `market_note` says it in words.

Only the setups that are kept are scored (market probability, dollars, the table). Pairs that
cannot pass the geometric filters (risk, reward/risk, target and stop sigma) are never built
(`pair_grid`); the rest get their cheap figures (reward, risk, probability, EV) and go through the
same filters, duplicates and top_n as the candidate table (`reason_codes`), before any scoring
(`candidate_pairs`). Every pair not kept is counted under the reason it would have got, in the
summary's `pairs_pruned`. The kept setups and the counts are the same as scoring every pair and
filtering the table (tests check it on the real captures).

Missing data is never zero. Volumes (and OI) that are NaN are left out of the sums and of the max;
a factor with no data at all is missing, and p is then the weighted sum of the factors present
scaled by sum(all weights) / sum(present weights), so it keeps the same scale; each setup lists
its missing factors. With none of OI, volume and premium present there is no probability (the
distance alone says nothing about the market) and the pairs are dropped with that reason. With several expirations the strikes are pooled and the horizon for the market
probability is the earliest of them.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd
from scipy.special import erfc

from . import kernels
from .pipeline import AnalysisContext, PipelineAnalysis, RunTables, count_codes, run_tables
from .stage_tools import (category_dtype, fast_frame, json_list, json_records, json_value,
                          parse_expirations, python_values, select_first, table_records, text_array)
from ..errors import ConfigError

log = logging.getLogger(__name__)

LONG, SHORT = "LONG", "SHORT"
FACTORS = ("oi", "volume", "premium", "distance")
_SMALL_TIME = 0.25         # sigma^2 T / L^2 below which the image series is used, else the Fourier series
_IMAGE_TERMS = 4           # at sigma^2 T / L^2 < 0.25 the 4th image term is below erfc(8.5) ~ 1e-33
_FOURIER_TERMS = 8         # at sigma^2 T / L^2 >= 0.25 the 8th term is below exp(-64 pi^2 / 8) ~ 1e-34
_ERFC_NEGLIGIBLE = 8.0     # erfc(8) ~ 1e-29: a target this many spreads away is not reached in time
MISSING_IV_MODES = ("withhold", "flag")
CHECKED, UNCHECKED, OFF = "checked", "unchecked", "off"  # the `realism` column
WITHHELD = "realism unchecked (no sigma: see the summary's realism note); missing_iv is withhold"
MARKET_VIEWS = ("edge", "out_of_reach", "disagree", "unknown")
_FILTERED = ("target", "risk", "reward_risk", "target_sigma", "stop_sigma", "probability", "ev_points")
_RANKED = ("target", "risk", "probability", "ev_points")  # `_rank_order`'s keys, last decides first
_COLUMN_ORDER = ("direction", "entry", "target", "stop", "reward", "risk", "reward_risk", "reward_dollars",
                 "risk_dollars", "sigma_points", "target_sigma", "stop_sigma", "realism", "oi_factor",
                 "volume_factor", "premium_factor", "distance_factor", "missing_factors", "probability",
                 "ev_points", "ev_dollars", "market_probability", "edge", "market_view")


@dataclass(frozen=True, kw_only=True)
class FactorWeights:
    """`pipeline.expected_value.weights`: probability = weighted sum of the four factors."""

    oi: float = 0.35
    volume: float = 0.25
    premium: float = 0.25
    distance: float = 0.15


@dataclass(frozen=True, kw_only=True)
class ExpectedValueConfig:
    """`pipeline.expected_value` (config/schema/stage.expected_value.schema.json)."""

    expirations: tuple[str, ...] = ()
    max_risk_points: float = 150
    min_reward_risk: float = 1.0
    min_ev_points: float = 15
    min_probability: float = 0.60
    weights: FactorWeights = field(default_factory=FactorWeights)
    probability_floor: float = 0.10
    probability_cap: float = 0.90
    distance_bands: tuple[tuple[float, float], ...] = ((0.01, 1.0), (0.02, 0.8), (0.05, 0.5))
    far_weight: float = 0.2
    off_side_modifier: float = -0.5
    top_n: int = 10
    max_target_sigma: float | None = 2.0
    min_stop_sigma: float = 0.1
    collapse_duplicates: bool = True
    missing_iv: str = "withhold"
    disagreement_threshold: float = 0.25
    out_of_reach_probability: float = 0.05

    def __post_init__(self) -> None:
        parse_expirations(self.expirations, "pipeline.expected_value.expirations")
        if self.missing_iv not in MISSING_IV_MODES:
            raise ConfigError(f"`pipeline.expected_value.missing_iv`: {self.missing_iv!r} is not one of "
                              f"{', '.join(MISSING_IV_MODES)}")
        if self.max_target_sigma is not None and not self.max_target_sigma > 0:
            raise ConfigError(f"`pipeline.expected_value.max_target_sigma` must be positive or null (off), "
                              f"got {self.max_target_sigma!r}")
        if not self.probability_floor <= self.probability_cap:
            raise ConfigError(f"`pipeline.expected_value.probability_floor` ({self.probability_floor:g}) must not "
                              f"exceed `pipeline.expected_value.probability_cap` ({self.probability_cap:g})")
        limits = [band[0] for band in self.distance_bands]
        if limits != sorted(limits):
            raise ConfigError(f"`pipeline.expected_value.distance_bands` must be ascending by distance, got {limits}")
        if sum(getattr(self.weights, name) for name in FACTORS) <= 0:
            raise ConfigError("`pipeline.expected_value.weights`: at least one weight must be positive")


@dataclass(frozen=True)
class DirectionFactors:
    """The factors that do not depend on the target, for one direction (NaN = no data)."""

    oi: float
    volume: float
    premium: float

    def missing(self) -> list[str]:
        return [name for name in ("oi", "volume", "premium") if math.isnan(getattr(self, name))]


@dataclass(frozen=True)
class Horizon:
    """The horizon expiration's market figures: ATM IV, years to settlement, and sigma in points
    (F x IV x sqrt(T), NaN when it cannot be known); `iv_note` says why there is no ATM IV,
    `realism_note` why realism cannot be applied (both empty when all is known)."""

    expiration: pd.Timestamp | None
    atm_iv: float
    years: float
    sigma_points: float
    iv_note: str
    realism_note: str


@dataclass(frozen=True)
class EvRows:
    """The stage's contracts (the chosen expirations' rows) as arrays."""

    strike: np.ndarray
    is_call: np.ndarray
    is_put: np.ndarray
    open_interest: np.ndarray
    volume: np.ndarray
    mark: np.ndarray


@dataclass(frozen=True)
class EvTables:
    """The EV stage's per-run work (`prepare`), shared by candidates and summarize: the pairs to score
    (both directions) and how many pairs were pruned before scoring, by reason."""

    used: list[pd.Timestamp]
    missing: list[pd.Timestamp]
    strikes: np.ndarray
    factors: dict[str, DirectionFactors]
    horizon: Horizon
    pairs: dict[str, np.ndarray]  # the pairs to score, LONG then SHORT: `_pair_figures` and `long`
    pruned: dict[str, int]
    held: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # select's kept table, columns


class ExpectedValueAnalysis(PipelineAnalysis):
    """Candidates are (target, stop) pairs; kept are the top_n setups by EV with the market's view."""

    name: ClassVar[str] = "expected_value"
    config_class: ClassVar[type] = ExpectedValueConfig
    requires: ClassVar[tuple[str, ...]] = ("greeks",)  # the ATM IV behind the market probability
    select_ranks: ClassVar[bool] = True  # `_columns` ranks the pairs; `select` keeps that order and adds the words
    config: ExpectedValueConfig

    def __init__(self, config: ExpectedValueConfig | None = None, *, prune: bool = True) -> None:
        super().__init__(config)
        self.prune = prune  # False scores every pair (the tests' check that pruning changes nothing)

    def prepare(self, chain: pd.DataFrame, ctx: AnalysisContext) -> EvTables:
        cfg = self.config
        tables = run_tables(chain, ctx)
        wanted = parse_expirations(cfg.expirations, "pipeline.expected_value.expirations")
        selection = tables.select(wanted, ctx.front_expiration)
        if selection.missing:
            log.warning("expected_value: expirations %s not in the chain",
                        [m.date().isoformat() for m in selection.missing])
        positions = selection.positions
        rows = EvRows(strike=tables.strike[positions], is_call=tables.is_call[positions],
                      is_put=tables.is_put[positions],
                      **{name: tables.quoted(chain, name)[positions] for name in ("open_interest", "volume", "mark")})
        forward = ctx.underlying_price
        factors, strikes = _direction_factors(rows, forward, cfg)
        used = sorted(selection.used)
        horizon = _horizon(chain, tables, used, ctx)
        pairs, pruned = candidate_pairs(strikes, forward, factors, cfg, horizon, prune=self.prune)
        return EvTables(used, selection.missing, strikes, factors, horizon, pairs, pruned)

    def candidates(self, chain: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        return pd.DataFrame(self._columns(chain, ctx))

    def filter_reasons(self, candidates: pd.DataFrame, ctx: AnalysisContext) -> pd.Series:
        return pd.Series(reason_labels(self.config)[self._codes(candidates)], index=candidates.index, dtype="str")

    def select(self, chain: pd.DataFrame, ctx: AnalysisContext) -> tuple[pd.DataFrame, int, dict[str, int]]:
        columns = self._columns(chain, ctx)
        if self.prune:  # `candidate_pairs` kept only the pairs `reason_codes` keeps: nothing left to drop
            keep, dropped = np.ones(columns["target"].size, dtype=bool), {}
        else:  # the same reasons as `filter_reasons`, counted by code
            keep, dropped = count_codes(self._codes(columns), reason_labels(self.config))
        if not keep.all():
            rows = np.flatnonzero(keep)
            columns = {name: values[rows] for name, values in columns.items()}
        notes = market_notes(columns, self.config)  # what `sort` adds, for the kept rows only
        columns["market_note"] = text_array(notes) if notes else notes  # none: the column pandas makes of []
        kept = fast_frame(columns)
        prepared = self.prepared(chain, ctx)
        if isinstance(prepared, EvTables) and notes:
            prepared.held["kept"] = (kept, columns)
        return kept, keep.size, dropped

    def _columns(self, chain: pd.DataFrame, ctx: AnalysisContext) -> dict[str, Any]:
        """The candidate table's columns, its rows ranked (`_rank_order`): one entry per pair scored."""
        cfg = self.config
        prepared: EvTables = self.prepared(chain, ctx)
        used, factors, horizon = prepared.used, prepared.factors, prepared.horizon
        forward = ctx.underlying_price
        order = _rank_order(*(prepared.pairs[name] for name in _RANKED))
        columns = {name: values[order] for name, values in prepared.pairs.items()}
        long = columns.pop("long")
        columns.update(_market_columns(columns, forward, factors, long, cfg, horizon, ctx.multiplier))
        # text columns as categoricals with dtypes built once (pandas string columns are costly to build)
        missing = [",".join(factors[d].missing()) for d in (LONG, SHORT)]
        realism = _realism_label(cfg, horizon)
        labels = {"direction": _label_column(long, LONG, SHORT), "realism": _label_column(long, realism, realism),
                  "missing_factors": _label_column(long, *missing),
                  "market_view": pd.Categorical.from_codes(columns.pop("market_view"), validate=False,
                                                           dtype=category_dtype(MARKET_VIEWS))}
        expiration = used[0].to_datetime64() if used else np.datetime64("NaT", "ns")
        return {**{name: labels[name] if name in labels else columns[name] for name in _COLUMN_ORDER},
                "expiration": np.full(order.size, expiration, dtype="datetime64[ns]")}

    def _codes(self, columns: Any) -> np.ndarray:
        """`reason_codes` of a candidate table, or of its columns as arrays (`_columns`)."""
        realism = columns["realism"]
        return reason_codes({name: np.asarray(columns[name]) for name in _FILTERED},
                            np.asarray(columns["direction"] == LONG), np.asarray(realism == CHECKED),
                            np.asarray(realism == UNCHECKED), self.config)

    def sort(self, kept: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        order = _rank_order(*(kept[name].to_numpy() for name in _RANKED))
        ordered = kept if (order == np.arange(order.size)).all() else kept.iloc[order]
        if "market_note" in ordered.columns:  # `select` built the kept rows with their words
            return ordered
        # the words are built for the few kept setups only (never for every candidate pair)
        return ordered.assign(market_note=market_notes(ordered, self.config))

    def summarize(self, chain: pd.DataFrame, kept: pd.DataFrame, ctx: AnalysisContext) -> dict[str, Any]:
        cfg = self.config
        prepared: EvTables = self.prepared(chain, ctx)
        used, missing, factors, strikes = prepared.used, prepared.missing, prepared.factors, prepared.strikes
        horizon = prepared.horizon
        forward = ctx.underlying_price
        above, below = int((strikes > forward).sum()), int((strikes < forward).sum())
        held = prepared.held.get("kept")
        records = table_records(held[1]) if held is not None and held[0] is kept else json_records(kept)
        return {
            "underlying_price": json_value(forward),
            "expirations": json_list(used),
            "missing_expirations": json_list(missing),
            "horizon_expiration": json_value(used[0]) if used else None,
            "years_to_horizon": json_value(horizon.years),
            "atm_iv": json_value(horizon.atm_iv),
            "atm_iv_note": horizon.iv_note,
            "sigma_points": json_value(horizon.sigma_points),
            "sigma_definition": "F x ATM IV x sqrt(T): one standard deviation of the move to the horizon "
                                "expiration's settlement, index points",
            "realism": {
                "on": realism_on(cfg),
                "applied": realism_on(cfg) and not np.isnan(horizon.sigma_points),
                "note": horizon.realism_note if realism_on(cfg) else "off (the original algorithm)",
                "max_target_sigma": json_value(cfg.max_target_sigma),
                "min_stop_sigma": json_value(cfg.min_stop_sigma),
                "min_stop_points": json_value(cfg.min_stop_sigma * horizon.sigma_points),
                "max_target_points": json_value(np.inf if cfg.max_target_sigma is None
                                                else cfg.max_target_sigma * horizon.sigma_points),
                "collapse_duplicates": cfg.collapse_duplicates,
                "missing_iv": cfg.missing_iv,
            },
            "disagreement": {"threshold": cfg.disagreement_threshold,
                             "out_of_reach_probability": cfg.out_of_reach_probability},
            "factors": {d: {"oi": json_value(f.oi), "volume": json_value(f.volume), "premium": json_value(f.premium)}
                        for d, f in factors.items()},
            "missing_factors": {d: f.missing() for d, f in factors.items()},
            "missing_rule": "a factor without data is left out; the present factors' weighted sum is scaled "
                            "by sum(all weights) / sum(present weights); without OI, volume and premium "
                            "data there is no probability",
            "pairs_considered": {LONG: above * below, SHORT: below * above},
            "pairs_scored": int(prepared.pairs["target"].size),
            "pairs_pruned": prepared.pruned,
            "setups": int(len(kept)),
            "best": records[0] if records else None,
            "setups_table": records,
        }


def _horizon(chain: pd.DataFrame, tables: RunTables, used: list[pd.Timestamp], ctx: AnalysisContext) -> Horizon:
    """The earliest expiration used: its ATM IV (from the greeks stage), time and sigma."""
    if not used:
        return Horizon(None, float("nan"), float("nan"), float("nan"), "no expiration selected",
                       "realism not applied: no expiration selected")
    horizon = used[0]
    day = horizon.date().isoformat()
    rows = tables.select((horizon,), ctx.front_expiration).positions
    years = float(tables.years_to_expiry(ctx)[rows[0]])
    ivs = tables.floats(chain, "atm_iv")[rows]
    ivs = ivs[~np.isnan(ivs)]
    if years <= 0:
        note = (f"realism not applied: the {day} expiration had settled by the data's time "
                f"({ctx.as_of.isoformat()}); with no time left no target can be checked for reach")
    elif ivs.size == 0:
        note = f"realism not applied: no ATM IV for {day} (see the greeks summary), so no sigma"
    else:
        note = ""
    if ivs.size == 0:
        return Horizon(horizon, float("nan"), years, float("nan"),
                       f"no ATM IV for {day} (see the greeks summary): no market probability", note)
    iv = float(ivs[0])
    sigma = ctx.underlying_price * iv * np.sqrt(years) if years > 0 else float("nan")
    return Horizon(horizon, iv, years, float(sigma), "", note)


def realism_on(config: ExpectedValueConfig) -> bool:
    """Whether the sigma checks are on (`max_target_sigma` set or `min_stop_sigma` > 0); with them and
    `collapse_duplicates` all off the stage is the original algorithm (`profiles/seed_ev`)."""
    return config.max_target_sigma is not None or config.min_stop_sigma > 0


def _sigma_text(value: float | None) -> str:
    return "off" if value is None else f"{value:g}"


def pair_grid(strikes: np.ndarray, forward: float, direction: str, config: ExpectedValueConfig,
              sigma_points: float, *, prune: bool = True) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(target, stop) arrays of one direction's pairs, and how many pairs were pruned, by reason.

    Unpruned: every target on the trade's side of F with every stop on the other. Pruned: only the
    pairs that can pass the filters that depend on the pair alone (risk, reward/risk, and with a
    known sigma the target and stop sigma), computed with the same expressions as the filters so
    the kept setups are the same. Reasons are counted in the filters' order.
    """
    targets = strikes[strikes > forward] if direction == LONG else strikes[strikes < forward]
    stops = strikes[strikes < forward] if direction == LONG else strikes[strikes > forward]
    if not prune:
        return np.repeat(targets, stops.size), np.tile(stops, targets.size), {}
    reward, risk = np.abs(targets - forward), np.abs(forward - stops)
    counts: dict[str, int] = {}

    def drop(reason: str, n: int) -> None:
        if n:
            counts[reason] = counts.get(reason, 0) + int(n)

    stop_ok = risk <= config.max_risk_points
    labels = reason_labels(config)
    drop(labels[1], targets.size * (~stop_ok).sum())
    stops, risk = stops[stop_ok], risk[stop_ok]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_ok = (reward[:, None] / risk[None, :]) >= config.min_reward_risk
    drop(labels[2], (~ratio_ok).sum())
    if realism_on(config) and not np.isnan(sigma_points):
        max_sigma = np.inf if config.max_target_sigma is None else config.max_target_sigma
        target_ok = ~(reward / sigma_points > max_sigma)
        stop_far = ~(risk / sigma_points < config.min_stop_sigma)
        drop(labels[3], (ratio_ok & ~target_ok[:, None]).sum())
        ratio_ok = ratio_ok & target_ok[:, None]
        drop(labels[4], (ratio_ok & ~stop_far[None, :]).sum())
        ratio_ok = ratio_ok & stop_far[None, :]
    which_target, which_stop = np.nonzero(ratio_ok)
    return targets[which_target], stops[which_stop], counts


@lru_cache(maxsize=64)
def reason_labels(config: ExpectedValueConfig) -> np.ndarray:
    """Why a pair is dropped, by code (`reason_codes`), in the filters' order; code 0 ("") keeps it."""
    return np.array(["",
                     f"risk above max_risk_points ({config.max_risk_points:g} points)",
                     f"reward/risk below min_reward_risk ({config.min_reward_risk:g})",
                     f"target beyond max_target_sigma ({_sigma_text(config.max_target_sigma)} sigma)",
                     f"stop inside noise: closer than min_stop_sigma ({config.min_stop_sigma:g} sigma)",
                     "probability missing (no OI, volume or premium data)",
                     f"EV below min_ev_points ({config.min_ev_points:g} points)",
                     f"probability below min_probability ({config.min_probability:g})",
                     WITHHELD,
                     "same target as a better setup (collapse_duplicates)",
                     f"beyond top_n ({config.top_n}) by EV"], dtype=object)


def reason_codes(columns: Mapping[str, np.ndarray], long: np.ndarray, sigma_known: np.ndarray,
                 unchecked: np.ndarray, config: ExpectedValueConfig, *, geometry_passed: bool = False) -> np.ndarray:
    """Each pair's first failing filter as a code into `reason_labels` (0 = kept): the limits in
    order, then collapsing duplicates and the top_n among the pairs that pass (ranked by
    `_rank_order`). `columns` holds the `_FILTERED` figures of the pairs (a candidate table's columns,
    or the arrays `candidate_pairs` prunes with). `geometry_passed`: the pairs are `pair_grid`'s
    pruned ones, which pass the first four limits (risk, reward/risk, target and stop sigma: the
    same expressions), so only the others are tested."""
    risk, probability, ev = columns["risk"], columns["probability"], columns["ev_points"]
    max_sigma = np.inf if config.max_target_sigma is None else config.max_target_sigma
    later = [np.isnan(probability), ~(ev >= config.min_ev_points), ~(probability >= config.min_probability)]
    if config.missing_iv == "withhold" and unchecked.any():
        later.append(unchecked)
    if geometry_passed:
        code = select_first(later, [5, 6, 7, 8][:len(later)], 0)
    else:
        code = select_first(
            [risk > config.max_risk_points,
             columns["reward_risk"] < config.min_reward_risk,
             sigma_known & (columns["target_sigma"] > max_sigma),
             sigma_known & (columns["stop_sigma"] < config.min_stop_sigma), *later],
            [1, 2, 3, 4, 5, 6, 7, 8][:4 + len(later)], 0)
    _rank_and_cut(code, columns, long, config)
    return code


def _rank_and_cut(code: np.ndarray, columns: Mapping[str, np.ndarray], long: np.ndarray,
                  config: ExpectedValueConfig) -> None:
    """`reason_codes`' last steps, in place: the pairs passing the limits (code 0) ranked by
    `_rank_order`; with collapse_duplicates each (direction, target) keeps its best (others 9);
    beyond top_n 10."""
    passing = np.flatnonzero(code == 0)
    target, risk, probability, ev = columns["target"], columns["risk"], columns["probability"], columns["ev_points"]
    ranked = passing[_rank_order(target[passing], risk[passing], probability[passing], ev[passing])]
    if config.collapse_duplicates:  # (direction, target) as one signed key: targets are positive prices
        keys = np.where(long[ranked], 1.0, -1.0) * target[ranked]
        first = np.zeros(ranked.size, dtype=bool)
        first[np.unique(keys, return_index=True)[1]] = True  # the best-ranked row of each key
        code[ranked[~first]] = 9
        ranked = ranked[first]
    code[ranked[config.top_n:]] = 10


def candidate_pairs(strikes: np.ndarray, forward: float, factors: dict[str, DirectionFactors],
                    config: ExpectedValueConfig, horizon: Horizon, *, prune: bool = True
                    ) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The pairs to score (their `_pair_figures`, LONG then SHORT, and `long`), and how many pairs were
    pruned, by reason.

    Unpruned: every pair. Pruned: `pair_grid` drops the pairs the geometric limits rule out; then
    the cheap figures of the rest (reward, risk, probability, EV: no market probability, no table)
    go through the same `reason_codes` as the candidate table, so only the setups that are kept (at
    most top_n) are scored, and every other pair is counted under the reason it would have got."""
    if prune:
        return _pruned_pairs(strikes, forward, factors, config, horizon)
    grids = {d: pair_grid(strikes, forward, d, config, horizon.sigma_points, prune=prune) for d in (LONG, SHORT)}
    pruned: dict[str, int] = {}
    for _, _, counts in grids.values():
        for reason, n in counts.items():
            pruned[reason] = pruned.get(reason, 0) + n
    target = np.concatenate([grids[LONG][0], grids[SHORT][0]])
    stop = np.concatenate([grids[LONG][1], grids[SHORT][1]])
    long = np.zeros(target.size, dtype=bool)
    long[:grids[LONG][0].size] = True
    columns = _pair_figures(target, stop, long, forward, factors, config, horizon.sigma_points)
    columns["long"] = long
    if not prune:
        return columns, pruned
    realism = _realism_label(config, horizon)
    flags = np.full(long.size, realism == CHECKED), np.full(long.size, realism == UNCHECKED)
    code = reason_codes(columns, long, *flags, config, geometry_passed=True)
    counts = np.bincount(code, minlength=len(reason_labels(config)))
    for label, n in zip(reason_labels(config)[1:], counts[1:]):
        if n:
            pruned[label] = pruned.get(label, 0) + int(n)
    keep = np.flatnonzero(code == 0)
    return {name: values[keep] for name, values in columns.items()}, pruned


def _pruned_pairs(strikes: np.ndarray, forward: float, factors: dict[str, DirectionFactors],
                  config: ExpectedValueConfig, horizon: Horizon) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """`candidate_pairs` with pruning: `pair_grid`, `_pair_figures` and the limits of `reason_codes`
    in one compiled pass (`kernels.ev_pairs`, the same expressions in the same order), then the
    ranking, duplicates and top_n of `reason_codes` over the pairs that pass."""
    labels = reason_labels(config)
    w = config.weights
    terms = _probability_terms(factors, config)
    realism = _realism_label(config, horizon)
    sigma = horizon.sigma_points
    check_sigma = realism_on(config) and not np.isnan(sigma)
    max_sigma = np.inf if config.max_target_sigma is None else config.max_target_sigma
    (target, stop, long, reward, risk, reward_risk, target_sigma, stop_sigma, distance, p, ev, code,
     geometric) = kernels.ev_pairs(
        np.ascontiguousarray(strikes, dtype=np.float64), float(forward), float(config.max_risk_points),
        float(config.min_reward_risk), check_sigma, float(sigma), float(max_sigma), float(config.min_stop_sigma),
        *(float(x) for x in (*terms[LONG], *terms[SHORT])), float(w.distance),
        float(config.probability_floor), float(config.probability_cap), float(config.min_ev_points),
        float(config.min_probability), config.missing_iv == "withhold" and realism == UNCHECKED)
    columns = {"target": target, "stop": stop, "reward": reward, "risk": risk, "reward_risk": reward_risk,
               "target_sigma": target_sigma, "stop_sigma": stop_sigma, "distance_factor": distance,
               "probability": p, "ev_points": ev, "long": long}
    pruned: dict[str, int] = {}
    for side in range(2):  # counted as `pair_grid` counts them: LONG's reasons, then SHORT's
        for i in range(1, 5):
            if geometric[side, i]:
                pruned[labels[i]] = pruned.get(labels[i], 0) + int(geometric[side, i])
    _rank_and_cut(code, columns, long, config)
    counts = np.bincount(code, minlength=len(labels))
    for label, n in zip(labels[1:], counts[1:]):
        if n:
            pruned[label] = pruned.get(label, 0) + int(n)
    keep = np.flatnonzero(code == 0)
    return {name: values[keep] for name, values in columns.items()}, pruned


def _probability_terms(factors: dict[str, DirectionFactors], config: ExpectedValueConfig
                       ) -> dict[str, tuple[float, float]]:
    """Per direction (fixed, scale) of p = (fixed + w_distance x distance) x scale: the present
    factors' weighted sum and sum(all weights) / sum(present weights); NaN without OI, volume or
    premium data (the distance alone says nothing about the market)."""
    w = config.weights
    total_weight = w.oi + w.volume + w.premium + w.distance
    terms = {}
    for direction in (LONG, SHORT):
        f = factors[direction]
        present = [(w.oi, f.oi), (w.volume, f.volume), (w.premium, f.premium)]
        present = [(weight, value) for weight, value in present if not np.isnan(value)]
        present_weight = sum(weight for weight, _ in present) + w.distance
        fixed = sum(weight * value for weight, value in present)
        terms[direction] = (fixed, total_weight / present_weight) if present and present_weight > 0 \
            else (np.nan, np.nan)
    return terms


def _realism_label(config: ExpectedValueConfig, horizon: Horizon) -> str:
    """The `realism` column: off, or checked / unchecked by whether sigma is known."""
    return OFF if not realism_on(config) else (UNCHECKED if np.isnan(horizon.sigma_points) else CHECKED)


def market_notes(setups: Mapping[str, Any], config: ExpectedValueConfig) -> list[str]:
    """The model-vs-market comparison of each setup in words: an edge only where the two roughly
    agree; where the market gives the target almost no chance, or the two are far apart, it says
    so instead of calling the difference an edge."""
    notes = []
    for p, market, view in zip(*(python_values(setups[name])
                                 for name in ("probability", "market_probability", "market_view"))):
        if view == "unknown":
            notes.append(f"model {p:.2f} vs market n/a: no ATM IV, so no market probability to compare")
        elif view == "out_of_reach":
            notes.append(f"model {p:.2f} vs market {market:.2f}: the market prices this target as out of reach")
        elif view == "disagree":
            side = "far less" if market < p else "far more"
            notes.append(f"model {p:.2f} vs market {market:.2f}: the market gives this target {side} chance "
                         f"than the model; not an edge")
        else:
            notes.append(f"edge {100 * (p - market):+.1f} pp (model {p:.2f} vs market {market:.2f})")
    return notes


def band_weights(strikes: np.ndarray, forward: float, config: ExpectedValueConfig) -> np.ndarray:
    """w(k): the weight of the first band whose |k - F|/F limit the strike is within, else far_weight."""
    distance = np.abs(strikes - forward) / forward
    bands = config.distance_bands
    return select_first([distance <= limit for limit, _ in bands], [weight for _, weight in bands], config.far_weight)


def direction_factors(rows: EvRows, forward: float, config: ExpectedValueConfig) -> dict[str, DirectionFactors]:
    """OI, volume and premium factors for LONG and SHORT from one set of rows (NaN = no data)."""
    return _direction_factors(rows, forward, config)[0]


def _direction_factors(rows: EvRows, forward: float, config: ExpectedValueConfig
                       ) -> tuple[dict[str, DirectionFactors], np.ndarray]:
    """`direction_factors`, and the rows' distinct strikes (ascending). Per strike the OI and volume
    (summed over its contracts), the band weight and the side modifier come from one compiled pass
    (`kernels.strike_shares`, the same figures as `group_sum`, `band_weights` and np.where); each
    factor is then clamp(sum v w m / max v, 0, 1) over the strikes with data, summed by numpy."""
    known = ~np.isnan(rows.strike)
    every_known = known.all()
    strike = rows.strike if every_known else rows.strike[known]
    listed, strikes, codes = kernels.sorted_unique(strike)  # strikes already ascending: no sort needed
    if not listed:
        strikes, codes = np.unique(strike, return_inverse=True)
    limits = np.array([limit for limit, _ in config.distance_bands], dtype=np.float64)
    weights = np.array([weight for _, weight in config.distance_bands], dtype=np.float64)
    oi_long, oi_short, volume_long, volume_short, largest = kernels.strike_shares(
        codes, strikes, rows.open_interest if every_known else rows.open_interest[known],
        rows.volume if every_known else rows.volume[known], float(forward), limits, weights,
        float(config.far_weight), float(config.off_side_modifier))
    premium = _premium_balance(rows)
    shares = {LONG: (oi_long, volume_long), SHORT: (oi_short, volume_short)}
    out = {}
    for direction, (oi_terms, volume_terms) in shares.items():
        sign = 1.0 if direction == LONG else -1.0
        out[direction] = DirectionFactors(oi=_share_of(oi_terms, largest[0]),
                                          volume=_share_of(volume_terms, largest[1]),
                                          premium=(sign * premium + 1.0) / 2.0)
    return out, strikes


def _share_of(terms: np.ndarray, largest: float) -> float:
    """A factor: clamp(sum v w m / max v, 0, 1) over the strikes with data, from their terms v * w * m
    and the largest v; NaN when no strike has data or the largest is not positive."""
    if terms.size == 0 or not largest > 0:
        return float("nan")
    share = float(terms.sum()) / float(largest)
    return share if share != share else min(max(share, 0.0), 1.0)  # np.clip's answer, NaN kept


def _premium_balance(rows: EvRows) -> float:
    """(call mark x OI - put mark x OI) / (both added), in [-1, 1]; NaN when either side has no data."""
    money = rows.mark * rows.open_interest
    calls, puts = _sum_known(money[rows.is_call]), _sum_known(money[rows.is_put])
    total = calls + puts
    if np.isnan(total) or total <= 0:
        return float("nan")
    return float((calls - puts) / total)


def _sum_known(values: np.ndarray) -> float:
    """The sum of the known values (missing ones count 0, as pandas' `sum(min_count=1)`); NaN if none."""
    missing = np.isnan(values)
    return float("nan") if missing.all() else float(np.where(missing, 0.0, values).sum())


def _pair_figures(target: np.ndarray, stop: np.ndarray, long: np.ndarray, forward: float,
                  factors: dict[str, DirectionFactors], config: ExpectedValueConfig, sigma: float
                  ) -> dict[str, np.ndarray]:
    """The figures of the pairs that the filters read (no market probability): reward, risk,
    distances in sigma, the distance factor, the probability and EV in points; `long` says each
    pair's direction (whose factors it takes)."""
    reward, risk = np.abs(target - forward), np.abs(forward - stop)
    distance = np.clip(1.0 - np.abs(forward - target) / forward, 0.0, 1.0)
    w = config.weights
    terms = _probability_terms(factors, config)
    (fixed_long, scale_long), (fixed_short, scale_short) = terms[LONG], terms[SHORT]
    if (fixed_long, scale_long) == (fixed_short, scale_short):  # one direction's terms (the usual case)
        raw = (fixed_long + w.distance * distance) * scale_long
    else:  # per pair its direction's: the same arithmetic, value by value
        raw = (np.where(long, fixed_long, fixed_short) + w.distance * distance) * \
            np.where(long, scale_long, scale_short)
    p = np.clip(raw, config.probability_floor, config.probability_cap)
    with np.errstate(divide="ignore", invalid="ignore"):
        target_sigma, stop_sigma = reward / sigma, risk / sigma
    return {"target": target, "stop": stop, "reward": reward, "risk": risk, "reward_risk": reward / risk,
            "target_sigma": target_sigma, "stop_sigma": stop_sigma, "distance_factor": distance,
            "probability": p, "ev_points": p * reward - (1.0 - p) * risk}


def _market_columns(figures: Mapping[str, np.ndarray], forward: float, factors: dict[str, DirectionFactors],
                    long: np.ndarray, config: ExpectedValueConfig, horizon: Horizon, multiplier: float
                    ) -> dict[str, np.ndarray]:
    """The candidate table's other numeric columns for pairs already figured (`_pair_figures`): the
    market probability and view (as codes), dollars, and the direction's factors."""
    target, reward, risk = figures["target"], figures["reward"], figures["risk"]
    p, ev = figures["probability"], figures["ev_points"]
    market = target_first_probability(forward, target, figures["stop"], horizon.atm_iv, horizon.years)
    # dollars, edge, view codes (first of: no market probability 3, out of reach 1, disagree 2; else 0)
    # and the direction's factors, in one compiled pass
    names = ("oi", "volume", "premium")
    reward_dollars, risk_dollars, ev_dollars, edge, view, by_direction = kernels.market_columns(
        long, reward, risk, p, ev, market, float(multiplier), float(config.out_of_reach_probability),
        float(config.disagreement_threshold),
        *(np.array([getattr(factors[d], name) for name in names], dtype=np.float64) for d in (LONG, SHORT)))
    return {"entry": np.full(target.shape, forward), "reward_dollars": reward_dollars,
            "risk_dollars": risk_dollars, "sigma_points": np.full(target.shape, horizon.sigma_points),
            "oi_factor": by_direction[0], "volume_factor": by_direction[1],
            "premium_factor": by_direction[2], "ev_dollars": ev_dollars,
            "market_probability": market, "edge": edge, "market_view": view}


def _label_column(long: np.ndarray, long_label: str, short_label: str) -> pd.Categorical:
    """A categorical column: `long_label` on LONG rows, `short_label` on SHORT ones."""
    if long_label == short_label:  # one label: code 0 everywhere
        return pd.Categorical.from_codes(np.zeros(long.size, dtype=np.int8), dtype=category_dtype((long_label,)),
                                         validate=False)
    codes = np.logical_not(long).view(np.int8)  # LONG 0, SHORT 1: the categories in that order
    return pd.Categorical.from_codes(codes, dtype=category_dtype((long_label, short_label)), validate=False)


def _rank_order(target: np.ndarray, risk: np.ndarray, probability: np.ndarray, ev: np.ndarray) -> np.ndarray:
    """Positions by EV (high first), then probability (high), risk (low), target (low).

    One sort by EV when no two EVs are equal (the usual case: np.lexsort on four float keys costs
    ten times as much); the full four-key sort otherwise."""
    by_ev = np.argsort(-ev, kind="stable")
    ranked_ev = ev[by_ev]
    if not np.isnan(ranked_ev).any() and not (ranked_ev[1:] == ranked_ev[:-1]).any():
        return by_ev
    return np.lexsort((target, risk, -probability, -ev))


def target_first_probability(entry: Any, target: Any, stop: Any, sigma: Any, years: Any) -> np.ndarray:
    """Probability that a driftless log-price starting at `entry` reaches `target` before `stop`
    within `years`, with volatility `sigma` (vectorized; NaN where sigma or years is missing).

    In log space let L = |ln(target/stop)| and z = |ln(entry/stop)| (0 < z < L), X a Brownian motion
    with variance sigma^2 per year started at z, absorbed at 0 (stop) and L (target). u(z, T) =
    P(hit L before 0 by T) solves u_T = (sigma^2/2) u_zz with u(0) = 0, u(L) = 1, u(z, 0) = 0.
    Its steady part is z/L; the rest is a sine series whose coefficients are those of -z/L:
        u = z/L + sum_n 2(-1)^n/(n pi) sin(n pi z/L) exp(-n^2 pi^2 sigma^2 T / (2 L^2)),
    which tends to z/L = ln(entry/stop)/ln(target/stop) as T -> infinity (for a LONG). For small
    sigma^2 T / L^2 that series converges slowly, so there the method-of-images form is used:
        u = sum_{k>=0} [erfc(((2k+1)L - z)/(sigma sqrt(2T))) - erfc(((2k+1)L + z)/(sigma sqrt(2T)))].
    With no time or no volatility the target cannot be reached: 0.
    """
    pairs = type(target) is np.ndarray and type(stop) is np.ndarray and target.ndim == 1 and \
        target.shape == stop.shape and target.dtype == stop.dtype == np.float64
    if pairs and all(isinstance(v, (float, int)) for v in (entry, sigma, years)):
        shape = target.shape  # the pairs' arrays and scalars: what broadcasting would give
        entry, sigma, years = (np.full(shape, float(v)) for v in (entry, sigma, years))
    else:
        arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (entry, target, stop, sigma, years)))
        shape = arrays[0].shape
        entry, target, stop, sigma, years = (a.ravel() for a in arrays)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_target, log_entry = np.log(target / stop), np.log(entry / stop)
        # the arithmetic around the logs and erfc in compiled passes (`kernels.passage_terms`, then
        # `image_sums`): small time by the method of images, each term added where the pair is still
        # live (within _ERFC_NEGLIGIBLE spreads of the target), in k order
        width, z, spread, tau, out, small, large, ahead, behind, live = kernels.passage_terms(
            np.ascontiguousarray(log_target), np.ascontiguousarray(log_entry), np.ascontiguousarray(sigma),
            np.ascontiguousarray(years), _SMALL_TIME, _IMAGE_TERMS, _ERFC_NEGLIGIBLE)
        if small.size:
            kernels.image_sums(out, small, erfc(ahead), erfc(behind), live)
    if large.size:
        out[large] = _fourier_series(z[large], width[large], tau[large])
    return np.clip(out, 0.0, 1.0).reshape(shape)


def _fourier_series(z: np.ndarray, width: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """`target_first_probability` at large time: the Fourier series around the steady state z/L,
    sin(n a) and exp(-n^2 d) by recurrence."""
    angle, decay = np.pi * z / width, tau * np.pi ** 2 / 2.0
    series = angle / np.pi
    sin_prev, sin_now, two_cos = np.zeros(z.size), np.sin(angle), 2.0 * np.cos(angle)
    q = np.exp(-decay)
    damping, factor = q.copy(), q * q * q   # exp(-n^2 d) for n = 1, and exp(-(2n+1) d) for n = 1
    for n in range(1, _FOURIER_TERMS + 1):
        series += 2.0 * (-1.0) ** n / (n * np.pi) * sin_now * damping
        sin_prev, sin_now = sin_now, two_cos * sin_now - sin_prev
        damping, factor = damping * factor, factor * q * q
    return series
