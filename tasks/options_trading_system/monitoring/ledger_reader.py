"""What the shadow runs' ledgers say, read without touching them.

Each run keeps one SQLite ledger (`<shadow_runs_dir>/<run_id>/ledger.sqlite`, schema in
`state/ledger.py` and docs/shadow_trading.md). The monitor opens it read-only (`mode=ro`), so a
running orchestrator never waits on it, and derives every figure from the rows with the shadow
trader's own metric functions (`strategies/results/metrics.py`): the dashboard and the run's daily report
cannot disagree. Wall-clock facts (is the process alive, when did the ledger last change) come
from `perf_sessions` and the file's modification time.

A run's state, as the dashboard shows it:
- running: status running, its process alive (when the ledger names one), the ledger fresh;
- halted: running, and its risk engine is HALTED (a guard's hard cap, a halt control, the
  emergency stop) or the last control applied was a halt;
- stalled: status running, but the process is gone or the ledger has not changed for
  `stale_after_s` (a crash or a hang: the run says running but nothing moves);
- completed / interrupted / failed: the run's own final status.
"""
from __future__ import annotations

import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..analysis_engine import black76
from ..analysis_engine.strategies.results.metrics import equity_curve, percentiles, signal_metrics, trade_metrics
from ..analysis_engine.strategies.execution.paper_pricing import EXIT_ORIGIN_BLACK76
from ..data_ingestion.canonical import as_utc
from ..errors import InputFileError, OptionsSystemError
from ..expiry import years_to_settlement
from ..state import report_queries as q
from ..state.ledger import CONTROL_HALT, LEDGER_FILE, RUN_RUNNING
from ..state.reading import ReadOnlyLedger, open_read_only
from .risk_reader import read_risk
from .system import process_uptime_s

log = logging.getLogger(__name__)

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
STATE_RUNNING, STATE_HALTED, STATE_STALLED = "running", "halted", "stalled"
# A process may be created a moment before it writes its session row; more than this apart is another process.
PID_START_TOLERANCE_S = 120.0
# An open option is valued as the shadow trader values it at its exit, with the same clock
# (`expiry.years_to_settlement`: expiration day, 16:00 New York).

__all__ = ["LedgerReadError", "RunReading", "find_ledgers", "ledger_path", "read_run", "STATE_HALTED",
           "STATE_RUNNING", "STATE_STALLED"]


class LedgerReadError(InputFileError):
    """A ledger exists but cannot be read (locked past the timeout, damaged, not a ledger)."""


@dataclass(frozen=True)
class RunReading:
    """One run as read from its ledger: `summary` for lists, `detail` for the dashboard's run section."""

    summary: dict[str, Any]
    detail: dict[str, Any]


def ledger_path(runs_dir: Path, run_id: str) -> Path:
    """The ledger of `run_id`; refuses ids that are not plain names (no paths, no '..')."""
    if not RUN_ID_PATTERN.match(run_id or ""):
        raise InputFileError(f"run id {run_id!r} is not a run name (letters, digits, '_', '.', '-')")
    return Path(runs_dir) / run_id / LEDGER_FILE


