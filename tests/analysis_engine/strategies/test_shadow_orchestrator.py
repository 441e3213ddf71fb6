"""The orchestrator over a small recorded market: deterministic ledgers, halt obeyed within one
cycle (open positions still followed), every figure traceable to ledger rows."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.output_generation import shadow_report_writer
from tasks.options_trading_system.analysis_engine.strategies.shadow_run import RunHooks, ShadowRunRequest, start_run
from tasks.options_trading_system.state.ledger import Ledger, dump_state

IGNORE = {"runs": ["run_id"]}


def _run(recording: Path, out: Path, run_id: str, **hooks) -> object:
    request = ShadowRunRequest(profile="shadow_trading", replay=recording, days=2, output_dir=out, run_id=run_id)
    return start_run(request, RunHooks(reports=shadow_report_writer, **hooks))


@pytest.fixture(scope="module")
def baseline(small_recording: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("baseline")
    return out, _run(small_recording, out, "baseline")


def test_a_replay_closes_every_day_and_writes_the_reports(baseline: tuple[Path, object]) -> None:
    out, result = baseline
    assert result.status == "completed" and result.days_closed == 2
    for day in ("2025-06-02", "2025-06-03"):
        for sub, stem in (("paper_trading", "daily_report"), ("performance_tracking", "performance"),
                          ("ab_testing", "ab_comparison")):
            assert (out / day / sub / f"{stem}_baseline.json").is_file() and (out / day / sub / f"{stem}_baseline.html").is_file()
    assert (result.run_dir / "final_results.json").is_file()


class _CountingReports:
    """The report writer, counting which days' reports were written and the run status they carried."""

    def __init__(self) -> None:
        self.days: list[tuple[str, str]] = []

    def write_day_reports(self, ledger, day, config, output_dir):
        self.days.append((day, ledger.run()["status"]))
        return shadow_report_writer.write_day_reports(ledger, day, config, output_dir)

    def write_final_report(self, ledger, config, run_dir):
        return shadow_report_writer.write_final_report(ledger, config, run_dir)


def test_a_full_speed_replay_writes_each_days_reports_once_at_its_end_a_paced_one_also_at_each_close(
        small_recording: Path, tmp_path: Path) -> None:
    full, paced = _CountingReports(), _CountingReports()
    start_run(ShadowRunRequest(replay=small_recording, days=2, output_dir=tmp_path, run_id="full"), RunHooks(reports=full))
    start_run(ShadowRunRequest(replay=small_recording, days=2, output_dir=tmp_path, run_id="paced", speed=1e7),
              RunHooks(reports=paced))
    assert full.days == [("2025-06-02", "completed"), ("2025-06-03", "completed")]
    assert paced.days == [("2025-06-02", "running"), ("2025-06-03", "running"),
                          ("2025-06-02", "completed"), ("2025-06-03", "completed")]


def test_a_full_speed_replay_that_fails_keeps_the_reports_of_the_days_it_closed(
        small_recording: Path, tmp_path: Path) -> None:
    def fail_on_day_two(event: object) -> None:
        if event.day == "2025-06-03":
            raise RuntimeError("broken on day two")

    with pytest.raises(RuntimeError, match="broken on day two"):
        _run(small_recording, tmp_path, "failing", on_event=fail_on_day_two)
    assert (tmp_path / "2025-06-02" / "paper_trading" / "daily_report_failing.json").is_file()
    assert not (tmp_path / "2025-06-03" / "paper_trading" / "daily_report_failing.json").exists()


def test_the_same_input_gives_the_same_ledger(small_recording: Path, baseline: tuple[Path, object],
                                              tmp_path: Path) -> None:
    _, first = baseline
    second = _run(small_recording, tmp_path, "again")
    assert dump_state(second.run_dir / "ledger.sqlite", ignore_columns=IGNORE) == \
        dump_state(first.run_dir / "ledger.sqlite", ignore_columns=IGNORE)


