"""Every figure of the shadow-trading reports, read from the run's ledger by query.

The reports never keep numbers of their own: each table here is one SELECT over ledger rows (for
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
from ..state.ledger import Ledger

SIGNALS_SQL = """
SELECT s.signal_id, s.day, s.sim_time, s.source, s.algorithm, s.traded_source, s.instrument, s.contract,
       s.strike, s.option_right, s.direction, s.entry_reference, s.target, s.stop, s.confidence, s.tier,
       s.expected_value_points, v.score, v.passed, v.false_positive, v.technical, v.market_context,
       v.time_of_day, v.history, v.reasons_json,
       o.resolved_at, o.exit_reason, o.exit_reference, o.move_points, o.correct, o.pnl_points, o.pnl_usd,
       o.costs_usd, e.status AS order_status, e.reason AS order_reason, p.entry_price, p.exit_price
FROM signals s
JOIN validations v ON v.signal_id = s.signal_id
LEFT JOIN outcomes o ON o.signal_id = s.signal_id
LEFT JOIN orders e ON e.signal_id = s.signal_id AND e.purpose = 'entry'
LEFT JOIN positions p ON p.signal_id = s.signal_id
{where}
ORDER BY s.sim_time, s.signal_id
"""

TRADES_SQL = """
SELECT o.signal_id, o.day, s.source, o.pnl_usd, o.pnl_points, o.costs_usd, o.resolved_at AS exit_time,
       o.exit_reason
FROM outcomes o JOIN signals s ON s.signal_id = o.signal_id
WHERE o.position_id IS NOT NULL {and_day}
ORDER BY o.resolved_at, o.signal_id
"""


def _where(day: str | None, column: str = "s.day") -> tuple[str, tuple[Any, ...]]:
    return (f"WHERE {column} = ?", (day,)) if day else ("", ())


def signals_table(ledger: Ledger, day: str | None = None) -> pd.DataFrame:
    """One row per signal with its validation, outcome, entry order and position."""
    where, params = _where(day)
    frame = ledger.frame(SIGNALS_SQL.format(where=where), params)
    frame["reasons"] = [json.loads(r) if isinstance(r, str) else [] for r in frame["reasons_json"]]
    return frame.drop(columns=["reasons_json"])


def trades_table(ledger: Ledger, day: str | None = None) -> pd.DataFrame:
    """Closed paper trades, in the order they closed."""
    and_day = "AND o.day = ?" if day else ""
    return ledger.frame(TRADES_SQL.format(and_day=and_day), (day,) if day else ())


def observations_table(ledger: Ledger, day: str | None = None) -> pd.DataFrame:
    where, params = _where(day, "day")
    return ledger.frame(f"SELECT * FROM observations {where} ORDER BY sim_time, event_index", params)


def costs_by_kind(ledger: Ledger, day: str | None = None) -> dict[str, float]:
    where, params = _where(day, "day")
    rows = ledger.rows(f"SELECT kind, SUM(amount_usd) AS usd FROM costs {where} GROUP BY kind", params)
    out = {"commission": 0.0, "data": 0.0}
    out.update({r["kind"]: float(r["usd"]) for r in rows})
    return out


def refusals(ledger: Ledger, day: str | None = None) -> dict[str, int]:
    """Refused entry orders by reason code (the text before the colon)."""
    where, params = _where(day, "day")
    rows = ledger.rows(f"SELECT reason FROM orders {where} {'AND' if where else 'WHERE'} status = 'refused'", params)
    out: dict[str, int] = {}
    for row in rows:
        code = str(row["reason"]).split(":")[0]
        out[code] = out.get(code, 0) + 1
    return out


def controls_table(ledger: Ledger, day: str | None = None) -> list[dict[str, Any]]:
    rows = ledger.rows("SELECT control_id, command, reason, requested_by, requested_at, status, applied_at, "
                       "applied_event FROM controls ORDER BY control_id")
    if day:
        rows = [r for r in rows if (r["applied_event"] or "").startswith(day)]
    return rows


def latency_table(ledger: Ledger, day: str | None = None) -> dict[str, dict[str, Any]]:
    """p50/p95/p99 per metric (data_load, algorithm:<name>, validation, cycle) from perf_latency."""
    where, params = _where(day, "day")
    frame = ledger.frame(f"SELECT metric, ms FROM perf_latency {where}", params)
    return {metric: metrics.percentiles(group["ms"]) for metric, group in frame.groupby("metric", sort=True)}


def process_table(ledger: Ledger, day: str | None = None) -> dict[str, Any]:
    where, params = _where(day, "day")
    frame = ledger.frame(f"SELECT cpu_percent, cpu_seconds, rss_mb FROM perf_process {where} ORDER BY id", params)
    if frame.empty:
        return {"samples": 0, "cpu_percent_mean": None, "cpu_percent_max": None, "rss_mb_max": None,
                "cpu_seconds": None}
    return {"samples": int(len(frame)), "cpu_percent_mean": _num(frame["cpu_percent"].mean()),
            "cpu_percent_max": _num(frame["cpu_percent"].max()), "rss_mb_max": _num(frame["rss_mb"].max()),
            "cpu_seconds": _num(frame["cpu_seconds"].max())}


def daily_summaries(ledger: Ledger) -> pd.DataFrame:
    return ledger.frame("SELECT * FROM daily_summaries ORDER BY day")


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
