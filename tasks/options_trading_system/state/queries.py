"""The ledger's named queries: every SELECT the shadow trader runs against its own ledger, by name.

The orchestrator, the run assembly and the daily summary ask these instead of writing SQL inline,
so the ledger's schema (`ledger.py`) and the questions asked of it live in one layer. A query whose
natural answer is a table returns a DataFrame; a yes/no or a single value returns that value.
"""
from __future__ import annotations

import pandas as pd

from .ledger import CONTROL_HALT, CONTROL_RESUME, Ledger, iso


def closed_days(ledger: Ledger) -> list[str]:
    """Days whose summary row is written (closed), in date order."""
    return [r["day"] for r in ledger.rows("SELECT day FROM daily_summaries ORDER BY day")]


def day_closed(ledger: Ledger, day: str) -> bool:
    return bool(ledger.scalar("SELECT 1 FROM daily_summaries WHERE day = ?", (day,)))


def event_observed(ledger: Ledger, event_key: str) -> bool:
    """True once the event's observation (and its signals) is committed."""
    return bool(ledger.scalar("SELECT 1 FROM observations WHERE event_key = ?", (event_key,)))


def pending_controls(ledger: Ledger) -> list[dict]:
    """Controls a monitor queued and the run has not applied yet, oldest first."""
    return [dict(r) for r in ledger.rows("SELECT control_id, command, reason, requested_by FROM controls "
                                         "WHERE status = 'pending' "
                                         "ORDER BY control_id")]


def halt_in_force(ledger: Ledger) -> bool:
    """True while the last applied halt has not been followed by a resume."""
    last = ledger.scalar("SELECT command FROM controls WHERE status = 'applied' AND command IN (?, ?) "
                         "ORDER BY control_id DESC LIMIT 1", (CONTROL_HALT, CONTROL_RESUME))
    return last == CONTROL_HALT


def open_followers(ledger: Ledger, day: str) -> pd.DataFrame:
    """The day's signals without an outcome yet, with their open paper position if any."""
    return ledger.frame(
        "SELECT s.signal_id, s.source, s.direction, s.entry_reference, s.target, s.stop, s.sim_time, "
        "p.position_id, p.entry_price, p.contract AS position_contract, p.option_strike, p.option_right, "
        "p.option_iv, p.option_expiration, p.quantity "
        "FROM signals s LEFT JOIN outcomes o ON o.signal_id = s.signal_id "
        "LEFT JOIN positions p ON p.signal_id = s.signal_id AND p.status = 'open' "
        "WHERE s.day = ? AND o.signal_id IS NULL ORDER BY s.signal_id", (day,))


def open_position_followers(ledger: Ledger) -> pd.DataFrame:
    """Every open position of the run (any day) as `open_followers` rows: what a run that holds
    positions across days (`LimitedLiveTradingOrchestrator`) follows to their exits."""
    return ledger.frame(
        "SELECT s.signal_id, s.source, s.direction, s.entry_reference, s.target, s.stop, s.sim_time, "
        "p.position_id, p.entry_price, p.contract AS position_contract, p.option_strike, p.option_right, "
        "p.option_iv, p.option_expiration, p.quantity "
        "FROM positions p JOIN signals s ON s.signal_id = p.signal_id "
        "LEFT JOIN outcomes o ON o.signal_id = s.signal_id "
        "WHERE p.status = 'open' AND o.signal_id IS NULL ORDER BY s.signal_id")