def test_every_signal_is_validated_and_resolved_and_every_trade_traces_to_fills(baseline: tuple[Path, object]) -> None:
    _, result = baseline
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        assert ledger.scalar("SELECT COUNT(*) FROM signals") > 0
        assert ledger.scalar("SELECT COUNT(*) FROM signals s LEFT JOIN validations v USING (signal_id) "
                             "WHERE v.signal_id IS NULL") == 0
        # after the close every signal has an outcome, and no position is left open
        assert ledger.scalar("SELECT COUNT(*) FROM signals s LEFT JOIN outcomes o USING (signal_id) "
                             "WHERE o.signal_id IS NULL") == 0
        assert ledger.scalar("SELECT COUNT(*) FROM positions WHERE status = 'open'") == 0
        # a trade's P&L is its two fills: (exit - entry) x side x multiplier - commissions
        rows = ledger.rows("SELECT p.direction, p.multiplier, p.quantity, e.price AS entry, x.price AS exit_, "
                           "e.commission_usd + x.commission_usd AS costs, o.pnl_usd FROM positions p "
                           "JOIN fills e ON e.order_id = p.signal_id || '/entry' "
                           "JOIN fills x ON x.order_id = p.signal_id || '/exit' "
                           "JOIN outcomes o ON o.position_id = p.position_id")
        assert rows
        for r in rows:
            sign = 1 if r["direction"] == "LONG" else -1
            expected = (r["exit_"] - r["entry"]) * sign * r["multiplier"] * r["quantity"] - r["costs"]
            assert r["pnl_usd"] == pytest.approx(expected)
        # the final report's figures are the ledger's
        final = json.loads((result.run_dir / "final_results.json").read_text())
        assert final["signals"]["signals"] == ledger.scalar("SELECT COUNT(*) FROM signals")
        assert final["trades"]["pnl_usd"] == pytest.approx(ledger.scalar("SELECT SUM(pnl_usd) FROM outcomes"))
        correct = ledger.scalar("SELECT SUM(correct) FROM outcomes")
        resolved = ledger.scalar("SELECT COUNT(correct) FROM outcomes")
        assert final["signals"]["accuracy"] == pytest.approx(correct / resolved)
    finally:
        ledger.close()


def test_option_trades_buy_the_signals_contract_and_mark_the_exit_with_black76(
        small_recording: Path, tmp_path: Path) -> None:
    profile = tmp_path / "options.json"
    profile.write_text(json.dumps({"description": "options", "extends": "shadow_trading",
                                   "shadow_trading": {"execution": {"instrument": "option"}}}))
    request = ShadowRunRequest(profile=str(profile), replay=small_recording, days=1, output_dir=tmp_path,
                               run_id="options")
    result = start_run(request, RunHooks(reports=shadow_report_writer))
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        rows = ledger.rows("SELECT s.strike AS signal_strike, s.direction, p.option_strike, p.option_right, p.option_iv, "
                           "p.entry_price, p.exit_price, p.exit_price_origin, p.multiplier, o.pnl_usd, f.price AS fill, "
                           "f.reference_price AS ask FROM positions p JOIN signals s USING (signal_id) "
                           "JOIN outcomes o ON o.position_id = p.position_id "
                           "JOIN fills f ON f.order_id = p.signal_id || '/entry'")
        assert rows
        for r in rows:
            # a call for a LONG, a put for a SHORT; IFD signals at their own strike
            assert r["option_right"] == ("C" if r["direction"] == "LONG" else "P")
            if r["signal_strike"] is not None:
                assert r["option_strike"] == r["signal_strike"]
            assert r["fill"] == pytest.approx(r["ask"] + 0.25)       # bought at the ask plus one tick
            assert r["multiplier"] == 20 and r["exit_price_origin"] == "black76_at_entry_iv"
            if r["exit_price"] is not None:
                expected = (r["exit_price"] - r["entry_price"]) * 20 - 2 * 2.5
                assert r["pnl_usd"] == pytest.approx(expected)
        # every option exit is a market sale of the option: its fill row records the tick it paid
        # and is measured against the option's mark (not the futures level): price = mark - slippage
        exits = ledger.rows("SELECT o.order_type, f.slippage_points, f.price, f.reference_price FROM orders o "
                            "JOIN fills f USING (order_id) WHERE o.purpose LIKE 'exit:%' AND f.price IS NOT NULL")
        assert exits and all((e["order_type"], e["slippage_points"]) == ("market", 0.25) for e in exits)
        for e in exits:
            assert e["price"] == pytest.approx(max(e["reference_price"] - 0.25, 0.0))
    finally:
        ledger.close()


