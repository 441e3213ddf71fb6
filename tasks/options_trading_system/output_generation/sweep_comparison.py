"""A parameter sweep's comparison document (plain JSON data), built only from the variants' ledgers.

For every variant: accuracy, false-positive rate, Sharpe, Sortino, Calmar, net P&L and max
drawdown, computed from its own ledger with the same queries (`shadow_figures`, over
`state/report_queries.py`) and the same functions (`results/metrics.py`) as its final report.
Each figure ranks the variants (1 = best, ties share a rank; a missing figure has no rank); the
variants are listed in the order of the sweep's `rank_by` figure. A two-setting grid adds a
heatmap table (each figure by the two settings). A note says how many variants were tried and
why the best of them flatters itself (multiple testing), with figures computed from the runs.
A variant whose run has not completed is listed with its status, no figures and no rank.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from ..analysis_engine.strategies.results import metrics
from ..analysis_engine.strategies.sweep.plan import SweepPlan
from ..state.ledger import LEDGER_FILE, RUN_COMPLETED, Ledger
from . import shadow_figures as figures
from .formatting import dollars, percent, ratio
from .shadow_reports import run_header

REPORT_VERSION = 1
SIGNIFICANCE = 0.05

#: the ranked figures: key, label, which way is better
METRICS: tuple[tuple[str, str, str], ...] = (
    ("accuracy", "accuracy", "higher"),
    ("false_positive_rate", "false-positive rate", "lower"),
    ("sharpe", "Sharpe", "higher"),
    ("sortino", "Sortino", "higher"),
    ("calmar", "Calmar", "higher"),
    ("net_pnl_usd", "net P&L", "higher"),
    ("max_drawdown_usd", "max drawdown", "lower"),
)
TIE_BREAK = "net_pnl_usd"


def variant_figures(ledger: Ledger) -> dict[str, Any]:
    """The ranked figures of one run and the counts behind them, from its ledger."""
    signal_figures = metrics.signal_metrics(figures.signals_table(ledger))
    trade_figures = metrics.trade_metrics(figures.trades_table(ledger))
    days = figures.daily_summaries(ledger)
    daily_pnl = days["pnl_usd"].astype("float64").tolist() if len(days) else []
    return {
        "accuracy": signal_figures["accuracy"], "false_positive_rate": signal_figures["false_positive_rate"],
        "sharpe": metrics.sharpe(daily_pnl), "sortino": metrics.sortino(daily_pnl), "calmar": metrics.calmar(daily_pnl),
        "net_pnl_usd": trade_figures["pnl_usd"], "max_drawdown_usd": trade_figures["max_drawdown_usd"],
        "signals": signal_figures["signals"], "resolved": signal_figures["resolved"],
        "validated": signal_figures["validated"], "trades": trade_figures["trades"], "days_closed": len(daily_pnl),
    }


def comparison_document(plan: SweepPlan) -> dict[str, Any]:
    """The whole comparison of `plan`'s variants, read from their ledgers."""
    rows: list[dict[str, Any]] = []
    header: dict[str, Any] = {}
    for variant in plan.variants:
        path = plan.run_dir(variant) / LEDGER_FILE
        row = {"name": variant.name, "run_id": plan.run_id(variant), "description": variant.description,
               "parameters": dict(variant.parameters), "overrides": dict(variant.overrides),
               "status": "not started", "figures": None, "ranks": None}
        if path.is_file():
            ledger = Ledger.open_existing(path)
            try:
                run_head = run_header(ledger)
                header = header or run_head  # the same recording and days for every variant
                row["status"] = run_head["status"]
                if row["status"] == RUN_COMPLETED:
                    row["figures"] = variant_figures(ledger)
            finally:
                ledger.close()
        rows.append(row)
    ranked = [r for r in rows if r["figures"] is not None]
    for key, _label, better in METRICS:
        ranks = rank([r["figures"][key] for r in ranked], better)
        for row, position in zip(ranked, ranks):
            row["ranks"] = {**(row["ranks"] or {}), key: position}
    ordered = sorted(ranked, key=lambda r: (_order(r, plan.sweep.rank_by), _order(r, TIE_BREAK), r["name"])) + \
        [r for r in rows if r["figures"] is None]
    parameters = list(plan.sweep.grid)
    return {
        "report": "shadow_trading_sweep", "version": REPORT_VERSION,
        "sweep_id": plan.sweep.sweep_id, "description": plan.sweep.description, "sweep_file": str(plan.sweep.path),
        "kind": plan.sweep.kind, "base_profile": str(plan.base_profile), "replay": str(plan.replay),
        "days": plan.days, "trading_days": list(header.get("trading_days") or []),
        "is_sample": bool(header.get("is_sample", False)), "data_note": str(header.get("data_note") or ""),
        "rank_by": plan.sweep.rank_by, "parameters": parameters,
        "complete": len(ranked) == len(rows),
        "metrics": [{"key": k, "label": label, "better": better} for k, label, better in METRICS],
        "variants": ordered,
        "best": {k: [r["name"] for r in ranked if r["ranks"][k] == 1] for k, _l, _b in METRICS},
        "heatmap": heatmap(parameters, plan.sweep.grid, ranked) if len(parameters) == 2 else None,
        "multiple_testing": multiple_testing(ranked, plan.sweep.rank_by, plan.days),
        "trace": "every figure is a query over its variant's ledger (<output-dir>/runs/<run_id>/ledger.sqlite), "
                 "computed as in that run's final_results",
    }


