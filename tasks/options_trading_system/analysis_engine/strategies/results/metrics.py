"""Outcome metrics: every figure here is computed from resolved signals and closed paper trades.

Definitions (the reports say the same):
- accuracy: share of resolved signals that moved their way (target hit, or ahead at session end);
- validation rate: share of signals the validation engine passed;
- false-positive rate: share of *passed* signals (resolved) that went against their direction;
- flag precision: share of signals flagged "likely false positive" that did go wrong;
- win rate: share of closed paper trades with a net profit (after slippage and commission);
- profit factor: gross profit / gross loss of closed trades (None when there is no loss yet);
- max drawdown: largest fall of the cumulative net P&L from its running peak (starting at 0);
- Sharpe: mean / standard deviation of daily net P&L x sqrt(252) (None with fewer than 2 days).
- Sortino: mean / downside deviation of daily net P&L x sqrt(252), the downside deviation being
  sqrt(mean(min(P&L, 0)^2)) over all days (None with fewer than 2 days or no losing day);
- Calmar: annualised net P&L (mean daily x 252) / max drawdown of the daily equity curve (None
  with no drawdown).
A figure that cannot be computed is None (shown as "missing"), never 0.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

TRADING_DAYS_PER_YEAR = 252


def ratio(numerator: float, denominator: float) -> float | None:
    return None if not denominator else float(numerator) / float(denominator)


def signal_metrics(signals: pd.DataFrame) -> dict[str, Any]:
    """From one row per signal with `passed`, `false_positive` (validation) and `correct`
    (outcome; NaN/None while unresolved or when the outcome is missing)."""
    n = len(signals)
    correct = pd.to_numeric(signals["correct"], errors="coerce") if n else pd.Series(dtype="float64")
    passed = signals["passed"].fillna(0).astype(bool) if n else pd.Series(dtype="bool")
    flagged = signals["false_positive"].fillna(0).astype(bool) if n else pd.Series(dtype="bool")
    resolved = correct.notna()
    passed_resolved = passed & resolved
    flagged_resolved = flagged & resolved
    return {
        "signals": n,
        "resolved": int(resolved.sum()),
        "correct": int((correct == 1).sum()),
        "accuracy": ratio(float((correct == 1).sum()), float(resolved.sum())),
        "validated": int(passed.sum()),
        "validation_rate": ratio(float(passed.sum()), float(n)),
        "validated_resolved": int(passed_resolved.sum()),
        "false_positives": int((passed_resolved & (correct == 0)).sum()),
        "false_positive_rate": ratio(float((passed_resolved & (correct == 0)).sum()), float(passed_resolved.sum())),
        "flagged": int(flagged.sum()),
        "flag_precision": ratio(float((flagged_resolved & (correct == 0)).sum()), float(flagged_resolved.sum())),
    }


def trade_metrics(trades: pd.DataFrame) -> dict[str, Any]:
    """From closed trades (`pnl_usd`, `pnl_points`, `exit_time`), in the order they closed."""
    trades = trades.dropna(subset=["pnl_usd"]).sort_values(["exit_time", "signal_id"], kind="stable") \
        if len(trades) else trades
    pnl = trades["pnl_usd"].to_numpy(dtype="float64") if len(trades) else np.zeros(0)
    wins = pnl > 0
    gross_profit = float(pnl[wins].sum())
    gross_loss = float(-pnl[pnl < 0].sum())
    return {
        "trades": int(pnl.size),
        "wins": int(wins.sum()),
        "losses": int((pnl < 0).sum()),
        "win_rate": ratio(float(wins.sum()), float(pnl.size)),
        "pnl_points": float(trades["pnl_points"].sum()) if len(trades) else 0.0,
        "pnl_usd": float(pnl.sum()),
        "gross_profit_usd": gross_profit,
        "gross_loss_usd": gross_loss,
        "profit_factor": ratio(gross_profit, gross_loss),
        "max_drawdown_usd": max_drawdown(pnl),
        "costs_usd": float(trades["costs_usd"].sum()) if len(trades) and "costs_usd" in trades else 0.0,
    }


def equity_curve(pnl: Iterable[float]) -> np.ndarray:
    """Cumulative net P&L after each trade."""
    return np.cumsum(np.asarray(list(pnl), dtype="float64"))


def max_drawdown(pnl: np.ndarray) -> float:
    """Largest peak-to-trough fall of the equity curve that starts at 0 (0.0 with no trades)."""
    if len(pnl) == 0:
        return 0.0
    equity = np.concatenate([[0.0], np.cumsum(pnl)])
    return float(np.max(np.maximum.accumulate(equity) - equity))


def sharpe(daily_pnl: Iterable[float]) -> float | None:
    """Annualized Sharpe of daily net P&L (dollars); None with < 2 days or no variation."""
    values = _finite(daily_pnl)
    if values.size < 2:
        return None
    sd = float(values.std(ddof=1))
    if sd == 0:
        return None
    return float(values.mean() / sd * math.sqrt(TRADING_DAYS_PER_YEAR))


def sortino(daily_pnl: Iterable[float]) -> float | None:
    """Annualized Sortino of daily net P&L; None with < 2 days or no losing day."""
    values = _finite(daily_pnl)
    if values.size < 2:
        return None
    downside = float(np.sqrt(np.mean(np.minimum(values, 0.0) ** 2)))
    if downside == 0:
        return None
    return float(values.mean() / downside * math.sqrt(TRADING_DAYS_PER_YEAR))


def calmar(daily_pnl: Iterable[float]) -> float | None:
    """Annualized daily net P&L over the max drawdown of the daily equity curve; None with no
    days or no drawdown."""
    values = _finite(daily_pnl)
    drawdown = max_drawdown(values)
    if values.size == 0 or drawdown == 0:
        return None
    return float(values.mean() * TRADING_DAYS_PER_YEAR / drawdown)


def _finite(values: Iterable[float]) -> np.ndarray:
    return np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype="float64")


def percentiles(samples_ms: Iterable[float]) -> dict[str, float | None]:
    """p50/p95/p99 (and count, max) of latency samples in milliseconds; None without samples."""
    values = np.asarray(list(samples_ms), dtype="float64")
    if values.size == 0:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"count": int(values.size), "p50": float(p50), "p95": float(p95), "p99": float(p99),
            "max": float(values.max())}
