"""The production monitor on a fixture ledger, exports, spend and breakers (figures in conftest.py)."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.monitoring.collector import SnapshotCollector
from tasks.options_trading_system.monitoring.monitor import ProductionMonitor, attach_rotating_log
from tasks.options_trading_system.monitoring.sources_reader import Budgets
from tasks.options_trading_system.monitoring.store import MetricsStore
from tasks.options_trading_system.monitoring.system import SystemProbe

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOW = pd.Timestamp("2025-06-02T15:00:00Z")
BUDGETS = Budgets(daily_usd={"databento": 8.0}, monthly_usd={"databento": 200.0}, profile="test")


class SteppedClock:
    """Test time: starts at `start`, moves only when told."""

    def __init__(self, start: pd.Timestamp) -> None:
        self.now = start

    def __call__(self) -> pd.Timestamp:
        return self.now


def monitor_for(kit, clock: SteppedClock, *, probe: bool = False, **overrides) -> ProductionMonitor:
    config = kit.config(**overrides)
    system = SystemProbe(config.monitoring_dir, cpu_sample_s=0.05) if probe else None
    return ProductionMonitor(config, SnapshotCollector(config, budgets=BUDGETS, probe=system), clock=clock)


def stored(kit) -> dict:
    return json.loads((kit.outputs / "monitoring" / "production_metrics.json").read_text())


def history(kit) -> list[dict]:
    """The samples kept in metrics_history.sqlite, oldest first."""
    return MetricsStore(kit.outputs / "monitoring" / "production_metrics.json", retention_days=30).samples()


def alerts_file(kit) -> dict:
    return json.loads((kit.outputs / "monitoring" / "alerts.json").read_text())


def test_a_sample_holds_exactly_what_the_ledger_exports_spend_and_breakers_hold(kit) -> None:
    kit.run()
    a = kit.attempt
    kit.export("2025-06-02", "140000", [a("barchart", "failed", 20000.0, "TIMEOUT after 20 s"),
                                        a("databento", "served", 850.0, cost=0.42)])
    kit.export("2025-06-02", "143000", [a("barchart", "served", 400.0)])
    kit.spend([("2025-06-02T14:00:00+00:00", "databento", 3.10), ("2025-06-02T14:30:00+00:00", "databento", 3.10),
               ("2025-06-01T20:00:00+00:00", "databento", 1.00), ("2025-05-20T20:00:00+00:00", "databento", 50.0)])
    kit.breakers("2025-06-02", {"barchart": {"state": "open", "consecutive_failures": 3, "opened_at": 1748872800.0,
                                             "last_reason": "TIMEOUT after 20 s"}})
    result = monitor_for(kit, SteppedClock(NOW), probe=True).sample_once()

    sample = history(kit)[-1]
    assert sample == result.sample
    run = sample["run"]
    assert (run["run_id"], run["state"], run["up"], run["day"]) == ("replay-2023w47", "running", True, "2023-11-21")
    assert (run["signals_total"], run["signals_today"], run["resolved"], run["trades"]) == (5, 2, 4, 3)
    assert run["accuracy"] == pytest.approx(0.5)
    assert run["false_positive_rate"] == pytest.approx(1 / 3)
    assert (run["pnl_today_usd"], run["pnl_total_usd"], run["open_positions"]) == (45.0, 105.25, 1)
    assert (run["latency_p50_ms"], run["latency_p95_ms"]) == (30.0, pytest.approx(88.0))  # 40 + 0.8 x (100 - 40)
    sources = sample["sources"]
    # 3 attempts made, 1 failed; the first load was served by its second source: one failover
    assert (sources["attempts"], sources["failures"], sources["failovers"], sources["breakers_open"]) == (3, 1, 1, 1)
    assert sources["error_rate"] == pytest.approx(1 / 3)
    assert sources["latency_p50_ms"] == 850.0
    spend = sample["spend"]
    assert (spend["today_usd"], spend["month_usd"]) == (pytest.approx(6.20), pytest.approx(7.20))
    assert spend["monthly_pct"] == pytest.approx(3.6)                   # 7.20 of 200
    assert sample["metrics"]["daily_cost_usd"] == {"value": pytest.approx(6.20), "count": 1}
    assert 0 <= sample["system"]["cpu_pct"] <= 100 and sample["system"]["disk_free_gb"] > 0

    latest = stored(kit)["latest"]
    assert [s["signal_id"] for s in latest["run"]["signals"]] == ["s5", "s4", "s3", "s2", "s1"]
    assert [(d["date"], d["pnl_usd"]) for d in latest["run"]["daily"]] == [("2023-11-20", 60.25), ("2023-11-21", 45.0)]
    assert [e["pnl_usd"] for e in latest["run"]["equity"]] == [120.50, 60.25, 105.25]
    assert latest["run"]["positions"][0]["unrealized_pnl_usd"] == 20.0      # (16,010 - 16,000) x $2
    barchart = next(s for s in latest["sources"]["by_source"] if s["source"] == "barchart")
    assert (barchart["breaker"], barchart["attempts"], barchart["served"], barchart["failed"]) == ("open", 2, 1, 1)
    assert latest["exports"]["newest"]["source"] == "barchart"


def test_a_refused_signal_shows_why_it_was_not_traded(kit) -> None:
    run = kit.run()

    def refuse(tx) -> None:
        tx.insert("signals", {"signal_id": "s6", "event_key": "2023-11-21#s6", "day": "2023-11-21",
                              "sim_time": "2023-11-21T15:25:00.000000Z", "source": "ev", "algorithm": "ev",
                              "traded_source": 1, "instrument": "MNQ", "contract": None, "strike": None,
                              "option_right": None, "direction": "LONG", "entry_reference": 16010.0,
                              "target": 16040.0, "stop": 15995.0, "confidence": 0.7, "tier": None,
                              "expected_value_points": None, "evidence_json": "{}"})
        tx.insert("orders", {"order_id": "o-s6", "signal_id": "s6", "day": "2023-11-21",
                             "sim_time": "2023-11-21T15:25:00.000000Z", "instrument": "MNQ", "side": "BUY",
                             "quantity": 1, "order_type": "market", "purpose": "entry", "status": "refused",
                             "reason": "POSITION_LIMIT: open=3, limit=3"})
    run.write(refuse)
    monitor_for(kit, SteppedClock(NOW)).sample_once()
    newest = stored(kit)["latest"]["run"]["signals"][0]
    assert (newest["signal_id"], newest["traded"], newest["refusal"], newest["pnl_usd"]) == \
        ("s6", False, "POSITION_LIMIT: open=3, limit=3", None)
    assert history(kit)[0]["run"]["signals_today"] == 3


def test_an_open_option_position_is_valued_as_the_option_it_is_not_as_a_future(kit) -> None:
    # last futures price 16,010 at 2023-11-21 15:30 UTC; both options expired the day before, so their
    # Black-76 value is intrinsic: the 16,000 call is worth 10 points, the 16,050 put 40 points.
    run = kit.run()

    def options(tx) -> None:
        for sid, direction, right, strike, premium, iv in (("o1", "LONG", "C", 16000.0, 4.0, 0.2),
                                                           ("o2", "SHORT", "P", 16050.0, 25.0, 0.2),
                                                           ("o3", "LONG", "C", 16100.0, 3.0, None)):
            tx.insert("signals", {"signal_id": sid, "event_key": f"2023-11-21#{sid}", "day": "2023-11-21",
                                  "sim_time": "2023-11-21T15:25:00.000000Z", "source": "ifd_v3",
                                  "algorithm": "ifd_v3", "traded_source": 1, "instrument": "option",
                                  "contract": f"NQZ3 {right}{strike:g}", "strike": strike, "option_right": right,
                                  "direction": direction, "entry_reference": 16010.0, "target": 16040.0,
                                  "stop": 15995.0, "confidence": 0.7, "tier": None, "expected_value_points": None,
                                  "evidence_json": "{}"})
            tx.insert("positions", {"position_id": f"p-{sid}", "signal_id": sid, "source": "ifd_v3",
                                    "day": "2023-11-21", "instrument": f"NQZ3 {right}{strike:g}",
                                    "contract": f"NQZ3 {right}{strike:g}", "direction": direction, "quantity": 1,
                                    "multiplier": 20.0, "entry_time": "2023-11-21T15:25:00.000000Z",
                                    "entry_price": premium, "target": 16040.0, "stop": 15995.0,
                                    "option_strike": strike, "option_right": right, "option_iv": iv,
                                    "option_expiration": "2023-11-20", "status": "open"})
    run.write(options)
    monitor_for(kit, SteppedClock(NOW)).sample_once()
    run_detail = stored(kit)["latest"]["run"]
    by_id = {p["signal_id"]: p for p in run_detail["positions"]}
    assert by_id["s4"]["unrealized_pnl_usd"] == 20.0                     # the MNQ future, unchanged
    assert by_id["o1"]["unrealized_pnl_usd"] == pytest.approx(120.0)      # (10 - 4) x $20, bought call
    assert by_id["o2"]["unrealized_pnl_usd"] == pytest.approx(300.0)      # (40 - 25) x $20: a bought put gains
    assert by_id["o1"]["mark_origin"] == "black76_at_entry_iv" and by_id["s4"]["mark_origin"] == "last_price"
    assert by_id["o3"]["unrealized_pnl_usd"] is None                      # no IV recorded: missing, not a guess
    assert run_detail["totals"]["unrealized_pnl_usd"] is None             # a partial sum would mislead


def test_samples_older_than_thirty_days_are_pruned(kit) -> None:
    clock = SteppedClock(NOW)
    monitor = monitor_for(kit, clock)
    for days in (0, 10, 30, 31):
        clock.now = NOW + pd.Timedelta(days=days)
        monitor.sample_once()
    kept = [s["ts"] for s in history(kit)]
    # at day 31 the day-0 sample is 31 days old and goes; day 10 (21 days) and day 30 (1 day) stay
    assert kept == [(NOW + pd.Timedelta(days=d)).isoformat() for d in (10, 30, 31)]
    assert stored(kit)["retention_days"] == 30


def test_an_alert_fires_once_while_crossed_and_clears_once_when_recovered(kit) -> None:
    kit.spend([("2025-06-02T14:00:00+00:00", "databento", 6.20)])
    clock = SteppedClock(NOW)
    monitor = monitor_for(kit, clock)
    assert monitor.sample_once().events == ()                              # $6.20: under the $6.40 warning
    kit.spend([("2025-06-02T15:01:00+00:00", "databento", 0.50)])          # $6.70 today
    for minutes in (1, 2, 3):
        clock.now = NOW + pd.Timedelta(minutes=minutes)
        result = monitor.sample_once()
        assert result.health == "warning"
    events = alerts_file(kit)["events"]
    assert [(e["kind"], e["severity"], e["value"]) for e in events] == [("fired", "warning", pytest.approx(6.70))]
    assert alerts_file(kit)["active"][0]["since"] == (NOW + pd.Timedelta(minutes=1)).isoformat()
    clock.now = pd.Timestamp("2025-06-03T13:00:00Z")                       # a new UTC day: $0 spent so far
    result = monitor.sample_once()
    assert [(e.kind, e.severity) for e in result.events] == [("cleared", "warning")]
    assert alerts_file(kit)["active"] == [] and alerts_file(kit)["health"] == "ok"
    assert [s["health"] for s in history(kit)] == ["ok", "warning", "warning", "warning", "ok"]


def test_uptime_counts_the_samples_in_which_a_running_run_was_really_up(kit) -> None:
    run = kit.run()
    clock = SteppedClock(NOW)
    monitor = monitor_for(kit, clock, alerts={"uptime_pct": {"levels": {"error": 95}, "min_observations": 2}})
    first = monitor.sample_once()
    assert first.sample["metrics"]["uptime_pct"] == {"value": 100.0, "count": 1}
    run.end_session()                                      # the process died; the run still says "running"
    clock.now = NOW + pd.Timedelta(minutes=1)
    second = monitor.sample_once()
    assert second.sample["run"]["state"] == "stalled" and second.sample["run"]["up"] is False
    assert second.sample["metrics"]["uptime_pct"] == {"value": 50.0, "count": 2}
    assert [(e.metric, e.kind, e.severity) for e in second.events] == [("uptime_pct", "fired", "error")]


def test_an_unreadable_ledger_is_reported_and_the_other_runs_still_read(kit) -> None:
    kit.run()
    broken = kit.runs_dir / "broken-run" / "ledger.sqlite"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"this is not a database")
    result = monitor_for(kit, SteppedClock(NOW)).sample_once()
    latest = stored(kit)["latest"]
    assert any("broken-run" in problem for problem in latest["problems"])
    assert result.sample["run"]["pnl_total_usd"] == 105.25


def test_the_loop_samples_on_its_schedule_until_it_has_taken_what_it_was_asked_for(kit) -> None:
    kit.run()
    ticks = iter(NOW + pd.Timedelta(minutes=m) for m in range(10))   # each sample at its own time (one row per time)
    monitor = monitor_for(kit, lambda: next(ticks), interval_s=0.05)
    assert monitor.run(max_samples=3) == 3
    assert len(history(kit)) == 3


def test_command_line_once_writes_metrics_alerts_and_a_log(kit) -> None:
    kit.run()
    config = kit.config(budgets_profile="all_sources")
    completed = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "production_monitor.py"), "--once",
                                "--config", str(config.source)], cwd=kit.workspace, capture_output=True, text=True,
                               timeout=120)
    assert completed.returncode == 0, completed.stderr
    assert "health ok" in completed.stdout
    document = stored(kit)
    assert history(kit)[0]["run"]["pnl_total_usd"] == 105.25
    assert alerts_file(kit)["health"] == "ok"
    assert "sample " in (kit.outputs / "monitoring" / "monitor.log").read_text()


def test_monitor_log_rotates_at_its_configured_size(kit) -> None:
    config = kit.config(log={"max_bytes": 1024, "backup_count": 2})
    handler = attach_rotating_log(config)
    try:
        for n in range(60):
            logging.getLogger("tasks.options_trading_system.monitoring.test").warning("line %03d %s", n, "x" * 40)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    logs = sorted(p.name for p in (kit.outputs / "monitoring").glob("monitor.log*"))
    assert logs == ["monitor.log", "monitor.log.1", "monitor.log.2"]          # two backups kept, no more
    assert all(p.stat().st_size <= 1024 for p in (kit.outputs / "monitoring").glob("monitor.log*"))
    assert "line 059" in (kit.outputs / "monitoring" / "monitor.log").read_text()


def test_command_line_refuses_a_bad_configuration_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "monitoring.json"
    bad.write_text(json.dumps({"description": "x", "interval_s": -5}))
    completed = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "production_monitor.py"), "--once",
                                "--config", str(bad)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert "ConfigError" in completed.stderr and "$.interval_s" in completed.stderr


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