def rank(values: Sequence[float | None], better: str) -> list[int | None]:
    """Competition ranks (1 = best; equal values share a rank, the next rank skips); None stays None.
    Values equal to 12 significant digits are equal (the same P&L summed in another order)."""
    sign = 1.0 if better == "higher" else -1.0
    keyed = [None if v is None else sign * float(f"{v:.12g}") for v in values]
    known = [k for k in keyed if k is not None]
    return [None if k is None else 1 + sum(1 for other in known if other > k) for k in keyed]


def heatmap(parameters: Sequence[str], grid: Mapping[str, Sequence[Any]], rows: Sequence[Mapping[str, Any]]
            ) -> dict[str, Any]:
    """Each figure on the two settings' grid: cells[metric][y index][x index], None where missing."""
    x_name, y_name = parameters
    x_values, y_values = list(grid[x_name]), list(grid[y_name])
    by_cell = {(r["parameters"][x_name], r["parameters"][y_name]): r["figures"] for r in rows}
    cells = {key: [[(by_cell.get((x, y)) or {}).get(key) for x in x_values] for y in y_values]
             for key, _label, _better in METRICS}
    return {"x": x_name, "y": y_name, "x_values": x_values, "y_values": y_values, "cells": cells}


def multiple_testing(rows: Sequence[Mapping[str, Any]], rank_by: str, days: int) -> dict[str, Any]:
    """How many variants were compared, and what that does to the best one's figures, in words
    (with the Bonferroni threshold and, where there is a Sharpe, its standard error over the days)."""
    n = len(rows)
    if n <= 1:
        return {"variants_tried": n, "bonferroni_alpha": None, "best_sharpe_standard_error": None,
                "text": "One variant was run: nothing was picked from a set, so there is no selection bias to "
                        "allow for; its figures are still one sample of a few days."}
    alpha = SIGNIFICANCE / n
    best = min(rows, key=lambda r: (_order(r, rank_by), r["name"]))
    best_sharpe = best["figures"]["sharpe"]
    error = sharpe_standard_error(best_sharpe, days) if best_sharpe is not None else None
    text = (f"{n} variants were tried on the same {days} trading day(s), and the best is picked after seeing the "
            f"results. The best of {n} noisy estimates is biased upward: the leader's {_label(rank_by)} (and every "
            f"other figure of it) is more likely than not to be lower on days this sweep did not see. Read the "
            f"ranking as a shortlist and confirm the chosen settings on other days (out of sample) before trusting "
            f"them. A Bonferroni-style reading: to claim that any one of {n} variants beats another at "
            f"{SIGNIFICANCE:.0%} significance, each comparison must pass at {SIGNIFICANCE:.0%}/{n} = {alpha:.2%}.")
    if error is not None:
        text += (f" Over {days} day(s) an annualised Sharpe has a standard error of about {error:.2f} "
                 f"(Lo 2002, for the leader {best['name']}, Sharpe {best_sharpe:.2f}): differences between variants "
                 f"smaller than that are within the noise.")
    else:
        text += " The leader has no Sharpe (too few days, or no variation in its daily P&L), so its standard " \
                "error cannot be given."
    return {"variants_tried": n, "bonferroni_alpha": alpha, "best_sharpe_standard_error": error, "text": text}


def sharpe_standard_error(annual_sharpe: float, days: int) -> float | None:
    """Standard error of an annualised Sharpe estimated from `days` daily returns (Lo 2002:
    sqrt((1 + SR_d^2 / 2) / T) for the daily ratio, scaled by sqrt(252)); None below 2 days."""
    if days < 2:
        return None
    daily = annual_sharpe / math.sqrt(metrics.TRADING_DAYS_PER_YEAR)
    return math.sqrt((1 + daily ** 2 / 2) / days) * math.sqrt(metrics.TRADING_DAYS_PER_YEAR)


def ranking_lines(document: Mapping[str, Any]) -> list[str]:
    """The ranking as a plain-text table for the console (missing figures read n/a)."""
    fmt = {"accuracy": percent, "false_positive_rate": percent, "sharpe": ratio, "sortino": ratio, "calmar": ratio,
           "net_pnl_usd": dollars, "max_drawdown_usd": dollars}
    heads = ["#", "variant"] + [label for _k, label, _b in METRICS] + ["trades", "status"]
    table = [heads]
    for position, row in enumerate(document["variants"], start=1):
        values = row["figures"] or {}
        table.append([str(position) if row["figures"] else "-", row["name"]]
                     + [fmt[k](values.get(k)) for k, _l, _b in METRICS]
                     + [str(values.get("trades", "n/a")), row["status"]])
    widths = [max(len(r[i]) for r in table) for i in range(len(heads))]
    lines = ["  ".join(cell.ljust(w) if i < 2 or i == len(heads) - 1 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(r, widths))) for r in table]
    return [f"sweep {document['sweep_id']}: {len(document['variants'])} variant(s), ranked by "
            f"{_label(document['rank_by'])}"] + lines


def _order(row: Mapping[str, Any], key: str) -> float:
    position = (row.get("ranks") or {}).get(key)
    return float("inf") if position is None else float(position)


def _label(key: str) -> str:
    return next(label for k, label, _b in METRICS if k == key)
