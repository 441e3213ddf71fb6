"""Alerts and recommendations for the shadow-trading reports: rules over the figures, each message
carrying the numbers that triggered it (no canned advice: a rule that does not fire says nothing).
Pure: figure dictionaries and settings in, lists of messages out.
"""
from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from ..analysis_engine.strategies.shadow_config import ShadowTradingConfig
from ..analysis_engine.strategies.results.targets import FAIL, MISSING
from . import formatting as fmt

WARNING, CRITICAL, INFO = "warning", "critical", "info"
CRITERIA = ("technical", "market_context", "time_of_day", "history")


def alerts(*, signals: Mapping[str, Any], trades: Mapping[str, Any], quality: Mapping[str, Any],
           latency: Mapping[str, Mapping[str, Any]], controls: list[Mapping[str, Any]], refusals: Mapping[str, int],
           config: ShadowTradingConfig) -> list[dict[str, str]]:
    """What the trader should look at today, most serious first."""
    a = config.alerts
    out: list[dict[str, str]] = []
    if trades.get("trades") and trades.get("pnl_usd", 0.0) < -a.max_daily_loss_usd:
        out.append(_alert(CRITICAL, "DAILY_LOSS", f"paper P&L {fmt.dollars(trades['pnl_usd'])} is beyond the "
                                                  f"{fmt.dollars(a.max_daily_loss_usd)} daily loss alert"))
    if quality.get("observations", 0) == 0:
        out.append(_alert(CRITICAL, "NO_DATA", "no market event was observed in the window (no chain snapshot, "
                                               "no MBO emission): nothing could be judged today"))
    if quality.get("chains_refused"):
        out.append(_alert(WARNING, "CHAIN_REFUSED", f"{quality['chains_refused']} chain snapshot(s) failed "
                                                    f"validation and were not used"))
    if quality.get("stale_decisions"):
        out.append(_alert(WARNING, "STALE_PRICE", f"{quality['stale_decisions']} decision(s) used a price older than "
                                                  f"{a.max_price_staleness_s:g} s (max "
                                                  f"{fmt.seconds(quality.get('price_staleness_max_s'))})"))
    share = quality.get("quarantine_share")
    if share is not None and share > a.max_quarantine_share:
        out.append(_alert(WARNING, "QUARANTINE", f"{fmt.percent(share)} of chain rows were quarantined "
                                                 f"(alert above {fmt.percent(a.max_quarantine_share)})"))
    completeness = quality.get("price_completeness")
    if completeness is not None and completeness < 0.95:
        out.append(_alert(WARNING, "PRICE_GAPS", f"the price path covers {fmt.percent(completeness)} of the window's "
                                                 f"minutes: outcomes near the gaps may be late"))
    cycle = latency.get("cycle") or {}
    if cycle.get("p95") is not None and cycle["p95"] > a.max_cycle_p95_ms:
        out.append(_alert(WARNING, "SLOW_CYCLE", f"cycle p95 {fmt.millis(cycle['p95'])} above the "
                                                 f"{fmt.millis(a.max_cycle_p95_ms)} budget"))
    for control in controls:
        out.append(_alert(INFO, f"CONTROL_{str(control['command']).upper()}",
                          f"{control['command']} applied at {control['applied_at']} (requested by "
                          f"{control['requested_by'] or 'unknown'}: {control['reason'] or 'no reason given'})"))
    limited = sum(v for k, v in refusals.items() if k in ("POSITION_LIMIT", "SOURCE_LIMIT"))
    if limited:
        out.append(_alert(INFO, "LIMIT_REFUSALS", f"{limited} validated signal(s) refused by position limits"))
    order = {CRITICAL: 0, WARNING: 1, INFO: 2}
    return sorted(out, key=lambda x: order[x["level"]])


