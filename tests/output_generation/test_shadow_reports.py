"""Shadow-trading reports: figures equal to ledger queries, schemas that refuse a bad document,
HTML that escapes what it did not write, alerts and recommendations that carry their numbers."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tasks.options_trading_system.analysis_engine.strategies.shadow_config import ShadowTradingConfig
from tasks.options_trading_system.analysis_engine.strategies.shadow_run import RunHooks, ShadowRunRequest, start_run
from tasks.options_trading_system.errors import OutputValidationError
from tasks.options_trading_system.output_generation import shadow_advice, shadow_report_writer, shadow_reports
from tasks.options_trading_system.output_generation.shadow_charts import equity_svg
from tasks.options_trading_system.sample_data.week import SampleWeekParams, write_sample_week
from tasks.options_trading_system.state.ledger import Ledger

CONFIG = ShadowTradingConfig()
DAY = "2025-06-02"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("shadow_reports")
    write_sample_week(base / "week", SampleWeekParams(days=1, snapshot_minutes=30, episodes_per_day=3),
                      with_mbo=False)
    result = start_run(ShadowRunRequest(replay=base / "week", days=1, output_dir=base / "out", run_id="r"),
                       RunHooks(reports=shadow_report_writer))
    return result.run_dir


def test_daily_figures_are_ledger_queries(run: Path) -> None:
    ledger = Ledger.open_existing(run / "ledger.sqlite")
    try:
        doc = shadow_reports.daily_report(ledger, DAY, CONFIG)
        signals = ledger.scalar("SELECT COUNT(*) FROM signals WHERE day = ?", (DAY,))
        passed = ledger.scalar("SELECT COUNT(*) FROM validations v JOIN signals s USING (signal_id) "
                               "WHERE s.day = ? AND v.passed = 1", (DAY,))
        pnl = ledger.scalar("SELECT SUM(pnl_usd) FROM outcomes WHERE day = ?", (DAY,))
        assert doc["signals"]["signals"] == signals == len(doc["signal_table"])
        assert doc["signals"]["validation_rate"] == pytest.approx(passed / signals)
        assert doc["trades"]["pnl_usd"] == pytest.approx(pnl)
        assert doc["trades"]["equity_curve"][-1]["equity_usd"] == pytest.approx(pnl)
        assert {c["name"] for c in doc["targets"]} >= {"accuracy", "false_positive_rate"}
        assert doc["costs"]["data_usd"] == 0.0 and "no data was bought" in doc["costs"]["data_note"]
    finally:
        ledger.close()


def test_the_final_report_adds_up_the_days_price_coverage(run: Path) -> None:
    ledger = Ledger.open_existing(run / "ledger.sqlite")
    try:
        day = json.loads(ledger.scalar("SELECT summary_json FROM daily_summaries WHERE day = ?", (DAY,)))["price"]
        quality = shadow_reports.final_report(ledger, CONFIG)["data_quality"]
    finally:
        ledger.close()
    # one replayed day of 1-minute bars over 09:30-16:00: 390 expected, all of them present
    assert day["expected"] == 390 and day["bars"] == 390
    assert (quality["price_bars"], quality["price_bars_expected"], quality["price_completeness"]) == (390, 390, 1.0)
    assert shadow_reports.run_price_coverage([]) == {}
    live = shadow_reports.run_price_coverage([{"price": {"bars": 12, "expected": None}}])
    assert live == {"bars": 12, "expected": None, "completeness": None}


def test_the_ab_report_says_why_an_arm_without_input_cannot_be_judged(run: Path) -> None:
    ab = json.loads((run.parents[1] / DAY / "ab_testing" / "ab_comparison_r.json").read_text())
    assert ab["arms"]["b"]["source"] == "ifd_v3" and ab["arms"]["b"]["signals"] == 0
    assert "MBO" in ab["arms"]["b"]["note"] and "could not be judged" in ab["arms"]["b"]["note"]
    assert ab["comparison"]["accuracy_difference"] is None


def test_a_document_that_breaks_its_schema_is_not_written(run: Path, tmp_path: Path) -> None:
    doc = json.loads((run.parents[1] / DAY / "paper_trading" / "daily_report_r.json").read_text())
    doc["signals"]["accuracy"] = "high"
    with pytest.raises(OutputValidationError, match=r"\$\.signals\.accuracy"):
        shadow_report_writer.write_document("daily", doc, tmp_path, "daily_report")
    assert not list(tmp_path.iterdir())


def test_html_escapes_text_from_data(run: Path, tmp_path: Path) -> None:
    doc = json.loads((run.parents[1] / DAY / "paper_trading" / "daily_report_r.json").read_text())
    hostile = '<script>alert("x")</script>'
    doc = copy.deepcopy(doc)
    doc["alerts"].append({"level": "warning", "code": "TEST", "message": hostile})
    doc["recommendations"].append(hostile)
    if doc["signal_table"]:
        doc["signal_table"][0]["reasons"].append(hostile)
    _, html_path = shadow_report_writer.write_document("daily", doc, tmp_path, "daily_report")
    html = html_path.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_recommendations_follow_from_the_numbers() -> None:
    criteria = [{"name": "false_positive_rate", "status": "fail"}, {"name": "accuracy", "status": "pass"}]
    out = shadow_advice.recommendations(criteria=criteria, signals={"resolved": 3, "false_positive_rate": 0.6,
                                                                    "validated": 3},
                                        trades={"trades": 0}, table=_empty_table(), refusals={}, quality={},
                                        latency={}, config=CONFIG)
    text = " ".join(out)
    assert "only 3 resolved signal(s) against the 10" in text
    assert "false-positive rate 60.0% is above the 45.0% limit" in text and "now 0.6" in text
    assert not any("qualify for limited live" in r for r in out)


def test_alerts_name_the_threshold_they_crossed() -> None:
    alerts = shadow_advice.alerts(signals={}, trades={"trades": 4, "pnl_usd": -750.0},
                                  quality={"observations": 10, "stale_decisions": 2, "price_staleness_max_s": 900.0,
                                           "quarantine_share": 0.2},
                                  latency={"cycle": {"p95": 2500.0}}, controls=[], refusals={"POSITION_LIMIT": 3},
                                  config=CONFIG)
    codes = [a["code"] for a in alerts]
    assert codes[0] == "DAILY_LOSS" and {"STALE_PRICE", "QUARANTINE", "SLOW_CYCLE", "LIMIT_REFUSALS"} <= set(codes)
    assert "-$750 is beyond the $500 daily loss alert" in alerts[0]["message"]


def test_the_equity_curve_has_one_point_per_trade_after_the_start() -> None:
    svg = str(equity_svg([{"time": "t1", "equity_usd": 50.0}, {"time": "<t2>", "equity_usd": -20.0}]))
    assert svg.count('class="point"') == 3 and "&lt;t2&gt;" in svg and "<t2>" not in svg
    assert "No closed paper trade" in str(equity_svg([]))


def test_a_trade_without_a_pnl_is_not_a_zero_point_on_the_equity_curve() -> None:
    import pandas as pd
    from tasks.options_trading_system.output_generation.shadow_figures import equity_points
    trades = pd.DataFrame({"signal_id": ["a", "b", "c"], "pnl_usd": [50.0, None, -20.0],
                           "exit_time": ["t1", "t2", "t3"]})
    assert equity_points(trades) == [{"time": "t1", "equity_usd": 50.0}, {"time": "t3", "equity_usd": 30.0}]
    assert equity_points(trades.iloc[0:0]) == []


def _empty_table():
    import pandas as pd
    return pd.DataFrame(columns=["source", "correct", "passed", "technical", "market_context", "time_of_day",
                                 "history"])


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_a_shadow_run_is_its_own_paper_twin(run: Path) -> None:
    """The execution section of a paper run: every fill has a paper twin computed by the paper
    broker on the run's own price path, and since the broker *is* paper, the twin equals the trade
    (no slippage against paper, predicted P&L = real P&L, same exits); every figure is the ledger's."""
    ledger = Ledger.open_existing(run / "ledger.sqlite")
    try:
        prices = shadow_report_writer.run_prices(ledger, CONFIG)
        doc = shadow_reports.daily_report(ledger, DAY, CONFIG, prices)
        fills = ledger.scalar("SELECT COUNT(*) FROM fills WHERE day = ?", (DAY,))
        entries = ledger.scalar("SELECT COUNT(*) FROM orders WHERE day = ? AND purpose = 'entry'", (DAY,))
        pnl = ledger.scalar("SELECT SUM(pnl_usd) FROM outcomes WHERE day = ? AND position_id IS NOT NULL", (DAY,))
        refused = ledger.rows("SELECT guard, code, COUNT(*) AS refusals FROM risk_events WHERE kind = 'refusal' "
                              "GROUP BY guard, code ORDER BY guard, code")
    finally:
        ledger.close()
    execution = doc["execution"]
    assert (execution["mode"], execution["broker"], execution["netting"]) == ("shadow", "paper", "per_signal")
    assert fills >= 2 and len(execution["fills"]) == fills and execution["orders"]["entries"] == entries
    assert all(f["slippage_vs_paper_points"] == 0 for f in execution["fills"])
    entry = execution["slippage"]["vs_reference"]["entry"]
    assert entry["mean_points"] == pytest.approx(CONFIG.execution.slippage_points)    # the profile's 1 tick
    assert execution["pnl"]["compared"] == execution["pnl"]["trades"] >= 1
    assert execution["pnl"]["real_usd"] == pytest.approx(pnl) == pytest.approx(execution["pnl"]["predicted_usd"])
    assert execution["pnl"]["same_exit"] == execution["pnl"]["compared"]
    assert execution["refusals_by_guard"] == refused
    caps = {(c["guard"], c["name"]): c for c in execution["caps"][DAY]}
    assert set(caps) == {("max_position", "contracts"), ("max_daily_loss", "loss"), ("max_total_risk", "risk"),
                         ("data_cost", "day"), ("data_cost", "month"), ("cost_per_signal", "per_signal"),
                         ("order_rate", "orders")}
    assert 1 <= caps[("max_position", "contracts")]["used"] <= caps[("max_position", "contracts")]["limit"]
    assert caps[("data_cost", "day")]["used"] == 0.0 and not caps[("data_cost", "day")]["enabled"]
    assert {"sharpe", "sortino", "calmar", "max_drawdown_usd", "profit_factor"} <= set(doc["trades"])
    shadow_report_writer.validate("daily", doc)


def test_without_the_price_path_the_paper_twin_is_missing_not_made_up(run: Path) -> None:
    ledger = Ledger.open_existing(run / "ledger.sqlite")
    try:
        execution = shadow_reports.final_report(ledger, CONFIG, None)["execution"]
    finally:
        ledger.close()
    assert execution["pnl"]["predicted_usd"] is None and execution["pnl"]["compared"] == 0
    assert all(f["slippage_vs_paper_points"] is None for f in execution["fills"])
    assert "price path could not be read" in execution["slippage"]["paper_twin_note"]
    assert execution["slippage"]["vs_paper"]["entry"]["fills"] == 0


def test_the_reports_show_sortino_and_calmar_beside_sharpe(run: Path) -> None:
    html = next((run.parent.parent / DAY / "paper_trading").glob("daily_report_*.html")).read_text()
    final = (run / "final_results.html").read_text()
    ab = json.loads(next((run.parent.parent / DAY / "ab_testing").glob("ab_comparison_*.json")).read_text())
    for page in (html, final):
        assert "Sortino" in page and "Calmar" in page and "profit factor" in page and "Execution" in page
    assert {"sharpe", "sortino", "calmar", "max_drawdown_usd", "profit_factor"} <= set(ab["arms"]["a"]["trades"])