def find_ledgers(runs_dir: Path, limit: int) -> list[Path]:
    """The `limit` most recently changed run ledgers under `runs_dir`, newest first."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    ledgers = [p for p in runs_dir.glob(f"*/{LEDGER_FILE}") if p.is_file()]
    return sorted(ledgers, key=_changed_at, reverse=True)[:limit]


def read_run(path: Path, *, now: pd.Timestamp, stale_after_s: float, signal_rows: int) -> RunReading:
    """Read one ledger into figures. Raises `LedgerReadError` when it cannot be read."""
    try:
        with open_read_only(path) as db:
            return _read(db, Path(path), now=as_utc(now), stale_after_s=stale_after_s, signal_rows=signal_rows)
    except sqlite3.Error as exc:
        raise LedgerReadError(f"ledger {path}: cannot be read ({exc})") from exc


# --- reading ----------------------------------------------------------------------------------

def _read(db: ReadOnlyLedger, path: Path, *, now: pd.Timestamp, stale_after_s: float,
          signal_rows: int) -> RunReading:
    run = q.run_row(db)
    if run is None:
        raise LedgerReadError(f"ledger {path}: has no run row yet (the run is starting, or this is not a run ledger)")
    progress = q.progress_row(db) or {}
    config = _json(run.pop("config_json"), {})
    day = progress.get("day")

    signals = q.monitor_signals(db)
    trades = q.monitor_trades(db)
    totals = {**signal_metrics(signals), **trade_metrics(trades)}
    today_signals = signals[signals["day"] == day] if day else signals.iloc[0:0]
    today_trades = trades[trades["day"] == day] if day else trades.iloc[0:0]
    today = {"date": day, **_pick(signal_metrics(today_signals), "signals", "resolved", "correct", "accuracy"),
             **_pick(trade_metrics(today_trades), "trades", "pnl_usd")}

    open_positions = q.open_positions(db)
    last_price = q.last_price(db)
    positions = _open_positions(open_positions, last_price)
    totals["open_positions"] = len(open_positions)
    totals["unrealized_pnl_usd"] = _sum_or_none([p["unrealized_pnl_usd"] for p in positions])

    session = q.last_session(db)
    first_start = q.first_session_start(db)
    process = _process(session, now)
    control = _control(db)
    risk = _risk(db, config, day, progress.get("sim_time"), last_price, now)
    changed = pd.Timestamp(_changed_at(path), unit="s", tz="UTC")
    fresh = (now - changed).total_seconds() <= stale_after_s
    state = _state(run["status"], process, fresh, control, risk)
    latency = _latency(db, day)
    perf = q.last_process_sample(db) or {}
    costs = q.costs_by_day_and_kind(db)

    summary = {
        "run_id": run["run_id"], "mode": run["mode"], "profile": run["profile"], "status": run["status"],
        "status_reason": run["status_reason"], "state": state, "up": state in (STATE_RUNNING, STATE_HALTED),
        "halted": state == STATE_HALTED, "risk_state": risk.get("state"),
        "started_at": (first_start or {}).get("started"),
        "updated_at": changed.isoformat(), "day": day, "sim_time": progress.get("sim_time"),
        "signals": totals["signals"], "pnl_usd": totals["pnl_usd"],
    }
    detail = {
        **summary,
        "ledger": str(path),
        "trading_days": _json(run["trading_days_json"], []),
        "events": progress.get("transactions"),
        "today": today,
        "totals": totals,
        "targets": _targets(config),
        "equity": _equity(trades),
        "daily": _daily(signals, trades),
        "signals": _signal_rows(signals, signal_rows),
        "positions": positions,
        "control": control,
        "risk": risk,
        "process": {**process, "cpu_pct": perf.get("cpu_percent"), "rss_mb": perf.get("rss_mb")},
        "latency": latency,
        "costs": _costs(costs, day),
    }
    return RunReading(summary=summary, detail=detail)


def _state(status: str, process: Mapping[str, Any], fresh: bool, control: Mapping[str, Any] | None,
           risk: Mapping[str, Any]) -> str:
    if status != RUN_RUNNING:
        return status
    if process.get("alive") is False or not fresh:
        return STATE_STALLED
    if risk.get("state") == "HALTED" or (control is not None and control.get("in_force") == CONTROL_HALT):
        return STATE_HALTED
    return STATE_RUNNING


def _risk(db: ReadOnlyLedger, config: Mapping[str, Any], day: str | None, sim_time: str | None,
          last_price: Mapping[str, Any] | None, now: pd.Timestamp) -> dict[str, Any]:
    """The risk panel (`risk_reader.read_risk`); what could not be read is said, never guessed."""
    try:
        return read_risk(db, config, day=day, sim_time=sim_time, last_price=last_price, now=now)
    except (OptionsSystemError, ValueError, KeyError, TypeError) as exc:
        log.warning("risk state of %s cannot be read: %s", (config.get("request") or {}), exc)
        return {"state": None, "error": f"the risk engine's state cannot be read: {type(exc).__name__}: {exc}"}


def _process(session: Mapping[str, Any] | None, now: pd.Timestamp) -> dict[str, Any]:
    """The run's latest process: pid, alive (None when the ledger names no process), uptime."""
    if session is None:
        return {"pid": None, "alive": None, "uptime_s": None, "exit": None}
    started = pd.Timestamp(session["wall_started"])
    if session["wall_ended"] is not None:
        return {"pid": session["pid"], "alive": False, "uptime_s": None, "exit": session["exit"]}
    age = process_uptime_s(int(session["pid"]), now.timestamp())
    # the pid must belong to the process that wrote the session row, not a later one that reused it
    same = age is not None and abs((now - pd.Timedelta(seconds=age)) - started).total_seconds() <= PID_START_TOLERANCE_S
    return {"pid": session["pid"], "alive": bool(same),
            "uptime_s": round((now - started).total_seconds(), 1) if same else None, "exit": None}


