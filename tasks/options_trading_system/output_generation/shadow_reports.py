"""The shadow-trading report documents (plain JSON data), built only from ledger queries.

- `daily_report`: one day's signals, validation rate, accuracy and false positives against the
  targets, paper P&L with its equity curve, the per-signal outcome table, alerts, recommendations;
- `performance_report`: one day's latency percentiles, data quality, data costs, CPU and memory;
- `ab_report`: the two A/B arms' outcomes side by side (for a day, or the run so far);
- `final_report`: the whole run, per-day rows, the A/B result and the pass/fail verdict.
Daily and final reports carry an `execution` section (`execution_section`): orders, fills with
slippage against the signal's reference and against the paper twin, real vs predicted P&L,
refusals by guard, each guard's cap used vs its limit, halts and resumes; the P&L reports carry
Sharpe, Sortino and Calmar beside drawdown and profit factor.
`shadow_report_writer` validates them against their schemas and renders the HTML.
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..analysis_engine.strategies.feeds.price_path import PricePath
from ..analysis_engine.strategies.guards.config import RiskConfig
from ..analysis_engine.strategies.results import execution_figures, metrics
from ..analysis_engine.strategies.shadow_config import ShadowTradingConfig
from ..analysis_engine.strategies.results.targets import check_targets, verdict
from ..state import report_queries
from ..state.ledger import Ledger
from . import shadow_advice, shadow_figures as figures

REPORT_VERSION = 1
MAX_NOTES = 20  # the latest observation notes shown per report (the ledger keeps them all)
SIGNAL_TABLE_COLUMNS = ("signal_id", "time_local", "source", "algorithm", "direction", "contract", "entry_reference",
                        "target", "stop", "confidence", "tier", "expected_value_points", "score", "passed",
                        "false_positive", "reasons", "order_status", "order_reason", "entry_price", "exit_reason",
                        "resolved_local", "exit_reference", "move_points", "correct", "exit_price", "pnl_usd")


def run_header(ledger: Ledger) -> dict[str, Any]:
    run = ledger.run() or {}
    request = (run.get("config") or {}).get("request", {})
    return {"run_id": run.get("run_id"), "mode": run.get("mode"), "profile": run.get("profile"),
            "status": run.get("status"), "data_dir": run.get("data_dir"), "price_path": run.get("price_path"),
            "is_sample": bool(request.get("is_sample", False)), "data_note": request.get("data_note", ""),
            "trading_days": run.get("trading_days") or []}


def daily_report(ledger: Ledger, day: str, config: ShadowTradingConfig, prices: PricePath | None = None
                 ) -> dict[str, Any]:
    """The trading report of `day` (`prices`: the run's price path, for the paper twins)."""
    table = figures.signals_table(ledger, day)
    trades = figures.trades_table(ledger, day)
    signal_figures = metrics.signal_metrics(table)
    trade_figures = metrics.trade_metrics(trades)
    criteria = check_targets(signal_figures, trade_figures, config.targets)
    summary = _summary(ledger, day)
    quality = data_quality(ledger, day, summary, config)
    latency = figures.latency_table(ledger, day)
    refused = figures.refusals(ledger, day)
    controls = [c for c in figures.controls_table(ledger, day) if c["status"] == "applied"]
    costs = figures.costs_by_kind(ledger, day)
    return {
        "report": "shadow_trading_daily", "version": REPORT_VERSION, **run_header(ledger), "day": day,
        "window": summary.get("window", {}),
        "signals": {**signal_figures, "by_source": _by_source(table)},
        "targets": criteria,
        "day_verdict": verdict(criteria),
        "trades": {**trade_figures, **_risk_adjusted(_closed_day_pnl(ledger, through=day)),
                   "risk_adjusted_scope": f"run to date: daily net P&L of the closed days through {day}",
                   "refusals": refused, "equity_curve": figures.equity_points(trades)},
        "costs": {"commission_usd": costs["commission"], "data_usd": costs["data"],
                  "data_note": _data_cost_note(ledger)},
        "execution": execution_section(ledger, config, day, prices),
        "signal_table": signal_rows(table, config.window.timezone),
        "data_quality": quality,
        "alerts": shadow_advice.alerts(signals=signal_figures, trades=trade_figures, quality=quality, latency=latency,
                                       controls=controls, refusals=refused, config=config),
        "recommendations": shadow_advice.recommendations(criteria=criteria, signals=signal_figures,
                                                         trades=trade_figures, table=table, refusals=refused,
                                                         quality=quality, latency=latency, config=config),
    }


def performance_report(ledger: Ledger, day: str, config: ShadowTradingConfig) -> dict[str, Any]:
    """Latency, data quality, costs and process use of `day` (wall-clock figures from perf tables)."""
    summary = _summary(ledger, day)
    costs = figures.costs_by_kind(ledger, day)
    signals = report_queries.signal_count(ledger, day)
    return {
        "report": "shadow_trading_performance", "version": REPORT_VERSION, **run_header(ledger), "day": day,
        "latency_ms": figures.latency_table(ledger, day),
        "data_quality": data_quality(ledger, day, summary, config),
        "costs": {"commission_usd": costs["commission"], "data_usd": costs["data"],
                  "data_cost_per_signal_usd": (costs["data"] / signals) if signals else None,
                  "data_note": _data_cost_note(ledger)},
        "process": figures.process_table(ledger, day),
        "measured": "latency and process figures are wall-clock measurements of this machine (perf_* tables); "
                    "data quality and costs come from the ledger's observations and costs",
    }


def ab_report(ledger: Ledger, config: ShadowTradingConfig, day: str | None = None) -> dict[str, Any]:
    """Arm A vs arm B over the same events (a day, or the whole run when `day` is None)."""
    table = figures.signals_table(ledger, day)
    trades = figures.trades_table(ledger, day)
    arms = {}
    for arm in ("a", "b"):
        name = getattr(config.ab_testing, arm)
        source = config.signals.source(name)
        mine = table[table["source"] == name]
        moves = mine["move_points"].dropna().astype("float64")
        arms[arm] = {
            "source": name, "algorithm": source.algorithm if source else None,
            "traded": bool(source.trade) if source else False,
            **metrics.signal_metrics(mine),
            "mean_move_points": float(moves.mean()) if len(moves) else None,
            "total_move_points": float(moves.sum()) if len(moves) else None,
            "trades": {**metrics.trade_metrics(trades[trades["source"] == name]),
                       **_risk_adjusted(_arm_day_pnl(ledger, trades[trades["source"] == name], day))},
            "note": _arm_note(ledger, name, source.algorithm if source else None, len(mine), day),
        }
    a, b = arms["a"], arms["b"]
    comparison = {
        "accuracy_difference": _difference(b["accuracy"], a["accuracy"]),
        "mean_move_difference_points": _difference(b["mean_move_points"], a["mean_move_points"]),
        "accuracy_difference_ci95": _two_proportion_ci(a, b),
        "enough_signals": min(a["resolved"], b["resolved"]) >= config.ab_testing.min_signals_per_arm,
        "min_signals_per_arm": config.ab_testing.min_signals_per_arm,
    }
    comparison["reading"] = _ab_reading(a, b, comparison)
    return {"report": "shadow_trading_ab", "version": REPORT_VERSION, **run_header(ledger),
            "scope": day or "run", "arms": arms, "comparison": comparison}


def final_report(ledger: Ledger, config: ShadowTradingConfig, prices: PricePath | None = None) -> dict[str, Any]:
    """The whole run: figures, per-day rows, the A/B result, the verdict against the targets
    (`prices`: the run's price path, for the paper twins)."""
    table = figures.signals_table(ledger)
    trades = figures.trades_table(ledger)
    signal_figures = metrics.signal_metrics(table)
    trade_figures = metrics.trade_metrics(trades)
    days = figures.daily_summaries(ledger)
    daily_pnl = days["pnl_usd"].astype("float64").tolist() if len(days) else []
    criteria = check_targets(signal_figures, trade_figures, config.targets)
    header = run_header(ledger)
    latency = figures.latency_table(ledger)
    refused = figures.refusals(ledger)
    costs = figures.costs_by_kind(ledger)
    per_day = []
    summaries = []
    for row in days.to_dict("records"):
        summary = json.loads(row["summary_json"])
        summaries.append(summary)
        per_day.append({"day": row["day"], "signals": row["signals"], "validated": row["validated"],
                        "resolved": row["resolved"], "correct": row["correct"],
                        "accuracy": summary["signals"]["accuracy"], "trades": row["trades"],
                        "pnl_usd": row["pnl_usd"], "costs_usd": row["costs_usd"]})
    quality = data_quality(ledger, None, {"price": run_price_coverage(summaries)}, config)
    return {
        "report": "shadow_trading_final", "version": REPORT_VERSION, **header,
        "days_planned": len(header["trading_days"]), "days_closed": len(per_day),
        "verdict": verdict(criteria) if len(per_day) == len(header["trading_days"]) else "INCOMPLETE",
        "targets": criteria,
        "signals": {**signal_figures, "by_source": _by_source(table)},
        "trades": {**trade_figures, **_risk_adjusted(daily_pnl), "refusals": refused,
                   "equity_curve": figures.equity_points(trades)},
        "risk": risk_section(ledger),
        "costs": {"commission_usd": costs["commission"], "data_usd": costs["data"],
                  "data_note": _data_cost_note(ledger)},
        "execution": execution_section(ledger, config, None, prices),
        "days": per_day,
        "ab_test": ab_report(ledger, config) if config.ab_testing.enabled else None,
        "latency_ms": latency,
        "data_quality": quality,
        "process": figures.process_table(ledger),
        "recommendations": shadow_advice.recommendations(criteria=criteria, signals=signal_figures,
                                                         trades=trade_figures, table=table, refusals=refused,
                                                         quality=quality, latency=latency, config=config),
        "trace": "every figure is a query over this run's ledger (runs/<run_id>/ledger.sqlite): signals, "
                 "validations, orders, fills, positions, outcomes, costs; latency and process use from perf_*",
    }


# --- pieces ---------------------------------------------------------------------------------

def risk_section(ledger: Ledger) -> dict[str, Any]:
    """The risk engine's record: its state now, refusals by guard, every halt or reduction, and the
    entry fills' slippage against the signals' references."""
    from ..state import report_queries as rq
    slips = [float(r["slippage_points"]) for r in rq.entry_fill_slippage(ledger) if r["slippage_points"] is not None]
    return {"state": rq.risk_state(ledger), "refusals_by_guard": rq.risk_refusals_by_guard(ledger),
            "state_changes": rq.risk_state_changes(ledger),
            "entry_slippage_points": {"fills": len(slips), "mean": sum(slips) / len(slips) if slips else None,
                                      "max": max(slips) if slips else None}}


def execution_section(ledger: Ledger, config: ShadowTradingConfig, day: str | None, prices: PricePath | None
                      ) -> dict[str, Any]:
    """Orders, fills and their slippage (vs the signal's reference, vs the paper twin), real vs
    predicted P&L, refusals by guard, each cap's peak use against its limit (per day), halts and
    resumes: for `day`, or the whole run (`day` None: caps per closed day)."""
    run = ledger.run() or {}
    asked = (run.get("config") or {}).get("request") or {}
    profile_broker = ((run.get("config") or {}).get("profile") or {}).get("broker") or {}
    risk = run_risk_config(ledger, config)
    positions = report_queries.execution_positions(ledger, day)
    closes = _window_closes(ledger)
    twins = execution_figures.paper_twins(positions, prices, config.execution, closes)
    fills = execution_figures.fill_rows(report_queries.execution_fills(ledger, day), twins)
    orders = report_queries.order_counts(ledger, day)
    days = [day] if day else report_queries.daily_summaries(ledger)["day"].tolist()
    refused_other: dict[str, int] = {}
    for reason in report_queries.refused_order_reasons(ledger, day):
        if "[guard " not in str(reason):
            code = str(reason).split(":")[0]
            refused_other[code] = refused_other.get(code, 0) + 1
    changes = report_queries.risk_state_changes(ledger, day)
    twin_note = "" if twins or positions.empty else (
        "no paper twin: " + ("a tick run fills on the future's own trades; there is no separate price path to "
                             "price a twin on" if asked.get("tick")
                             else "the run's price path could not be read" if prices is None or len(prices) == 0
                             else "option trades are priced from the chain at entry, not the price path"
                             if config.execution.instrument == "option" else "no position has a known day close"))
    return {
        "scope": day or "run",
        "mode": "limited_live" if asked.get("limited_live") else "shadow",
        "broker": str(asked.get("broker") or profile_broker.get("name") or "paper")
        if asked.get("limited_live") else "paper",
        "netting": risk.max_position.netting,
        "orders": {"by_purpose_and_status": orders,
                   "entries": sum(r["orders"] for r in orders if r["purpose"] == "entry"),
                   "filled_entries": sum(r["orders"] for r in orders if r["purpose"] == "entry"
                                         and r["status"] == "filled"),
                   "refused": sum(r["orders"] for r in orders if r["status"] == "refused"),
                   "rejected": sum(r["orders"] for r in orders if r["status"] == "rejected"),
                   "exits": sum(r["orders"] for r in orders if str(r["purpose"]).startswith("exit"))},
        "fills": fills,
        "slippage": {"definition": execution_figures.SLIPPAGE,
                     "vs_reference": {leg: execution_figures.slippage_summary(
                         [f for f in fills if (f["leg"] == "entry") == (leg == "entry")],
                         "slippage_vs_reference_points") for leg in ("entry", "exit")},
                     "vs_paper": {leg: execution_figures.slippage_summary(
                         [f for f in fills if (f["leg"] == "entry") == (leg == "entry")],
                         "slippage_vs_paper_points") for leg in ("entry", "exit")},
                     "paper_twin_note": twin_note},
        "pnl": execution_figures.pnl_comparison(positions, twins),
        "refusals_by_guard": report_queries.risk_refusals_by_guard(ledger, day),
        "refusals_before_the_guards": refused_other,
        "caps": {d: _day_caps(ledger, d, risk, in_replay=run.get("mode") == "replay") for d in days},
        "halts": [{"at": c["at"], "from": c["state_from"], "to": c["state_to"], "guard": c["guard"],
                   "code": c["code"], "reason": c["message"], "by": c["by"],
                   "kind": "resume" if c["state_to"] == "ACTIVE" else ("halt" if c["state_to"] == "HALTED"
                                                                       else "reduce")} for c in changes],
        "state_now": report_queries.risk_state(ledger),
    }


def run_risk_config(ledger: Ledger, config: ShadowTradingConfig) -> RiskConfig:
    """The caps the run traded under: `limited_live.risk` of its stored profile for a limited-live
    run, the shadow section's (or its derived defaults) otherwise."""
    run = ledger.run() or {}
    stored = run.get("config") or {}
    if (stored.get("request") or {}).get("limited_live"):
        section = ((stored.get("profile") or {}).get("limited_live") or {}).get("risk") or {}
        return RiskConfig.from_dict(section, where="limited_live.risk")
    return config.risk_config()


def _day_caps(ledger: Ledger, day: str, risk: RiskConfig, *, in_replay: bool) -> list[dict[str, Any]]:
    data = report_queries.data_cost_by_day(ledger)
    month = sum(v for d, v in data.items() if d[:7] == day[:7] and d <= day)
    return execution_figures.cap_usage(
        report_queries.execution_positions(ledger, day), risk,
        approvals=report_queries.risk_approval_times(ledger, day), data_day_usd=data.get(day, 0.0),
        data_month_usd=month, signals=report_queries.day_signal_counts(ledger).get(day, 0),
        commissions_usd=report_queries.day_commissions(ledger).get(day, 0.0), in_replay=in_replay)


def _window_closes(ledger: Ledger) -> dict[str, pd.Timestamp]:
    """Each closed day's window close (from its summary), what an open paper twin is flattened at."""
    out = {}
    for row in report_queries.daily_summaries(ledger).to_dict("records"):
        close = (json.loads(row["summary_json"]).get("window") or {}).get("close")
        if close:
            out[row["day"]] = pd.Timestamp(close)
    return out


def _closed_day_pnl(ledger: Ledger, through: str | None = None) -> list[float]:
    days = figures.daily_summaries(ledger)
    if through is not None and len(days):
        days = days[days["day"] <= through]
    return days["pnl_usd"].astype("float64").tolist() if len(days) else []


def _arm_day_pnl(ledger: Ledger, trades: pd.DataFrame, day: str | None) -> list[float]:
    """One arm's net P&L per closed day (0 on a day it closed no trade)."""
    closed = [d for d in figures.daily_summaries(ledger)["day"].tolist() if day is None or d <= day]
    by_day = trades.groupby("day")["pnl_usd"].sum() if len(trades) else pd.Series(dtype="float64")
    return [float(by_day.get(d, 0.0)) for d in closed]


def _risk_adjusted(daily_pnl: list[float]) -> dict[str, Any]:
    return {"sharpe": metrics.sharpe(daily_pnl), "sortino": metrics.sortino(daily_pnl),
            "calmar": metrics.calmar(daily_pnl), "days_in_ratios": len(daily_pnl)}


def data_quality(ledger: Ledger, day: str | None, summary: Mapping[str, Any], config: ShadowTradingConfig
                 ) -> dict[str, Any]:
    """Completeness, staleness and quarantined rows of the observations (and the price path)."""
    obs = figures.observations_table(ledger, day)
    contracts = obs["contracts"].dropna().astype("float64") if len(obs) else pd.Series(dtype="float64")
    quarantined = obs["quarantined"].dropna().astype("float64") if len(obs) else pd.Series(dtype="float64")
    stale = obs["price_staleness_s"].dropna().astype("float64") if len(obs) else pd.Series(dtype="float64")
    rows = contracts.sum() + quarantined.sum()
    price = summary.get("price", {}) if summary else {}
    notes = obs["notes"].astype("str") if len(obs) else pd.Series(dtype="str")
    return {
        "observations": int(len(obs)),
        "chain_events": int((obs["kind"] == "chain").sum()) if len(obs) else 0,
        "mbo_events": int((obs["kind"] == "mbo").sum()) if len(obs) else 0,
        "halted_events": int(obs["halted"].sum()) if len(obs) else 0,
        "chains_refused": int(notes.str.contains("chain refused").sum()),
        "contracts_mean": float(contracts.mean()) if len(contracts) else None,
        "quarantined_rows": int(quarantined.sum()),
        "quarantine_share": float(quarantined.sum() / rows) if rows else None,
        "missing_share_mean": _mean(obs["missing_share"]) if len(obs) else None,
        "price_staleness_p50_s": float(np.median(stale)) if len(stale) else None,
        "price_staleness_max_s": float(stale.max()) if len(stale) else None,
        "stale_decisions": int((stale > config.alerts.max_price_staleness_s).sum()),
        "price_bars": price.get("bars"),
        "price_bars_expected": price.get("expected"),
        "price_completeness": price.get("completeness"),
        "notes": [{"time": str(t), "note": str(n)} for t, n in
                  zip(obs["sim_time"], notes) if n][-MAX_NOTES:] if len(obs) else [],
    }


def run_price_coverage(summaries: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The closed days' price-path coverage added up: bars inside the windows against the bars
    expected (None when any day has no expected count, e.g. live); empty before the first close."""
    prices = [summary.get("price") or {} for summary in summaries]
    if not prices:
        return {}
    bars = sum(int(p.get("bars") or 0) for p in prices)
    expected = None if any(p.get("expected") is None for p in prices) else sum(int(p["expected"]) for p in prices)
    return {"bars": bars, "expected": expected, "completeness": bars / expected if expected else None}


def signal_rows(table: pd.DataFrame, timezone: str) -> list[dict[str, Any]]:
    """The per-signal outcome table (times in the window's clock)."""
    if table.empty:
        return []
    view = table.assign(
        time_local=pd.to_datetime(table["sim_time"], utc=True).dt.tz_convert(timezone).dt.strftime("%Y-%m-%d %H:%M"),
        resolved_local=pd.to_datetime(table["resolved_at"], utc=True).dt.tz_convert(timezone).dt.strftime("%H:%M"))
    out = []
    for row in view.to_dict("records"):
        item = {c: _json(row.get(c)) for c in SIGNAL_TABLE_COLUMNS}
        for flag in ("passed", "false_positive"):
            item[flag] = bool(row[flag])
        item["correct"] = None if pd.isna(row["correct"]) else bool(row["correct"])
        item["reasons"] = list(row["reasons"])
        out.append(item)
    return out


def _summary(ledger: Ledger, day: str) -> dict[str, Any]:
    text = report_queries.day_summary_json(ledger, day)
    return json.loads(text) if text else {}


def _by_source(table: pd.DataFrame) -> dict[str, Any]:
    return {str(name): metrics.signal_metrics(group) for name, group in table.groupby("source", sort=True)}


def _data_cost_note(ledger: Ledger) -> str:
    run = ledger.run() or {}
    if run.get("mode") == "replay":
        return "replay of recorded data: no data was bought during this run"
    return "what the data sources charged, as recorded with each load"


def _arm_note(ledger: Ledger, name: str, algorithm: str | None, count: int, day: str | None) -> str:
    if algorithm is None:
        return f"{name} is not a signal source of this run"
    if count:
        return ""
    kind = "mbo" if algorithm == "ifd_v3" else "chain"
    seen = report_queries.observation_count(ledger, kind, day)
    if seen == 0:
        return (f"no {'MBO emissions' if kind == 'mbo' else 'chain snapshots'} reached {name}: its input is missing "
                f"from this run's data, so it could not be judged")
    return f"{name} saw {seen} {kind} event(s) and signalled nothing"


def _difference(b: Any, a: Any) -> float | None:
    return None if a is None or b is None else float(b) - float(a)


def _two_proportion_ci(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[float] | None:
    """95% normal-approximation interval of accuracy(B) - accuracy(A); None without outcomes."""
    na, nb = a["resolved"], b["resolved"]
    if not na or not nb:
        return None
    pa, pb = a["correct"] / na, b["correct"] / nb
    se = math.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb)
    return [pb - pa - 1.96 * se, pb - pa + 1.96 * se]


def _ab_reading(a: Mapping[str, Any], b: Mapping[str, Any], comparison: Mapping[str, Any]) -> str:
    if not a["resolved"] or not b["resolved"]:
        missing = [arm["source"] for arm in (a, b) if not arm["resolved"]]
        return f"no resolved signal yet for {', '.join(missing)}: the arms cannot be compared"
    ci = comparison["accuracy_difference_ci95"]
    lead = b["source"] if comparison["accuracy_difference"] > 0 else a["source"]
    text = (f"{b['source']} {b['accuracy'] * 100:.1f}% vs {a['source']} {a['accuracy'] * 100:.1f}% accuracy "
            f"({b['resolved']} vs {a['resolved']} resolved)")
    if ci is not None and (ci[0] > 0 or ci[1] < 0):
        return text + f": {lead} is ahead beyond the 95% interval"
    if not comparison["enough_signals"]:
        return text + f": too few signals to tell (at least {comparison['min_signals_per_arm']} per arm needed)"
    return text + ": the difference is within the noise (95% interval spans 0)"


def _mean(series: pd.Series) -> float | None:
    values = series.dropna().astype("float64")
    return float(values.mean()) if len(values) else None


def _json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if value is pd.NaT or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    return value