def test_a_halt_is_obeyed_at_the_next_cycle_and_flattens_open_positions(
        small_recording: Path, tmp_path: Path) -> None:
    halted_at: dict[str, object] = {}

    def halt_after_first_fill(count: int) -> None:
        # the monitor's move: once a position is open, queue a halt (a second connection, as the monitor has)
        if halted_at:
            return
        path = tmp_path / "runs" / "halt" / "ledger.sqlite"
        ledger = Ledger.open_existing(path)
        try:
            if ledger.scalar("SELECT COUNT(*) FROM positions") and not ledger.scalar("SELECT COUNT(*) FROM controls"):
                halted_at["fills"] = ledger.scalar("SELECT COUNT(*) FROM fills")
                ledger.request_control("halt", reason="test", requested_by="test",
                                       requested_at=pd.Timestamp("2025-06-02", tz="UTC"))
        finally:
            ledger.close()

    result = _run(small_recording, tmp_path, "halt", after_commit=halt_after_first_fill)
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        control = ledger.rows("SELECT status, applied_at, applied_event FROM controls")[0]
        assert control["status"] == "applied"
        later = ledger.scalar("SELECT COUNT(*) FROM signals WHERE sim_time > ?", (control["applied_at"],))
        assert later == 0                                   # no new signals after the halt
        assert ledger.scalar("SELECT COUNT(*) FROM orders WHERE purpose = 'entry' AND sim_time > ?",
                             (control["applied_at"],)) == 0
        halted = ledger.scalar("SELECT COUNT(*) FROM observations WHERE halted = 1")
        assert halted > 0                                   # events kept coming, observed as halted
        # HALTED means flat: the position opened before the halt was closed at the market when it applied
        assert ledger.scalar("SELECT COUNT(*) FROM positions WHERE status = 'open'") == 0
        flattened = ledger.rows("SELECT exit_time FROM positions WHERE exit_reason = 'flatten'")
        assert flattened and all(r["exit_time"] == control["applied_at"] for r in flattened)
        state = ledger.rows("SELECT state, changed_by FROM risk_state")[0]
        assert state == {"state": "HALTED", "changed_by": "test"}   # kept in the ledger until resumed
    finally:
        ledger.close()


def test_a_stop_control_interrupts_and_resume_finishes(small_recording: Path, tmp_path: Path) -> None:
    def stop_soon(count: int) -> None:
        if count == 5:
            ledger = Ledger.open_existing(tmp_path / "runs" / "stopper" / "ledger.sqlite")
            ledger.request_control("stop", reason="test", requested_by="test",
                                   requested_at=pd.Timestamp("2025-06-02", tz="UTC"))
            ledger.close()

    first = _run(small_recording, tmp_path, "stopper", after_commit=stop_soon)
    assert first.status == "interrupted" and first.days_closed == 0
    resumed = start_run(ShadowRunRequest(resume="stopper", output_dir=tmp_path), RunHooks(reports=shadow_report_writer))
    assert resumed.status == "completed" and resumed.days_closed == 2


def test_ctrl_c_stops_after_the_current_event(small_recording: Path, tmp_path: Path) -> None:
    stop = threading.Event()
    seen: list[str] = []

    def on_event(event: object) -> None:
        seen.append(event.key)
        if len(seen) == 3:
            stop.set()

    result = _run(small_recording, tmp_path, "ctrlc", stop=stop, on_event=on_event)
    assert result.status == "interrupted" and len(seen) == 3
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        assert ledger.scalar("SELECT MAX(event_index) FROM observations") <= 2
    finally:
        ledger.close()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
