"""Judging each futures strategy of a tick-execution run: what it did in the run, and walk-forward.

Per strategy, two views, both in the per-strategy reports:
- **in the run** (from the ledger, by named query): intents, taken, refused (with reasons), trades
  its positions made through sizing, the guards and the broker, win rate, net P&L, profit factor,
  max drawdown, Sharpe / Sortino / Calmar of its daily net P&L (every run day counts, a day without
  a trade at 0) and the average entry slippage against the intent's reference price;
- **walk-forward** (`strategies_futures/evaluation.py`, on the recorded days of a replay): the
  strategy alone, each candidate setting (`tick_execution.walk_forward.candidates`) tried on the
  first `in_sample_share` of the days, the best in-sample Sharpe kept and judged only on the rest;
  both reported, and whether the out-of-sample figures meet the bar (Sharpe >= 1.2 and Calmar
  >= 0.8). Too few days to split is said, not papered over. A live run keeps no ticks to judge on.
Results on generated sessions carry `is_sample` and say nothing about the market.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

import numpy as np

from ...data_ingestion.ticks.feed import ReplayTickFeed
from ...state import queries
from ...state.ledger import Ledger
from .feeds.term_structure_source import TermStructureSource
from .results import metrics
from .strategies_futures.base import MarketState
from .strategies_futures.evaluation import BAR_CALMAR, BAR_SHARPE, Costs, Session, walk_forward
from .tick_config import TickExecutionConfig

log = logging.getLogger(__name__)


def run_figures(ledger: Ledger, strategy: str, days: list[str]) -> dict[str, Any]:
    """One strategy's figures in the run, from its ledger rows."""
    intents = queries.strategy_intents(ledger, strategy)
    trades = queries.strategy_trades(ledger, strategy)
    pnl = trades["pnl_usd"].to_numpy(dtype="float64") if len(trades) else np.zeros(0)
    daily = {d: 0.0 for d in days}
    for day, value in zip(trades["day"] if len(trades) else [], pnl):
        daily[day] = daily.get(day, 0.0) + float(value)
    daily_pnl = list(daily.values())
    wins, losses = pnl[pnl > 0], -pnl[pnl < 0]
    slippage = trades["entry_slippage_points"].dropna().to_numpy(dtype="float64") if len(trades) else np.zeros(0)
    verdicts = intents["tier"].value_counts().to_dict() if len(intents) else {}
    refusals = intents["refusal"].dropna().map(lambda r: str(r).split(":", 1)[0]).value_counts().to_dict() \
        if len(intents) else {}
    return {
        "intents": int(len(intents)), "verdicts": {str(k): int(v) for k, v in sorted(verdicts.items())},
        "refusals": {str(k): int(v) for k, v in sorted(refusals.items())},
        "trades": int(pnl.size), "win_rate": metrics.ratio(float(wins.size), float(pnl.size)),
        "net_pnl_usd": float(pnl.sum()), "profit_factor": metrics.ratio(float(wins.sum()), float(losses.sum())),
        "max_drawdown_usd": metrics.max_drawdown(np.array(daily_pnl)),
        "sharpe": metrics.sharpe(daily_pnl), "sortino": metrics.sortino(daily_pnl),
        "calmar": metrics.calmar(daily_pnl),
        "average_slippage_points": float(slippage.mean()) if slippage.size else None,
        "daily_pnl_usd": {d: round(v, 2) for d, v in daily.items()},
    }


def recorded_sessions(folder: Any, config: TickExecutionConfig, days: Iterable[str]) -> list[Session]:
    """The run's days of a recording as walk-forward sessions (the session window's ticks)."""
    wanted = set(days)
    settings = config.feed_settings.get("replay", {})
    feed = ReplayTickFeed(folder, symbol=settings.get("symbol"), pattern=str(settings.get("pattern", "*.dbn*")))
    sessions = []
    for tick_day in feed.days():
        t = tick_day.ticks
        label = config.session.day_of(int(t.ts_ns[0]))
        if label not in wanted:
            continue
        start, end = config.session.bounds(label)
        lo, hi = np.searchsorted(t.ts_ns, [start, end], side="left")
        sessions.append(Session(label, t.ts_ns[lo:hi], t.price[lo:hi], t.size[lo:hi], end))
    return sessions


def walk_forward_figures(strategy: str, config: TickExecutionConfig, sessions: list[Session],
                         term_structure: Callable[[int], MarketState] | None = None) -> dict[str, Any]:
    """The walk-forward of one strategy, or why there is none."""
    if not sessions:
        return {"available": False, "reason": "no recorded ticks to judge on (a live run keeps none)"}
    candidates = config.candidates.get(strategy) or (dict(config.strategies[strategy]),)
    costs = Costs(multiplier=config.multiplier, slippage_points=config.slippage_points,
                  commission_usd=config.commission, trail_points=config.trail_points)
    try:
        result = walk_forward(strategy, candidates, sessions, costs, config.in_sample_share, config.aggregator,
                              term_structure)
    except ValueError as exc:
        return {"available": False, "reason": str(exc)}
    split = len(sessions) - result.out_of_sample["days"]
    return {"available": True, "candidates": result.candidates, "chosen": dict(result.chosen),
            "in_sample_days": [s.day for s in sessions[:split]], "out_of_sample_days": [s.day for s in sessions[split:]],
            "in_sample": result.in_sample, "out_of_sample": result.out_of_sample, "meets_bar": result.meets_bar}


NEEDS_TERM_STRUCTURE = ("volatility_carry",)


def judge_strategies(ledger: Ledger, config: TickExecutionConfig, days: list[str], *, replay_dir: Any | None,
                     is_sample: bool, term_structure: TermStructureSource | None = None) -> dict[str, Any]:
    """The per-strategy document every strategy report is cut from. `term_structure`: the options'
    ATM IV term structure (from chain snapshots) the volatility carry read, None when the run had none."""
    sessions = recorded_sessions(replay_dir, config, days) if replay_dir is not None else []
    strategies = {}
    for name in config.strategies:
        log.info("judging %s (walk-forward over %d day(s))", name, len(sessions))
        notes = []
        if name in NEEDS_TERM_STRUCTURE and term_structure is None:
            notes.append("reads the options' ATM IV term structure (front vs next expiration) from chain snapshots; "
                         "this run had none, so it could not decide: a missing input, not a verdict on the rule")
        elif name in NEEDS_TERM_STRUCTURE:
            notes.append(f"term structure: front vs next expiration ATM IV (pipeline greeks stage) of "
                         f"{len(term_structure.points)} chain snapshot(s) from {term_structure.origin}"
                         f"{' (SAMPLE DATA)' if term_structure.is_sample else ''}; each bar sees the latest "
                         f"snapshot taken at or before its end")
        strategies[name] = {"strategy": name, "settings": dict(config.strategies[name]), "notes": notes,
                            "run": run_figures(ledger, name, days),
                            "walk_forward": walk_forward_figures(
                                name, config, sessions,
                                term_structure.at if term_structure is not None and name in NEEDS_TERM_STRUCTURE
                                else None)}
    return {"is_sample": is_sample, "days": days,
            "bar": {"sharpe": BAR_SHARPE, "calmar": BAR_CALMAR, "judged": "out of sample (walk-forward)"},
            "in_sample_share": config.in_sample_share, "strategies": strategies}
