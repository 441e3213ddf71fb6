"""The sweep comparison's pieces: ranks that share ties and leave missing figures unranked, a
heatmap whose missing cells stay missing, a multiple-testing note that counts the variants, and
a schema that refuses a figure written as something other than a number or null."""
from __future__ import annotations

import math

import pytest

from tasks.options_trading_system.errors import OutputValidationError
from tasks.options_trading_system.output_generation import shadow_report_writer
from tasks.options_trading_system.output_generation.sweep_comparison import (heatmap, multiple_testing, rank,
                                                                             sharpe_standard_error)


def _row(name: str, **figures) -> dict:
    base = {k: None for k in ("accuracy", "false_positive_rate", "sharpe", "sortino", "calmar")}
    base.update({"net_pnl_usd": 0.0, "max_drawdown_usd": 0.0})
    base.update(figures)
    return {"name": name, "parameters": {}, "figures": base, "ranks": {"sharpe": None}}


def test_ranks_share_ties_skip_after_them_and_leave_missing_unranked() -> None:
    assert rank([1.0, None, 3.0, 3.0, 2.0], "higher") == [4, None, 1, 1, 3]
    assert rank([10.0, 5.0, None, 5.0], "lower") == [3, 1, None, 1]
    # the same P&L summed in another order is the same P&L
    assert rank([-126.00000000000001, -126.0], "higher") == [1, 1]


def test_a_heatmap_cell_without_a_figure_or_a_run_is_missing_not_zero() -> None:
    grid = {"a.x": [1, 2], "a.y": [True, False]}
    rows = [{"parameters": {"a.x": 1, "a.y": True}, "figures": {"sharpe": 1.5}},
            {"parameters": {"a.x": 2, "a.y": True}, "figures": {"sharpe": None}}]
    table = heatmap(["a.x", "a.y"], grid, rows)
    assert table["cells"]["sharpe"] == [[1.5, None], [None, None]]
    assert table["x_values"] == [1, 2] and table["y_values"] == [True, False]


def test_the_multiple_testing_note_counts_the_variants_and_computes_its_figures() -> None:
    rows = [_row("a", sharpe=2.0), _row("b", sharpe=1.0)]
    rows[0]["ranks"] = {"sharpe": 1}
    rows[1]["ranks"] = {"sharpe": 2}
    note = multiple_testing(rows, "sharpe", days=20)
    assert note["variants_tried"] == 2 and note["bonferroni_alpha"] == pytest.approx(0.025)
    daily = 2.0 / math.sqrt(252)
    assert note["best_sharpe_standard_error"] == pytest.approx(math.sqrt((1 + daily ** 2 / 2) / 20 * 252))
    assert "2 variants were tried" in note["text"] and "biased upward" in note["text"] and "2.50%" in note["text"]
    single = multiple_testing(rows[:1], "sharpe", days=20)
    assert single["bonferroni_alpha"] is None and "no selection bias" in single["text"]
    assert sharpe_standard_error(1.0, 1) is None


def test_the_schema_refuses_a_missing_figure_written_as_text() -> None:
    document = {"report": "shadow_trading_sweep", "version": 1, "sweep_id": "s", "description": "", "sweep_file": "f",
                "kind": "grid", "base_profile": "p", "replay": "r", "days": 2, "trading_days": [], "is_sample": True,
                "data_note": "", "rank_by": "sharpe", "parameters": [], "complete": True, "metrics": [],
                "variants": [{"name": "a", "run_id": "s--a", "description": "", "parameters": {}, "overrides": {},
                              "status": "completed", "ranks": {},
                              "figures": {**_row("a")["figures"], "sharpe": "n/a", "signals": 1, "resolved": 1,
                                          "validated": 1, "trades": 0, "days_closed": 2}}],
                "best": {}, "heatmap": None, "trace": "",
                "multiple_testing": {"variants_tried": 1, "bonferroni_alpha": None, "best_sharpe_standard_error": None,
                                     "text": "one"}}
    with pytest.raises(OutputValidationError):
        shadow_report_writer.validate("sweep", document)
    document["variants"][0]["figures"]["sharpe"] = None
    shadow_report_writer.validate("sweep", document)
