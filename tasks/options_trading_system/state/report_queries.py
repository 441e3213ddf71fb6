"""Named queries behind the shadow reports and the monitor's dashboard.

Each answers one question about a run's ledger, for one day or (with `day=None`) the whole run;
tables come back as DataFrames, single rows as dicts (None when absent). The figures computed from
them live with the reports (`output_generation/shadow_figures.py`) and the monitor
(`monitoring/ledger_reader.py`); the SQL lives here, beside the schema.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .ledger import CONTROL_HALT, CONTROL_RESUME
from .reading import LedgerReading, first_row

REPORT_SIGNALS_SQL = """
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

REPORT_TRADES_SQL = """
SELECT o.signal_id, o.day, s.source, o.pnl_usd, o.pnl_points, o.costs_usd, o.resolved_at AS exit_time,
       o.exit_reason
FROM outcomes o JOIN signals s ON s.signal_id = o.signal_id
WHERE o.position_id IS NOT NULL {and_day}
ORDER BY o.resolved_at, o.signal_id
"""

MONITOR_SIGNALS_SQL = """
SELECT s.signal_id, s.day, s.sim_time, s.source, s.algorithm, s.traded_source, s.instrument, s.contract,
       s.direction, s.entry_reference, s.target, s.stop, s.confidence, s.tier,
       v.score AS validation_score, v.passed, v.false_positive,
       o.correct, o.exit_reason, o.pnl_usd, o.resolved_at, o.position_id AS outcome_position,
       p.status AS position_status,
       (SELECT r.reason FROM orders r WHERE r.signal_id = s.signal_id AND r.status = 'refused'
        ORDER BY r.sim_time DESC, r.order_id DESC LIMIT 1) AS refusal
FROM signals s
LEFT JOIN validations v ON v.signal_id = s.signal_id
LEFT JOIN outcomes o ON o.signal_id = s.signal_id
LEFT JOIN positions p ON p.signal_id = s.signal_id
ORDER BY s.sim_time, s.signal_id
"""

MONITOR_TRADES_SQL = """
SELECT o.signal_id, o.day, o.pnl_usd, o.pnl_points, o.costs_usd, COALESCE(p.exit_time, o.resolved_at) AS exit_time
FROM outcomes o JOIN positions p ON p.position_id = o.position_id
WHERE o.pnl_usd IS NOT NULL
"""

OPEN_POSITIONS_SQL = """
SELECT position_id, signal_id, source, instrument, contract, direction, quantity, multiplier, entry_time,
       entry_price, target, stop, option_strike, option_right, option_iv, option_expiration
FROM positions WHERE exit_time IS NULL ORDER BY entry_time, position_id
"""


def _where(day: str | None, column: str = "s.day") -> tuple[str, tuple[Any, ...]]:
    return (f"WHERE {column} = ?", (day,)) if day else ("", ())


# --- the reports ------------------------------------------------------------------------------

def report_signals(ledger: LedgerReading, day: str | None = None) -> pd.DataFrame:
    """One row per validated signal with its validation, outcome, entry order and position."""
    where, params = _where(day)
    return ledger.frame(REPORT_SIGNALS_SQL.format(where=where), params)


def report_trades(ledger: LedgerReading, day: str | None = None) -> pd.DataFrame:
    """Closed paper trades (with the signal's source), in the order they closed."""
    and_day = "AND o.day = ?" if day else ""
    return ledger.frame(REPORT_TRADES_SQL.format(and_day=and_day), (day,) if day else ())


def observations(ledger: LedgerReading, day: str | None = None) -> pd.DataFrame:
    where, params = _where(day, "day")
    return ledger.frame(f"SELECT * FROM observations {where} ORDER BY sim_time, event_index", params)


def costs_by_kind(ledger: LedgerReading, day: str | None = None) -> list[dict[str, Any]]:
    """(kind, usd) sums of the cost rows."""
    where, params = _where(day, "day")
    return ledger.rows(f"SELECT kind, SUM(amount_usd) AS usd FROM costs {where} GROUP BY kind", params)