def _control(db: ReadOnlyLedger) -> dict[str, Any] | None:
    """The newest control request and the halt/resume now in force (the last one applied)."""
    last = q.last_control(db)
    if last is None:
        return None
    in_force = q.halt_or_resume_in_force(db)
    return {"id": last["control_id"], "action": last["command"], "reason": last["reason"],
            "requested_by": last["requested_by"], "at": last["requested_at"], "status": last["status"],
            "applied": last["applied_at"] is not None, "applied_at": last["applied_at"],
            "in_force": in_force}


def _latency(db: ReadOnlyLedger, day: str | None) -> dict[str, dict[str, Any]]:
    """Per latency metric the run records, percentiles over its current trading day (ms)."""
    if not day:
        return {}
    frame = q.latencies(db, day)
    return {metric: percentiles(group["ms"]) for metric, group in frame.groupby("metric", sort=True)}


def _open_positions(frame: pd.DataFrame, last_price: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Open positions valued at the last observed futures price: a futures position at that price
    (sign by direction); an option position (always bought: a call for a LONG, a put for a SHORT)
    at the Black-76 mark the shadow trader exits options at (its entry IV, the futures price, the
    time left to its expiration at that price's time), missing when the ledger lacks an input."""
    if frame.empty:
        return []
    price = float(last_price["price"]) if last_price else np.nan
    price_time = last_price["sim_time"] if last_price else None
    is_option = frame["option_right"].isin(["C", "P"]).to_numpy()
    sign = np.where(is_option | frame["direction"].str.upper().isin(["LONG", "BUY", "BULLISH"]).to_numpy(), 1.0, -1.0)
    entry = pd.to_numeric(frame["entry_price"], errors="coerce").to_numpy(dtype="float64")
    mark = np.where(is_option, _option_marks(frame, price, price_time), price)
    unrealized = (mark - entry) * sign * frame["quantity"].to_numpy(dtype="float64") * \
        frame["multiplier"].to_numpy(dtype="float64")
    out = frame.assign(last_price=price, mark=mark, unrealized_pnl_usd=unrealized, price_time=price_time,
                       mark_origin=np.where(is_option, EXIT_ORIGIN_BLACK76, "last_price"))
    return out.to_dict(orient="records")


def _option_marks(frame: pd.DataFrame, price: float, price_time: str | None) -> np.ndarray:
    """Black-76 value of each row's option at futures `price` observed at `price_time` (NaN: no input)."""
    at = pd.Timestamp(price_time) if price_time else pd.NaT
    years = years_to_settlement(frame["option_expiration"], at) if at is not pd.NaT \
        else np.full(len(frame), np.nan)
    return black76.price(price, pd.to_numeric(frame["option_strike"], errors="coerce").to_numpy(dtype="float64"),
                         years, pd.to_numeric(frame["option_iv"], errors="coerce").to_numpy(dtype="float64"),
                         (frame["option_right"] == "C").to_numpy())


def _equity(trades: pd.DataFrame) -> list[dict[str, Any]]:
    """Cumulative net P&L after each closed trade, in the order they closed."""
    if trades.empty:
        return []
    ordered = trades.sort_values(["exit_time", "signal_id"], kind="stable")  # the order trade_metrics uses
    return [{"ts": ts, "pnl_usd": float(v)} for ts, v in zip(ordered["exit_time"], equity_curve(ordered["pnl_usd"]))]


def _daily(signals: pd.DataFrame, trades: pd.DataFrame) -> list[dict[str, Any]]:
    """Per trading day with any signal or trade: signals, trades, net P&L (0 only when no trade closed)."""
    days = sorted(set(signals["day"].dropna()) | set(trades["day"].dropna()))
    out = []
    for day in days:
        day_trades = trades[trades["day"] == day]
        out.append({"date": day, "signals": int((signals["day"] == day).sum()), "trades": len(day_trades),
                    "pnl_usd": float(day_trades["pnl_usd"].sum())})
    return out


def _signal_rows(signals: pd.DataFrame, limit: int) -> list[dict[str, Any]]:
    """The newest `limit` signals, newest first, with validation and outcome in words."""
    newest = signals.iloc[::-1].head(limit)
    rows = []
    for s in newest.to_dict(orient="records"):
        passed = s["passed"]
        validation = None if _missing(passed) else ("passed" if passed else "failed")
        if not _missing(s["false_positive"]) and s["false_positive"]:
            validation = f"{validation}, likely false positive" if validation else "likely false positive"
        rows.append({
            "signal_id": s["signal_id"], "time": s["sim_time"], "day": s["day"], "source": s["source"],
            "algorithm": s["algorithm"], "instrument": s["instrument"], "contract": s["contract"],
            "direction": s["direction"], "entry": s["entry_reference"], "target": s["target"], "stop": s["stop"],
            "confidence": s["confidence"], "validation_score": s["validation_score"], "validation": validation,
            "false_positive": bool(s["false_positive"]) if not _missing(s["false_positive"]) else None,
            "outcome": _outcome(s), "correct": None if _missing(s["correct"]) else bool(s["correct"]),
            "pnl_usd": s["pnl_usd"], "traded": s["position_status"] is not None and not _missing(s["position_status"]),
            "refusal": None if _missing(s["refusal"]) else s["refusal"],
        })
    return rows


def _outcome(signal: Mapping[str, Any]) -> str:
    if not _missing(signal["exit_reason"]) and signal["exit_reason"]:
        return str(signal["exit_reason"])
    if signal["position_status"] is not None and not _missing(signal["position_status"]):
        return "open"
    return "pending"


def _targets(config: Mapping[str, Any]) -> dict[str, Any]:
    """The run's pass/fail targets as the run was configured (`runs.config_json`: the merged profile
    the run started with, so a later edit of the profile file does not move the goalposts)."""
    targets = ((config.get("profile") or {}).get("shadow_trading") or {}).get("targets") or {}
    return {"min_accuracy": targets.get("min_accuracy"),
            "max_false_positive_rate": targets.get("max_false_positive_rate"),
            "min_win_rate": targets.get("min_win_rate"), "max_drawdown_usd": targets.get("max_drawdown_usd")}


def _costs(frame: pd.DataFrame, day: str | None) -> dict[str, Any]:
    if frame.empty:
        return {"today": {}, "total": {}}
    today = frame[frame["day"] == day].groupby("kind")["usd"].sum() if day else pd.Series(dtype="float64")
    return {"today": {k: float(v) for k, v in today.items()},
            "total": {k: float(v) for k, v in frame.groupby("kind")["usd"].sum().items()}}


# --- small helpers ------------------------------------------------------------------------------

def _changed_at(path: Path) -> float:
    """Wall time the ledger last changed: the file or its WAL, whichever is newer (epoch seconds)."""
    stamps = [p.stat().st_mtime for p in (Path(path), Path(f"{path}-wal")) if p.exists()]
    return max(stamps) if stamps else 0.0


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def _pick(mapping: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: mapping[k] for k in keys}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _sum_or_none(values: list[Any]) -> float | None:
    """The sum, 0.0 for no values, None when any value is missing (a partial sum would mislead)."""
    if any(_missing(v) for v in values):
        return None
    return float(sum(float(v) for v in values))
