"""The profile's targets, checked against the figures: each criterion pass, fail or missing.

A run passes when every criterion passes; it fails when any fails; it is inconclusive when none
fails but some cannot be computed yet (no resolved signals, no trades...). Missing is never
counted as a pass. Pure: figures in, criteria out.
"""
from __future__ import annotations

from typing import Any, Mapping

from ..shadow_config import TargetsConfig

PASS, FAIL, MISSING = "pass", "fail", "missing"
VERDICT_PASS, VERDICT_FAIL, VERDICT_INCONCLUSIVE = "PASS", "FAIL", "INCONCLUSIVE"


def check_targets(signals: Mapping[str, Any], trades: Mapping[str, Any], targets: TargetsConfig
                  ) -> list[dict[str, Any]]:
    """One row per criterion: name, value, target, comparison, status, and what it measures."""
    rows = [
        _row("resolved_signals", signals.get("resolved"), targets.min_signals, ">=",
             "signals whose outcome is known (target, stop or session end)"),
        _row("accuracy", signals.get("accuracy"), targets.min_accuracy, ">=",
             "share of resolved signals that moved their way"),
        _row("false_positive_rate", signals.get("false_positive_rate"), targets.max_false_positive_rate, "<=",
             "share of validated signals that went against their direction"),
        _row("win_rate", trades.get("win_rate"), targets.min_win_rate, ">=",
             "share of paper trades closed with a net profit"),
        _row("profit_factor", trades.get("profit_factor"), targets.min_profit_factor, ">=",
             "gross profit / gross loss of paper trades, net of costs"),
        _row("max_drawdown_usd", trades.get("max_drawdown_usd") if trades.get("trades") else None,
             targets.max_drawdown_usd, "<=", "largest fall of the paper equity curve, dollars"),
        _row("total_pnl_usd", trades.get("pnl_usd") if trades.get("trades") else None, targets.min_total_pnl_usd,
             ">=", "net paper P&L, dollars"),
    ]
    if trades.get("trades") and trades.get("profit_factor") is None and trades.get("gross_loss_usd") == 0:
        rows[4].update(status=PASS if trades.get("gross_profit_usd", 0) > 0 else MISSING,
                       note="no losing trade yet: profit factor is unbounded")
    return rows


def verdict(criteria: list[dict[str, Any]]) -> str:
    statuses = {c["status"] for c in criteria}
    if FAIL in statuses:
        return VERDICT_FAIL
    if MISSING in statuses:
        return VERDICT_INCONCLUSIVE
    return VERDICT_PASS


def _row(name: str, value: Any, target: float, comparison: str, meaning: str) -> dict[str, Any]:
    if value is None:
        status = MISSING
    elif comparison == ">=":
        status = PASS if value >= target else FAIL
    else:
        status = PASS if value <= target else FAIL
    return {"name": name, "value": value, "target": target, "comparison": comparison, "status": status,
            "meaning": meaning, "note": ""}
