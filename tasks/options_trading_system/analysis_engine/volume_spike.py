"""Volume-spike stage, IFD v1.0 "dead simple volume spike": unusual volume against open interest,
big enough in dollars, read as institutional flow.

A contract spikes when volume/OI >= min_vol_oi, volume >= min_volume and
volume x last x multiplier >= min_notional. Contracts with no (or zero) OI or volume, or no last
price, are skipped with that reason: missing is not zero.

Each spike is a trade idea: calls LONG, puts SHORT, entry F, target = the strike, and the stop half
the strike's distance from F on the other side of F:
- call struck above F: stop = F - (K - F) / 2;
- put struck below F:  stop = F + (F - K) / 2.
A call struck at or below F (a put at or above F) is in the money: its strike lies on the wrong side
of F for the direction, so it has no target and no stop (NaN, `setup_note` says why) and is never
actionable; it still counts in the day bias. Tier by volume/OI (>= EXTREME, >= VERY_HIGH, >= HIGH,
else MODERATE); actionable when |K - F| / F <= actionable_distance. Day bias from the calls' share
of spike dollars.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd

from . import kernels
from .pipeline import AnalysisContext, PipelineAnalysis, run_tables
from .stage_tools import fast_frame, json_value, reason_series, select_first, take_rows
from ..errors import ConfigError

LONG, SHORT = "LONG", "SHORT"
TIER_NAMES = ("EXTREME", "VERY_HIGH", "HIGH", "MODERATE")
BIAS_BULLISH, BIAS_BEARISH, BIAS_MIXED, BIAS_NONE = "BULLISH", "BEARISH", "MIXED", "NO_SPIKES"
SETUP_NOTES = ("", "at the money: the strike is the entry, no target",
               "ITM call: strike below F, no LONG target above it", "ITM put: strike above F, no SHORT target below it")
# categorical dtypes built once (building their string categories costs more than the arithmetic)
_TIER_DTYPE = pd.CategoricalDtype(TIER_NAMES)
_DIRECTION_DTYPE = pd.CategoricalDtype((LONG, SHORT))
_NOTE_DTYPE = pd.CategoricalDtype(SETUP_NOTES)


@dataclass(frozen=True, kw_only=True)
class SpikeTiers:
    """`pipeline.volume_spike.tiers`: volume/OI at or above which each tier starts."""

    EXTREME: float = 50
    VERY_HIGH: float = 30
    HIGH: float = 20


@dataclass(frozen=True, kw_only=True)
class VolumeSpikeConfig:
    """`pipeline.volume_spike` (config/schema/stage.volume_spike.schema.json)."""

    min_vol_oi: float = 10
    min_volume: float = 500
    min_notional: float = 100000
    tiers: SpikeTiers = field(default_factory=SpikeTiers)
    actionable_distance: float = 0.02
    bullish_share: float = 0.65
    bearish_share: float = 0.35

    def __post_init__(self) -> None:
        if not self.bearish_share <= self.bullish_share:
            raise ConfigError(f"`pipeline.volume_spike.bearish_share` ({self.bearish_share:g}) must not exceed "
                              f"`pipeline.volume_spike.bullish_share` ({self.bullish_share:g})")
        t = self.tiers
        if not t.HIGH <= t.VERY_HIGH <= t.EXTREME:
            raise ConfigError(f"`pipeline.volume_spike.tiers`: HIGH <= VERY_HIGH <= EXTREME expected, got "
                              f"{t.HIGH:g}, {t.VERY_HIGH:g}, {t.EXTREME:g}")


class VolumeSpikeAnalysis(PipelineAnalysis):
    """Candidates are all contracts; kept are the spikes, largest notional first."""

    name: ClassVar[str] = "volume_spike"
    config_class: ClassVar[type] = VolumeSpikeConfig
    select_ranks: ClassVar[bool] = True  # `select` builds the spikes in `sort`'s order
    config: VolumeSpikeConfig

    def candidates(self, chain: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        return pd.DataFrame(self._columns(chain, ctx, self._figures(chain, ctx)), index=chain.index)

    def filter_reasons(self, candidates: pd.DataFrame, ctx: AnalysisContext) -> pd.Series:
        return reason_series(self._codes(candidates), self._labels(), candidates.index)

    def prepare(self, chain: pd.DataFrame, ctx: AnalysisContext) -> dict[str, Any]:
        """A holder for `select`'s kept rows as arrays, which `summarize` reads instead of the table."""
        return {}

    def select(self, chain: pd.DataFrame, ctx: AnalysisContext) -> tuple[pd.DataFrame, int, dict[str, int]]:
        figures = self._figures(chain, ctx)  # every contract tested on its figures; a table of the spikes only
        code = figures["code"]  # `_codes` of the figures, counted as `count_codes` counts them
        counts = np.bincount(code, minlength=len(self._labels()))
        dropped = dict(sorted(((label, int(n)) for label, n in zip(self._labels()[1:], counts[1:].tolist()) if n),
                              key=lambda kv: (-kv[1], kv[0])))
        rows = np.flatnonzero(code == 0)
        # in `sort`'s order already (so it has nothing to move: taking rows of a table costs more)
        rows = rows[_rank_order(figures["notional"][rows], figures["vol_oi"][rows],
                                lambda: chain["contract"].to_numpy(dtype=object)[rows])]
        columns = self._kept_columns(chain, ctx, figures, rows)
        kept = fast_frame(columns)
        holder = self.prepared(chain, ctx)
        if isinstance(holder, dict):
            holder["kept"] = (kept, columns, run_tables(chain, ctx).is_call[rows])
        return kept, len(chain), dropped

    def _figures(self, chain: pd.DataFrame, ctx: AnalysisContext) -> dict[str, np.ndarray]:
        """Each contract's volume, open interest, last price, volume/OI and notional: what the tests read."""
        cfg = self.config
        tables = run_tables(chain, ctx)
        volume, oi, last = (tables.quoted(chain, name) for name in ("volume", "open_interest", "last"))
        # vol_oi = where((oi > 0) & (volume > 0), volume / oi, nan), notional = volume * last * multiplier
        # and `_codes`' tests, in one compiled pass
        vol_oi, notional, code = kernels.spike_tests(volume, oi, last, float(ctx.multiplier), float(cfg.min_vol_oi),
                                                     float(cfg.min_volume), float(cfg.min_notional))
        return {"volume": volume, "open_interest": oi, "last": last, "vol_oi": vol_oi, "notional": notional,
                "code": code}

    def _columns(self, chain: pd.DataFrame, ctx: AnalysisContext, figures: dict[str, np.ndarray],
                 rows: np.ndarray | None = None) -> dict[str, Any]:
        """The candidate table's columns for the given row positions (None: every contract)."""
        cfg = self.config
        tables = run_tables(chain, ctx)
        pick = (lambda values: values) if rows is None else (lambda values: values[rows])
        forward = ctx.underlying_price
        strike, is_call = pick(tables.strike), pick(tables.is_call)
        vol_oi = pick(figures["vol_oi"])
        otm_side = np.where(is_call, strike > forward, strike < forward)
        half_way = np.abs(strike - forward) / 2.0
        stop = np.where(is_call, forward - half_way, forward + half_way)
        distance = np.abs(strike - forward) / forward
        t = cfg.tiers
        tier = select_first([vol_oi >= t.EXTREME, vol_oi >= t.VERY_HIGH, vol_oi >= t.HIGH], [0, 1, 2], 3)
        note = select_first([otm_side, strike == forward, is_call], [0, 1, 2], 3)
        return {
            "contract": take_rows(tables.column(chain, "contract"), rows),  # the column itself (or its rows)
            "expiration": pick(tables.expiration),
            "strike": strike,
            "right": take_rows(tables.column(chain, "right"), rows),
            "volume": pick(figures["volume"]),
            "open_interest": pick(figures["open_interest"]),
            "last": pick(figures["last"]),
            "vol_oi": vol_oi,
            "notional": pick(figures["notional"]),
            "tier": pd.Categorical.from_codes(tier, dtype=_TIER_DTYPE, validate=False),
            "direction": pd.Categorical.from_codes(np.where(is_call, 0, 1), dtype=_DIRECTION_DTYPE, validate=False),
            "entry": np.full(strike.shape, forward),
            "target": np.where(otm_side, strike, np.nan),
            "stop": np.where(otm_side, stop, np.nan),
            "distance_pct": distance,
            "actionable": otm_side & (distance <= cfg.actionable_distance),
            "setup_note": pd.Categorical.from_codes(note, dtype=_NOTE_DTYPE, validate=False),
        }

    def _kept_columns(self, chain: pd.DataFrame, ctx: AnalysisContext, figures: dict[str, np.ndarray],
                      rows: np.ndarray) -> dict[str, Any]:
        """`_columns` of these rows, the computed ones in one compiled pass (`kernels.spike_rows`)."""
        cfg = self.config
        tables = run_tables(chain, ctx)
        forward = float(ctx.underlying_price)
        t = cfg.tiers
        strike, is_call, target, stop, distance, tier, note, direction, actionable = kernels.spike_rows(
            rows, tables.strike, tables.is_call, forward, figures["vol_oi"], float(t.EXTREME), float(t.VERY_HIGH),
            float(t.HIGH), float(cfg.actionable_distance))
        return {
            "contract": take_rows(tables.column(chain, "contract"), rows),
            "expiration": tables.expiration[rows],
            "strike": strike,
            "right": take_rows(tables.column(chain, "right"), rows),
            "volume": figures["volume"][rows],
            "open_interest": figures["open_interest"][rows],
            "last": figures["last"][rows],
            "vol_oi": figures["vol_oi"][rows],
            "notional": figures["notional"][rows],
            "tier": pd.Categorical.from_codes(tier, dtype=_TIER_DTYPE, validate=False),
            "direction": pd.Categorical.from_codes(direction, dtype=_DIRECTION_DTYPE, validate=False),
            "entry": np.full(rows.size, forward),
            "target": target,
            "stop": stop,
            "distance_pct": distance,
            "actionable": actionable,
            "setup_note": pd.Categorical.from_codes(note, dtype=_NOTE_DTYPE, validate=False),
        }

    def _codes(self, columns: Any) -> np.ndarray:
        """Each contract's first failing test as a code into `_labels` (0 = a spike); `columns` is the
        candidate table or `_figures`."""
        cfg = self.config
        oi, volume = np.asarray(columns["open_interest"]), np.asarray(columns["volume"])
        return select_first(
            [~(oi > 0), ~(volume > 0),
             np.asarray(columns["vol_oi"]) < cfg.min_vol_oi,
             volume < cfg.min_volume,
             np.isnan(np.asarray(columns["last"])),
             np.asarray(columns["notional"]) < cfg.min_notional],
            [1, 2, 3, 4, 5, 6], 0)

    def _labels(self) -> tuple[str, ...]:
        return _spike_labels(self.config)

    def sort(self, kept: pd.DataFrame, ctx: AnalysisContext) -> pd.DataFrame:
        if len(kept) < 2:
            return kept
        order = _rank_order(kept["notional"].to_numpy(), kept["vol_oi"].to_numpy(),
                            lambda: kept["contract"].to_numpy(dtype=object))
        return kept if (order == np.arange(order.size)).all() else kept.iloc[order]

    def summarize(self, chain: pd.DataFrame, kept: pd.DataFrame, ctx: AnalysisContext) -> dict[str, Any]:
        held = ctx.prepared.get("kept") if isinstance(ctx.prepared, dict) else None
        if held is not None and held[0] is kept:  # `select`'s arrays of this very table
            columns, calls = held[1], held[2]
            notional, tier_codes, actionable = columns["notional"], columns["tier"].codes, columns["actionable"]
        else:
            calls = (kept["right"].to_numpy(dtype=object) == "C")
            notional = kept["notional"].to_numpy(dtype=np.float64)
            tier_codes = np.asarray(kept["tier"].array.codes)
            actionable = kept["actionable"].to_numpy(dtype=bool)
        call_dollars = float(notional[calls].sum())
        put_dollars = float(notional[~calls].sum())
        share, bias = day_bias(call_dollars, put_dollars, self.config)
        tiers = np.bincount(tier_codes, minlength=len(TIER_NAMES))
        return {
            "spikes": int(len(kept)),
            "call_spikes": int(calls.sum()),
            "put_spikes": int((~calls).sum()),
            "call_notional": call_dollars,
            "put_notional": put_dollars,
            "call_share": json_value(share),
            "day_bias": bias,
            "tiers": {name: int(tiers[i]) for i, name in enumerate(TIER_NAMES)},
            "actionable": int(actionable.sum()),
        }