def recommendations(*, criteria: list[Mapping[str, Any]], signals: Mapping[str, Any], trades: Mapping[str, Any],
                    table: pd.DataFrame, refusals: Mapping[str, int], quality: Mapping[str, Any],
                    latency: Mapping[str, Mapping[str, Any]], config: ShadowTradingConfig) -> list[str]:
    """What to change, and why, from the figures against the targets."""
    t = config.targets
    out: list[str] = []
    status = {c["name"]: c for c in criteria}
    resolved = signals.get("resolved") or 0
    if resolved < t.min_signals:
        out.append(f"only {resolved} resolved signal(s) against the {t.min_signals} the targets need: the figures "
                   f"are not yet evidence; keep the run going (or replay more days) before judging")
    if status.get("accuracy", {}).get("status") == FAIL and not table.empty:
        worst = _worst_source(table)
        if worst is not None:
            out.append(f"accuracy {fmt.percent(signals['accuracy'])} is below the {fmt.percent(t.min_accuracy)} "
                       f"target; the weakest source is {worst[0]} ({fmt.percent(worst[1])} over {worst[2]} resolved "
                       f"signals): tighten its thresholds or switch it to trade=false while it is judged")
    if status.get("false_positive_rate", {}).get("status") == FAIL:
        gap = _most_telling_criterion(table)
        advice = (f"; among validated signals, {gap[0]} separated right from wrong best (mean score "
                  f"{gap[1]:.2f} on right vs {gap[2]:.2f} on wrong): give it more weight") if gap else ""
        out.append(f"false-positive rate {fmt.percent(signals['false_positive_rate'])} is above the "
                   f"{fmt.percent(t.max_false_positive_rate)} limit: raise `validation.min_score` "
                   f"(now {config.validation.min_score:g}){advice}")
    if status.get("profit_factor", {}).get("status") == FAIL and trades.get("trades"):
        avg_win = trades["gross_profit_usd"] / trades["wins"] if trades.get("wins") else None
        avg_loss = trades["gross_loss_usd"] / trades["losses"] if trades.get("losses") else None
        out.append(f"profit factor {fmt.ratio(trades['profit_factor'])} is below {t.min_profit_factor:g}: the average "
                   f"loss ({fmt.dollars(avg_loss)}) against the average win ({fmt.dollars(avg_win)}) over "
                   f"{trades['trades']} trades; favour setups with a higher reward/risk "
                   f"(`validation.min_reward_risk`, now {config.validation.min_reward_risk:g})")
    if status.get("max_drawdown_usd", {}).get("status") == FAIL:
        out.append(f"drawdown {fmt.dollars(trades['max_drawdown_usd'])} exceeds the {fmt.dollars(t.max_drawdown_usd)} "
                   f"limit: fewer simultaneous positions (`execution.max_open_positions`, now "
                   f"{config.execution.max_open_positions}) would cap it")
    limited = sum(v for k, v in refusals.items() if k in ("POSITION_LIMIT", "SOURCE_LIMIT"))
    if limited and signals.get("validated"):
        out.append(f"{limited} of {signals['validated']} validated signals were refused by position limits: their "
                   f"outcomes are judged but not traded; raise the limits only if the refused ones did well")
    if quality.get("stale_decisions"):
        out.append(f"{quality['stale_decisions']} decisions used a stale price: check the price feed before trusting "
                   f"the fills")
    cycle = latency.get("cycle") or {}
    if cycle.get("p95") is not None and cycle["p95"] > config.alerts.max_cycle_p95_ms:
        slowest = max(((k, v.get("p95") or 0.0) for k, v in latency.items() if k.startswith("algorithm:")),
                      key=lambda kv: kv[1], default=None)
        if slowest:
            out.append(f"cycle p95 {fmt.millis(cycle['p95'])} is over budget; the slowest step is {slowest[0]} "
                       f"(p95 {fmt.millis(slowest[1])})")
    if criteria and all(c["status"] not in (FAIL, MISSING) for c in criteria):
        out.append("every target is met on these outcomes: the algorithms qualify for limited live trading "
                   "(1 contract, hard loss and budget caps) if the run covered enough days")
    return out


def _alert(level: str, code: str, message: str) -> dict[str, str]:
    return {"level": level, "code": code, "message": message}


def _worst_source(table: pd.DataFrame) -> tuple[str, float, int] | None:
    resolved = table[table["correct"].notna()]
    if resolved.empty:
        return None
    grouped = resolved.groupby("source")["correct"].agg(["mean", "count"]).sort_values(["mean", "count"])
    name = str(grouped.index[0])
    return name, float(grouped["mean"].iloc[0]), int(grouped["count"].iloc[0])


def _most_telling_criterion(table: pd.DataFrame) -> tuple[str, float, float] | None:
    passed = table[(table["passed"] == 1) & table["correct"].notna()]
    right, wrong = passed[passed["correct"] == 1], passed[passed["correct"] == 0]
    if right.empty or wrong.empty:
        return None
    gaps = []
    for name in CRITERIA:
        r, w = right[name].mean(), wrong[name].mean()
        if pd.notna(r) and pd.notna(w):
            gaps.append((name, float(r), float(w)))
    return max(gaps, key=lambda g: g[1] - g[2]) if gaps else None
