"""Judging futures strategies honestly: each strategy alone, trades simulated on the ticks, and a
walk-forward split so parameters are never judged on the days that chose them.

`evaluate` runs one strategy (with given settings) over sessions of ticks: its decisions come
from the tick decision engine (1 contract, the aggregator's cool-down), one position at a time
(an intent while a position is open is skipped), entries at the first tick after the decision
plus slippage, exits on ticks (`exits.simulate_exits`), commission per side. Figures per strategy:
trades, win rate, net P&L, profit factor, max drawdown, Sharpe / Sortino / Calmar of daily net P&L
(`metrics`), average entry slippage against the intent's reference price.

`walk_forward` tries every candidate setting on the first `in_sample_share` of the days, keeps the
one with the best in-sample Sharpe, and reports it on the remaining days only. A strategy meets
the bar the tick-execution system set (Sharpe >= 1.2 and Calmar >= 0.8) only out of sample.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..results import metrics
from ..sizing import build_sizer
from . import build_strategies
from .aggregator import AggregatorSettings, SignalAggregator
from .base import LONG, MarketState
from .engine import SizingInputs, TickDecisionEngine
from .exits import simulate_exits

BAR_SHARPE = 1.2
BAR_CALMAR = 0.8


@dataclass(frozen=True)
class Session:
    """One trading day of ticks of the traded future."""

    day: str
    ts_ns: np.ndarray
    price: np.ndarray
    size: np.ndarray
    end_ns: int


@dataclass(frozen=True)
class Costs:
    multiplier: float = 2.0          # MNQ
    slippage_points: float = 0.25    # one NQ tick per market order
    commission_usd: float = 0.62     # per contract per side
    trail_points: float = 0.0        # trailing stop distance (0 = none)


@dataclass(frozen=True)
class TradeRecord:
    day: str
    strategy: str
    direction: str
    decision_ns: int
    entry_ns: int
    entry_price: float
    reference_price: float
    exit_ns: int
    exit_price: float
    exit_reason: str
    pnl_usd: float


@dataclass(frozen=True)
class StrategyResult:
    strategy: str
    settings: Mapping[str, Any]
    days: list[str]
    trades: list[TradeRecord] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        pnl = np.array([t.pnl_usd for t in self.trades])
        daily = {d: 0.0 for d in self.days}
        for t in self.trades:
            daily[t.day] += t.pnl_usd
        daily_pnl = list(daily.values())
        wins = pnl[pnl > 0]
        losses = -pnl[pnl < 0]
        slippage = [abs(t.entry_price - t.reference_price) for t in self.trades]
        return {
            "strategy": self.strategy, "days": len(self.days), "trades": int(pnl.size),
            "win_rate": metrics.ratio(float(wins.size), float(pnl.size)),
            "net_pnl_usd": float(pnl.sum()),
            "profit_factor": metrics.ratio(float(wins.sum()), float(losses.sum())),
            "max_drawdown_usd": metrics.max_drawdown(np.array(daily_pnl)),
            "sharpe": metrics.sharpe(daily_pnl), "sortino": metrics.sortino(daily_pnl),
            "calmar": metrics.calmar(daily_pnl),
            "average_slippage_points": float(np.mean(slippage)) if slippage else None,
        }


def evaluate(strategy: str, settings: Mapping[str, Any], sessions: Sequence[Session], costs: Costs = Costs(),
             aggregator: AggregatorSettings = AggregatorSettings(),
             term_structure: Callable[[int], MarketState] | None = None) -> StrategyResult:
    """`strategy` alone over `sessions`; `term_structure`: the options' term structure as of an instant
    (what the volatility carry reads), None when there is none."""
    engine = TickDecisionEngine(build_strategies({strategy: settings}), SignalAggregator(aggregator),
                                build_sizer("fixed"), sizing=SizingInputs(equity_usd=math.nan, multiplier=costs.multiplier),
                                term_structure=term_structure)
    trades: list[TradeRecord] = []
    for session in sessions:
        decisions = [d for d in engine.replay(session.ts_ns, session.price, session.size, session.end_ns)
                     if d.intent is not None and d.size is not None and d.size.contracts > 0]
        if not decisions:
            continue
        intents = [d.intent for d in decisions]
        sign = np.array([1.0 if i.direction == LONG else -1.0 for i in intents])
        fills = simulate_exits(session.ts_ns, session.price, np.array([i.time_ns for i in intents]), sign,
                               np.array([i.stop for i in intents]), np.array([i.target for i in intents]),
                               np.full(len(intents), costs.trail_points), slippage=costs.slippage_points)
        busy_until = -1
        for intent, s, fill in zip(intents, sign, fills):
            if fill is None or fill.entry_ns <= busy_until:
                continue
            busy_until = fill.exit_ns
            points = (fill.exit_price - fill.entry_price) * s
            trades.append(TradeRecord(session.day, strategy, intent.direction, intent.time_ns, fill.entry_ns,
                                      fill.entry_price, intent.entry_reference, fill.exit_ns, fill.exit_price,
                                      fill.exit_reason, points * costs.multiplier - 2 * costs.commission_usd))
    return StrategyResult(strategy, dict(settings), [s.day for s in sessions], trades)


@dataclass(frozen=True)
class WalkForward:
    strategy: str
    candidates: int
    chosen: Mapping[str, Any]
    in_sample: dict[str, Any]
    out_of_sample: dict[str, Any]

    @property
    def meets_bar(self) -> bool:
        sharpe, calmar = self.out_of_sample.get("sharpe"), self.out_of_sample.get("calmar")
        return sharpe is not None and calmar is not None and sharpe >= BAR_SHARPE and calmar >= BAR_CALMAR


def walk_forward(strategy: str, candidates: Sequence[Mapping[str, Any]], sessions: Sequence[Session],
                 costs: Costs = Costs(), in_sample_share: float = 0.6,
                 aggregator: AggregatorSettings = AggregatorSettings(),
                 term_structure: Callable[[int], MarketState] | None = None) -> WalkForward:
    if not candidates:
        raise ValueError(f"walk-forward of {strategy}: no candidate settings")
    split = int(round(len(sessions) * in_sample_share))
    if split < 2 or len(sessions) - split < 2:
        raise ValueError(f"walk-forward of {strategy}: {len(sessions)} days cannot be split into at least 2 "
                         f"in-sample and 2 out-of-sample days at {in_sample_share:.0%}")
    first, rest = sessions[:split], sessions[split:]
    scored = []
    for settings in candidates:
        figures = evaluate(strategy, settings, first, costs, aggregator, term_structure).figures()
        sharpe = figures["sharpe"]
        scored.append(((sharpe if sharpe is not None else -math.inf, figures["net_pnl_usd"]), settings, figures))
    _, chosen, in_figures = max(scored, key=lambda item: item[0])
    out_figures = evaluate(strategy, chosen, rest, costs, aggregator, term_structure).figures()
    return WalkForward(strategy, len(candidates), dict(chosen), in_figures, out_figures)