@lru_cache(maxsize=64)
def _spike_labels(cfg: VolumeSpikeConfig) -> tuple[str, ...]:
    """Why a contract is not a spike, by code (`_codes`; code 0, "", is a spike), once per config."""
    return ("", "no open interest", "no volume",
            f"volume/OI below min_vol_oi ({cfg.min_vol_oi:g})",
            f"volume below min_volume ({cfg.min_volume:g})",
            "no last price",
            f"notional below min_notional (${cfg.min_notional:,.0f})")


def _rank_order(notional: np.ndarray, vol_oi: np.ndarray, names: Callable[[], np.ndarray]) -> np.ndarray:
    """Positions by notional (high first), then volume/OI (high), then contract name; `names` is
    called only when two spikes tie on both figures (comparing names costs more than the rest)."""
    order = np.lexsort((-vol_oi, -notional))
    ranked_notional, ranked_vol_oi = notional[order], vol_oi[order]
    if ((ranked_notional[1:] == ranked_notional[:-1]) & (ranked_vol_oi[1:] == ranked_vol_oi[:-1])).any():
        contract_rank = np.unique(np.asarray(names(), dtype=object).astype(str), return_inverse=True)[1]
        order = np.lexsort((contract_rank, -vol_oi, -notional))
    return order


def day_bias(call_dollars: float, put_dollars: float, config: VolumeSpikeConfig) -> tuple[float, str]:
    """(calls' share of spike dollars, BULLISH / BEARISH / MIXED / NO_SPIKES)."""
    total = call_dollars + put_dollars
    if total <= 0:
        return float("nan"), BIAS_NONE
    share = call_dollars / total
    if share > config.bullish_share:
        return share, BIAS_BULLISH
    if share < config.bearish_share:
        return share, BIAS_BEARISH
    return share, BIAS_MIXED