def refused_order_reasons(ledger: LedgerReading, day: str | None = None) -> list[str]:
    where, params = _where(day, "day")
    rows = ledger.rows(f"SELECT reason FROM orders {where} {'AND' if where else 'WHERE'} status = 'refused'", params)
    return [r["reason"] for r in rows]


def controls(ledger: LedgerReading) -> list[dict[str, Any]]:
    """Every control request, oldest first."""
    return ledger.rows("SELECT control_id, command, reason, requested_by, requested_at, status, applied_at, "
                       "applied_event FROM controls ORDER BY control_id")


def latencies(ledger: LedgerReading, day: str | None = None) -> pd.DataFrame:
    """(metric, ms) of every latency sample."""
    where, params = _where(day, "day")
    return ledger.frame(f"SELECT metric, ms FROM perf_latency {where}", params)


def process_samples(ledger: LedgerReading, day: str | None = None) -> pd.DataFrame:
    where, params = _where(day, "day")
    return ledger.frame(f"SELECT cpu_percent, cpu_seconds, rss_mb FROM perf_process {where} ORDER BY id", params)


def daily_summaries(ledger: LedgerReading) -> pd.DataFrame:
    return ledger.frame("SELECT * FROM daily_summaries ORDER BY day")


def day_summary_json(ledger: LedgerReading, day: str) -> str | None:
    return ledger.scalar("SELECT summary_json FROM daily_summaries WHERE day = ?", (day,))


def signal_count(ledger: LedgerReading, day: str) -> int:
    return int(ledger.scalar("SELECT COUNT(*) FROM signals WHERE day = ?", (day,)) or 0)


def observation_count(ledger: LedgerReading, kind: str, day: str | None = None) -> int:
    """Events of `kind` (chain / mbo) observed, on `day` or in the whole run."""
    where = "AND day = ?" if day else ""
    params: tuple[Any, ...] = (day,) if day else ()
    return int(ledger.scalar(f"SELECT COUNT(*) FROM observations WHERE kind = ? {where}", (kind, *params)) or 0)


# --- the monitor ------------------------------------------------------------------------------

def run_row(ledger: LedgerReading) -> dict[str, Any] | None:
    return first_row(ledger, "SELECT run_id, mode, profile, config_json, start_date, days, trading_days_json, "
                             "status, status_reason, status_at FROM runs")


def progress_row(ledger: LedgerReading) -> dict[str, Any] | None:
    return first_row(ledger, "SELECT day, event_index, sim_time, transactions FROM progress WHERE id = 1")


def monitor_signals(ledger: LedgerReading) -> pd.DataFrame:
    """Every signal with its validation, outcome, position status and latest refusal."""
    return ledger.frame(MONITOR_SIGNALS_SQL)


def monitor_trades(ledger: LedgerReading) -> pd.DataFrame:
    """Closed trades with a P&L, timed at their position's exit."""
    return ledger.frame(MONITOR_TRADES_SQL)


def open_positions(ledger: LedgerReading) -> pd.DataFrame:
    """Positions not yet exited, with what valuing them needs."""
    return ledger.frame(OPEN_POSITIONS_SQL)


def last_price(ledger: LedgerReading) -> dict[str, Any] | None:
    """The newest observed futures price and its time."""
    return first_row(ledger, "SELECT price, sim_time FROM observations WHERE price IS NOT NULL "
                             "ORDER BY sim_time DESC, event_index DESC LIMIT 1")


def last_session(ledger: LedgerReading) -> dict[str, Any] | None:
    return first_row(ledger, "SELECT wall_started, wall_ended, pid, exit FROM perf_sessions ORDER BY id DESC LIMIT 1")


def first_session_start(ledger: LedgerReading) -> dict[str, Any] | None:
    return first_row(ledger, "SELECT MIN(wall_started) AS started FROM perf_sessions")