def recent_signals(ledger: Ledger, day: str, since: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
    """Signals of `day` in (since, until]: what a repeat is checked against."""
    return ledger.frame(
        "SELECT source, contract, direction, target, stop FROM signals WHERE day = ? AND sim_time > ? "
        "AND sim_time <= ?", (day, iso(since), iso(until)))


def resolved_history(ledger: Ledger, until: pd.Timestamp) -> pd.DataFrame:
    """Judged signals (source, direction, when, correct) resolved at or before `until`."""
    return ledger.frame(
        "SELECT s.source, s.direction, o.resolved_at, o.correct FROM outcomes o "
        "JOIN signals s ON s.signal_id = o.signal_id WHERE o.correct IS NOT NULL AND o.resolved_at <= ? "
        "ORDER BY o.resolved_at, o.signal_id", (iso(until),))


def signals_awaiting_entry(ledger: Ledger, event_key: str) -> pd.DataFrame:
    """Passed signals of a traded source from `event_key` that have no entry order yet."""
    return ledger.frame(
        "SELECT s.* FROM signals s JOIN validations v ON v.signal_id = s.signal_id "
        "LEFT JOIN orders o ON o.signal_id = s.signal_id "
        "WHERE s.event_key = ? AND v.passed = 1 AND s.traded_source = 1 AND o.order_id IS NULL "
        "ORDER BY s.signal_id", (event_key,))


def signal_ids(ledger: Ledger) -> list[str]:
    """Every signal id of the run: the client order ids this run may have sent derive from them."""
    return [r["signal_id"] for r in ledger.rows("SELECT signal_id FROM signals ORDER BY signal_id")]


def signals_without_position(ledger: Ledger) -> list[str]:
    """Traded signals with no position row (never entered, refused, or entered but not recorded)."""
    return [r["signal_id"] for r in ledger.rows(
        "SELECT s.signal_id FROM signals s LEFT JOIN positions p ON p.signal_id = s.signal_id "
        "WHERE s.traded_source = 1 AND p.position_id IS NULL ORDER BY s.signal_id")]


def signal_recorded(ledger: Ledger, signal_id: str) -> bool:
    """True once the signal's row is in the ledger."""
    return bool(ledger.scalar("SELECT 1 FROM signals WHERE signal_id = ?", (signal_id,)))


def order_status(ledger: Ledger, order_id: str) -> str | None:
    """An order's status (refused, rejected, filled, cancelled, ...), None when it was never recorded."""
    status = ledger.scalar("SELECT status FROM orders WHERE order_id = ?", (order_id,))
    return None if status is None else str(status)


def order_count(ledger: Ledger) -> int:
    """Orders of the run (entries and exits, refused ones included)."""
    return int(ledger.scalar("SELECT COUNT(*) FROM orders") or 0)


def refused_order_count(ledger: Ledger) -> int:
    """Orders a guard (or a check before the guards) refused."""
    return int(ledger.scalar("SELECT COUNT(*) FROM orders WHERE status = 'refused'") or 0)


def open_position_count(ledger: Ledger) -> int:
    return int(ledger.scalar("SELECT COUNT(*) FROM positions WHERE status = 'open'") or 0)


def signal_row(ledger: Ledger, signal_id: str) -> dict:
    """One signal's row (KeyError naming it when the ledger has no such signal)."""
    rows = ledger.rows("SELECT * FROM signals WHERE signal_id = ?", (signal_id,))
    if not rows:
        raise KeyError(f"signal {signal_id} is not in the ledger")
    return dict(rows[0])


def open_positions(ledger: Ledger) -> pd.DataFrame:
    """Open paper positions (their source), what position limits count."""
    return ledger.frame("SELECT source FROM positions WHERE status = 'open'")


def day_signal_judgements(ledger: Ledger, day: str) -> pd.DataFrame:
    """Each signal of `day` with its validation and whether it proved correct."""
    return ledger.frame(
        "SELECT s.signal_id, v.passed, v.false_positive, o.correct FROM signals s "
        "JOIN validations v ON v.signal_id = s.signal_id LEFT JOIN outcomes o ON o.signal_id = s.signal_id "
        "WHERE s.day = ?", (day,))


def day_closed_trades(ledger: Ledger, day: str) -> pd.DataFrame:
    """Closed paper trades resolved on `day`: P&L, costs, exit time."""
    return ledger.frame(
        "SELECT o.signal_id, o.pnl_usd, o.pnl_points, o.costs_usd, o.resolved_at AS exit_time FROM outcomes o "
        "WHERE o.day = ? AND o.position_id IS NOT NULL", (day,))


def day_costs_usd(ledger: Ledger, day: str) -> float:
    return float(ledger.scalar("SELECT COALESCE(SUM(amount_usd), 0) FROM costs WHERE day = ?", (day,)))


OPEN_POSITION_ROWS_SQL = (
    "SELECT p.position_id, p.signal_id, p.day, p.instrument, p.contract, p.direction, p.quantity, p.entry_price, "
    "p.entry_time, p.stop, p.target, s.entry_reference FROM positions p JOIN signals s ON s.signal_id = p.signal_id "
    "WHERE p.status = 'open' ORDER BY p.entry_time, p.position_id")


def open_position_rows(ledger: Ledger) -> pd.DataFrame:
    """Open positions with what the risk engine and reconciliation need: direction, quantity, entry
    price and time, the protective levels and the signal's reference (an option's underlying level
    at entry)."""
    return ledger.frame(OPEN_POSITION_ROWS_SQL)


def open_position_records(ledger: Ledger) -> list[dict]:
    """`open_position_rows` as plain dicts: what the risk view reads before every order, where
    building a DataFrame would cost more than the query (tick execution decides in microseconds)."""
    return ledger.rows(OPEN_POSITION_ROWS_SQL)


def day_realized_pnl_usd(ledger: Ledger, day: str) -> float:
    """Net P&L (both commissions in) of the positions closed on `day`."""
    return float(ledger.scalar("SELECT COALESCE(SUM(pnl_usd), 0) FROM outcomes WHERE day = ? "
                               "AND position_id IS NOT NULL", (day,)))


def day_commissions_usd(ledger: Ledger, day: str) -> float:
    return float(ledger.scalar("SELECT COALESCE(SUM(amount_usd), 0) FROM costs WHERE day = ? "
                               "AND kind = 'commission'", (day,)))


def day_signal_count(ledger: Ledger, day: str) -> int:
    return int(ledger.scalar("SELECT COUNT(*) FROM signals WHERE day = ?", (day,)) or 0)


# --- tick execution ------------------------------------------------------------------------------

def closed_trade_pnls(ledger: Ledger) -> list[float]:
    """Net P&L (USD) of every closed position so far, in the order they closed (what Kelly sizes from)."""
    return [float(r["pnl_usd"]) for r in ledger.rows(
        "SELECT pnl_usd FROM outcomes WHERE position_id IS NOT NULL AND pnl_usd IS NOT NULL "
        "ORDER BY resolved_at, signal_id")]


def position_row(ledger: Ledger, signal_id: str) -> dict | None:
    """The position a signal opened (open or closed), None when it opened none."""
    rows = ledger.rows("SELECT position_id, signal_id, source, direction, quantity, entry_time, entry_price, stop, "
                       "target, status, exit_time FROM positions WHERE signal_id = ?", (signal_id,))
    return rows[0] if rows else None


def outcome_recorded(ledger: Ledger, signal_id: str) -> bool:
    return bool(ledger.scalar("SELECT 1 FROM outcomes WHERE signal_id = ?", (signal_id,)))


def strategy_intents(ledger: Ledger, strategy: str) -> pd.DataFrame:
    """One strategy's intents (signals with `source` = the strategy) with the aggregator's verdict
    (`tier`) and the entry order's refusal reason, if refused."""
    return ledger.frame(
        "SELECT s.signal_id, s.day, s.tier, CASE WHEN o.status = 'refused' THEN o.reason END AS refusal "
        "FROM signals s LEFT JOIN orders o ON o.order_id = s.signal_id || '/entry' WHERE s.source = ? "
        "ORDER BY s.sim_time, s.signal_id", (strategy,))


def strategy_trades(ledger: Ledger, strategy: str) -> pd.DataFrame:
    """One strategy's closed positions: day, net P&L, and the entry fill's slippage (points)."""
    return ledger.frame(
        "SELECT o.day, o.pnl_usd, f.slippage_points AS entry_slippage_points FROM outcomes o "
        "JOIN positions p ON p.position_id = o.position_id "
        "LEFT JOIN fills f ON f.order_id = p.signal_id || '/entry' "
        "WHERE p.source = ? AND o.pnl_usd IS NOT NULL ORDER BY o.resolved_at, o.signal_id", (strategy,))
