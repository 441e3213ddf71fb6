"""Every figure of the shadow-trading reports, read from the run's ledger by query.

The reports never keep numbers of their own: each table here is one named query over ledger rows (`state/report_queries.py`) (for
a day, or the whole run when `day` is None), and the metrics are computed from those rows by
`analysis_engine/strategies/results/metrics.py`, the same functions the orchestrator's daily summary and
the production monitor use.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from ..analysis_engine.strategies.results import metrics
from ..state import report_queries as q
from ..state.ledger import Ledger

def signals_table(ledger: Ledger, day: str | None = None) -> pd.DataFrame:
    """One row per signal with its validation, outcome, entry order and position."""
    frame = q.report_signals(ledger, day)
    frame["reasons"] = [json.loads(r) if isinstance(r, str) else [] for r in frame["reasons_json"]]
    return frame.drop(columns=["reasons_json"])


def trades_table(ledger: Ledger, day: str | None = None) -> pd.DataFrame:
    """Closed paper trades, in the order they closed."""
    return q.report_trades(ledger, day)


def observations_table(ledger: Ledger, day: str | None = None) -> pd.DataFrame:
    return q.observations(ledger, day)


def costs_by_kind(ledger: Ledger, day: str | None = None) -> dict[str, float]:
    rows = q.costs_by_kind(ledger, day)
    out = {"commission": 0.0, "data": 0.0}
    out.update({r["kind"]: float(r["usd"]) for r in rows})
    return out


def refusals(ledger: Ledger, day: str | None = None) -> dict[str, int]:
    """Refused entry orders by reason code (the text before the colon)."""
    out: dict[str, int] = {}
    for reason in q.refused_order_reasons(ledger, day):
        code = str(reason).split(":")[0]
        out[code] = out.get(code, 0) + 1
    return out


def controls_table(ledger: Ledger, day: str | None = None) -> list[dict[str, Any]]:
    rows = q.controls(ledger)
    if day:
        rows = [r for r in rows if (r["applied_event"] or "").startswith(day)]
    return rows


def latency_table(ledger: Ledger, day: str | None = None) -> dict[str, dict[str, Any]]:
    """p50/p95/p99 per metric (data_load, algorithm:<name>, validation, cycle) from perf_latency."""
    frame = q.latencies(ledger, day)
    return {metric: metrics.percentiles(group["ms"]) for metric, group in frame.groupby("metric", sort=True)}


def process_table(ledger: Ledger, day: str | None = None) -> dict[str, Any]:
    frame = q.process_samples(ledger, day)
    if frame.empty:
        return {"samples": 0, "cpu_percent_mean": None, "cpu_percent_max": None, "rss_mb_max": None,
                "cpu_seconds": None}
    return {"samples": int(len(frame)), "cpu_percent_mean": _num(frame["cpu_percent"].mean()),
            "cpu_percent_max": _num(frame["cpu_percent"].max()), "rss_mb_max": _num(frame["rss_mb"].max()),
            "cpu_seconds": _num(frame["cpu_seconds"].max())}


def daily_summaries(ledger: Ledger) -> pd.DataFrame:
    return q.daily_summaries(ledger)


def equity_points(trades: pd.DataFrame) -> list[dict[str, Any]]:
    """Cumulative net P&L after each closed trade (time, equity). A trade whose P&L is missing
    (no exit price) is left out, as `metrics.trade_metrics` leaves it out: it is not a $0 trade."""
    if not len(trades):
        return []
    known = trades[trades["pnl_usd"].notna()]
    equity = metrics.equity_curve(known["pnl_usd"].astype("float64"))
    return [{"time": str(t), "equity_usd": float(e)} for t, e in zip(known["exit_time"], equity)]


def _num(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None