def last_process_sample(ledger: LedgerReading) -> dict[str, Any] | None:
    return first_row(ledger, "SELECT cpu_percent, rss_mb, wall_time FROM perf_process ORDER BY id DESC LIMIT 1")


def costs_by_day_and_kind(ledger: LedgerReading) -> pd.DataFrame:
    return ledger.frame("SELECT day, kind, SUM(amount_usd) AS usd FROM costs GROUP BY day, kind")


def last_control(ledger: LedgerReading) -> dict[str, Any] | None:
    return first_row(ledger, "SELECT control_id, command, reason, requested_by, requested_at, status, applied_at "
                             "FROM controls ORDER BY control_id DESC LIMIT 1")


def halt_or_resume_in_force(ledger: LedgerReading) -> str | None:
    """The last applied halt or resume command, None when neither was applied."""
    return ledger.scalar("SELECT command FROM controls WHERE applied_at IS NOT NULL AND command IN (?, ?) "
                         "ORDER BY control_id DESC LIMIT 1", (CONTROL_HALT, CONTROL_RESUME))


def _has_table(ledger: LedgerReading, name: str) -> bool:
    return bool(ledger.scalar("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)))


def _risk_day(day: str | None) -> tuple[str, tuple[Any, ...]]:
    """risk_events carry a UTC time, not a trading day: a day is its UTC date (the 09:30-16:00
    New York window lies inside one UTC date)."""
    return ("AND substr(at, 1, 10) = ?", (day,)) if day else ("", ())


def risk_refusals_by_guard(ledger: LedgerReading, day: str | None = None) -> list[dict[str, Any]]:
    """Refusals the risk engine recorded, counted by guard and reason code (none before the engine)."""
    if not _has_table(ledger, "risk_events"):
        return []
    and_day, params = _risk_day(day)
    return ledger.rows(f"SELECT guard, code, COUNT(*) AS refusals FROM risk_events WHERE kind = 'refusal' {and_day} "
                       "GROUP BY guard, code ORDER BY guard, code", params)


def risk_state_changes(ledger: LedgerReading, day: str | None = None) -> list[dict[str, Any]]:
    """Every ACTIVE / REDUCING / HALTED change: when, by which guard or person, why."""
    if not _has_table(ledger, "risk_events"):
        return []
    and_day, params = _risk_day(day)
    return ledger.rows("SELECT at, guard, code, message, state_from, state_to, by FROM risk_events "
                       f"WHERE kind = 'state_change' {and_day} ORDER BY id", params)


def risk_approval_times(ledger: LedgerReading, day: str | None = None) -> list[str]:
    """When the risk engine approved an order (what the order-rate guard counts), oldest first."""
    if not _has_table(ledger, "risk_events"):
        return []
    and_day, params = _risk_day(day)
    return [r["at"] for r in ledger.rows(f"SELECT at FROM risk_events WHERE kind = 'approval' {and_day} ORDER BY id",
                                         params)]


EXECUTION_FILLS_SQL = """
SELECT f.fill_id, f.order_id, o.signal_id, o.purpose, o.side, o.instrument, f.sim_time, f.price, f.quantity,
       f.reference_price, f.slippage_points, f.commission_usd, s.direction, s.entry_reference, s.target, s.stop,
       p.day AS position_day, p.entry_time, p.exit_time, p.exit_reason, p.multiplier
FROM fills f JOIN orders o ON o.order_id = f.order_id
JOIN signals s ON s.signal_id = o.signal_id
LEFT JOIN positions p ON p.signal_id = o.signal_id
{where}
ORDER BY f.sim_time, f.fill_id
"""

EXECUTION_POSITIONS_SQL = """
SELECT p.position_id, p.signal_id, p.source, p.day, p.instrument, p.contract, p.direction, p.quantity, p.multiplier,
       p.entry_time, p.entry_price, p.target, p.stop, p.status, p.exit_time, p.exit_price, p.exit_reason,
       s.entry_reference, s.expected_value_points, o.pnl_usd, o.costs_usd
FROM positions p JOIN signals s ON s.signal_id = p.signal_id
LEFT JOIN outcomes o ON o.signal_id = p.signal_id
{where}
ORDER BY p.entry_time, p.position_id
"""


def execution_fills(ledger: LedgerReading, day: str | None = None) -> pd.DataFrame:
    """Every fill with its order, its signal's levels and its position's entry and exit."""
    where, params = _where(day, "f.day")
    return ledger.frame(EXECUTION_FILLS_SQL.format(where=where), params)


def execution_positions(ledger: LedgerReading, day: str | None = None) -> pd.DataFrame:
    """Positions entered on `day` (or in the run) with their signal's reference and outcome."""
    where, params = _where(day, "p.day")
    return ledger.frame(EXECUTION_POSITIONS_SQL.format(where=where), params)


def order_counts(ledger: LedgerReading, day: str | None = None) -> list[dict[str, Any]]:
    """Orders by purpose (entry, exit:<reason>) and status (filled, refused, rejected)."""
    where, params = _where(day, "day")
    return ledger.rows(f"SELECT purpose, status, COUNT(*) AS orders FROM orders {where} GROUP BY purpose, status "
                       "ORDER BY purpose, status", params)


def data_cost_by_day(ledger: LedgerReading) -> dict[str, float]:
    """This run's data spend per day (the `costs` rows of kind data)."""
    return {r["day"]: float(r["usd"]) for r in ledger.rows(
        "SELECT day, SUM(amount_usd) AS usd FROM costs WHERE kind = 'data' GROUP BY day ORDER BY day")}


def day_signal_counts(ledger: LedgerReading) -> dict[str, int]:
    return {r["day"]: int(r["n"]) for r in ledger.rows("SELECT day, COUNT(*) AS n FROM signals GROUP BY day")}


def day_commissions(ledger: LedgerReading) -> dict[str, float]:
    return {r["day"]: float(r["usd"]) for r in ledger.rows(
        "SELECT day, SUM(amount_usd) AS usd FROM costs WHERE kind = 'commission' GROUP BY day")}


def risk_state(ledger: LedgerReading) -> dict[str, Any] | None:
    if not _has_table(ledger, "risk_state"):
        return None
    rows = ledger.rows("SELECT state, reason, guard, code, changed_by, changed_at FROM risk_state")
    return rows[0] if rows else None


def risk_events(ledger: LedgerReading, *, kinds: tuple[str, ...] | None = None,
                newest: int | None = None) -> list[dict[str, Any]]:
    """Risk-engine events of `kinds` (every kind when None), oldest first; with `newest`, only
    the newest that many (none before the engine)."""
    if not _has_table(ledger, "risk_events"):
        return []
    where = f"WHERE kind IN ({', '.join('?' for _ in kinds)})" if kinds else ""
    sql = (f"SELECT id, at, kind, guard, code, message, figures_json, client_order_id, state_from, state_to, by "
           f"FROM risk_events {where} ORDER BY id DESC" + (" LIMIT ?" if newest is not None else ""))
    rows = ledger.rows(sql, (*(kinds or ()), *((newest,) if newest is not None else ())))
    return rows[::-1]


def entry_fill_slippage(ledger: LedgerReading) -> list[dict[str, Any]]:
    """Entry fills against the signal's reference: points paid (positive = against us)."""
    return ledger.rows(
        "SELECT o.signal_id, o.side, f.price, f.reference_price, "
        "(f.price - f.reference_price) * (CASE WHEN o.side = 'BUY' THEN 1 ELSE -1 END) AS slippage_points "
        "FROM fills f JOIN orders o ON o.order_id = f.order_id WHERE o.purpose = 'entry' ORDER BY f.sim_time")
