"""The verdict against the profile's targets: pass, fail, or inconclusive when a figure is missing."""
from __future__ import annotations

import pytest

from tasks.options_trading_system.analysis_engine.strategies.shadow_config import TargetsConfig
from tasks.options_trading_system.analysis_engine.strategies.results.targets import check_targets, verdict

TARGETS = TargetsConfig(min_signals=10, min_accuracy=0.5, max_false_positive_rate=0.45, min_win_rate=0.45,
                        min_profit_factor=1.2, max_drawdown_usd=1000, min_total_pnl_usd=0)
GOOD_SIGNALS = {"resolved": 20, "accuracy": 0.6, "false_positive_rate": 0.3}
GOOD_TRADES = {"trades": 15, "win_rate": 0.55, "profit_factor": 1.5, "max_drawdown_usd": 400.0, "pnl_usd": 250.0,
               "gross_loss_usd": 500.0, "gross_profit_usd": 750.0}


def _status(criteria: list[dict]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in criteria}


def test_all_targets_met_pass() -> None:
    criteria = check_targets(GOOD_SIGNALS, GOOD_TRADES, TARGETS)
    assert set(_status(criteria).values()) == {"pass"}
    assert verdict(criteria) == "PASS"


def test_one_missed_target_fails_the_run() -> None:
    criteria = check_targets({**GOOD_SIGNALS, "false_positive_rate": 0.5}, GOOD_TRADES, TARGETS)
    assert _status(criteria)["false_positive_rate"] == "fail"
    assert verdict(criteria) == "FAIL"


def test_missing_figures_are_never_a_pass() -> None:
    no_trades = {"trades": 0, "win_rate": None, "profit_factor": None, "max_drawdown_usd": 0.0, "pnl_usd": 0.0,
                 "gross_loss_usd": 0.0, "gross_profit_usd": 0.0}
    criteria = check_targets(GOOD_SIGNALS, no_trades, TARGETS)
    status = _status(criteria)
    assert status["win_rate"] == status["profit_factor"] == status["total_pnl_usd"] == "missing"
    assert verdict(criteria) == "INCONCLUSIVE"


def test_profit_factor_without_losses_passes_with_a_note() -> None:
    trades = {**GOOD_TRADES, "profit_factor": None, "gross_loss_usd": 0.0}
    row = next(c for c in check_targets(GOOD_SIGNALS, trades, TARGETS) if c["name"] == "profit_factor")
    assert row["status"] == "pass" and "no losing trade" in row["note"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
