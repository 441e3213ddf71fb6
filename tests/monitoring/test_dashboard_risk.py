"""The dashboard's risk panel and emergency stop for limited-live and shadow runs.

A fixture ledger made limited-live (paper broker, $50 daily loss, 1 contract) holds s4 open
(1 MNQ long at 16,000.00, stop 15,990.00, target 16,015.00, last price 16,010.00), one refusal
by max_position and a halt by max_daily_loss. The panel must show: HALTED with the guard's
reason, the position and its two working legs, each cap against its limit (1 of 1 contract: at
the limit), the refusal and the halt; the emergency stop refuses a request without the token and,
with it, halts the run's risk engine at once and queues the flatten the run carries out.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.guards import (EventKind, Figure, RiskEvent, RiskState,
                                                                           RiskStatus, SqliteRiskStore)
from tasks.options_trading_system.monitoring.ledger_reader import read_run
from tasks.options_trading_system.monitoring.view import build_view
from tasks.options_trading_system.sample_data.week import SampleWeekParams, write_sample_week
from tests.monitoring.conftest import TOKEN, t
from tests.monitoring.test_dashboard import get, post

LIMITED_LIVE = {"profile": {"shadow_trading": {"execution": {"instrument": "MNQ", "quantity": 1}},
                            "broker": {"name": "paper"},
                            "limited_live": {"risk": {"max_position": {"max_contracts": 1},
                                                      "max_daily_loss": {"limit_usd": 50}}}},
                "request": {"limited_live": True, "broker": "paper"}}
HALT_REASON = "DAILY_LOSS_HIT: loss=52.24 USD, limit=50.00 USD"


@pytest.fixture(scope="module")
def small_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two sample days (labelled sample), as the orchestrator tests use."""
    folder = tmp_path_factory.mktemp("recording") / "week"
    write_sample_week(folder, SampleWeekParams(days=2, snapshot_minutes=60, episodes_per_day=2, mbo_events=20_000,
                                               mbo_history_days=1))
    return folder


def limited_live(run) -> None:
    """The fixture run as a limited-live run (its stored profile and request)."""
    run.write(lambda tx: tx.execute("UPDATE runs SET config_json = ?", (json.dumps(LIMITED_LIVE),)))


def refuse_and_halt(run) -> None:
    """What the engine records: an approval, a refusal by max_position, then a halt by max_daily_loss."""
    store = SqliteRiskStore(run.path)
    try:
        store.record(RiskEvent(at=t("2023-11-21T14:50:00"), kind=EventKind.APPROVAL, guard="engine", code="APPROVED",
                               message="bracket BUY 1 MNQ", client_order_id="s4/entry"))
        store.record(RiskEvent(at=t("2023-11-21T15:05:00"), kind=EventKind.REFUSAL, guard="max_position",
                               code="MAX_POSITION", message="MAX_POSITION: open=1 contracts, order=1 contracts, "
                                                            "limit=1 contracts [max_position]",
                               figures=(Figure("open", 1.0, "contracts"), Figure("limit", 1.0, "contracts")),
                               client_order_id="s6/entry"))
        store.record(RiskEvent(at=t("2023-11-21T15:25:00"), kind=EventKind.STATE_CHANGE, guard="max_daily_loss",
                               code="DAILY_LOSS_HIT", message=HALT_REASON, state_from=RiskState.ACTIVE,
                               state_to=RiskState.HALTED, by="guard:max_daily_loss"),
                     RiskStatus(state=RiskState.HALTED, reason=HALT_REASON, guard="max_daily_loss",
                                code="DAILY_LOSS_HIT", changed_by="guard:max_daily_loss",
                                changed_at=t("2023-11-21T15:25:00")))
    finally:
        store.close()


def risk_rows(path: Path) -> tuple[dict, list[dict]]:
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    try:
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        state = connection.execute("SELECT state, code, changed_by FROM risk_state").fetchall() \
            if "risk_state" in tables else []
        controls = connection.execute("SELECT command, status, requested_by FROM controls").fetchall()
        return (dict(state[0]) if state else {}), [dict(c) for c in controls]
    finally:
        connection.close()


def test_the_view_model_shows_a_halted_limited_live_run_its_caps_and_refusal(kit) -> None:
    run = kit.run()
    limited_live(run)
    refuse_and_halt(run)
    config = kit.config()
    reading = read_run(run.path, now=pd.Timestamp.now(tz="UTC"), stale_after_s=3600, signal_rows=5)
    risk = reading.detail["risk"]
    assert (risk["state"], risk["code"], risk["changed_by"]) == ("HALTED", "DAILY_LOSS_HIT", "guard:max_daily_loss")
    assert risk["reason"] == HALT_REASON and (risk["mode"], risk["broker"]) == ("limited live", "paper")
    assert reading.summary["state"] == "halted"                 # the run is halted because its engine is
    caps = {(c["guard"], c["name"]): c for c in risk["caps"]}
    assert (caps["max_position", "contracts"]["used"], caps["max_position", "contracts"]["limit"]) == (1.0, 1.0)
    assert caps["max_daily_loss", "loss"]["limit"] == 50.0
    assert caps["max_total_risk", "risk"]["limit"] == 200.0     # the limited_live defaults fill the rest
    assert (caps["data_cost", "day"]["limit"], caps["data_cost", "month"]["limit"]) == (8.0, 200.0)
    assert caps["order_rate", "orders"]["limit"] == 5.0
    assert [(o["client_order_id"], o["price"]) for o in risk["working_orders"]] == [("s4/stop", 15990.0),
                                                                                  ("s4/target", 16015.0)]
    assert risk["net_positions"] == [{"instrument": "MNQ", "quantity": 1, "average_price": 16000.0}]
    assert [(e["kind"], e["code"]) for e in risk["events"]] == [("state_change", "DAILY_LOSS_HIT"),
                                                                ("refusal", "MAX_POSITION")]   # newest first
    assert risk["events"][1]["figures"] == "open=1.00 contracts, limit=1.00 contracts"
    assert risk["refusals_by_guard"] == [{"guard": "max_position", "code": "MAX_POSITION", "refusals": 1}]

    view = build_view({"run": reading.detail, "active_run_id": run.run_id}, history=[], alerts=None,
                      monitor_updated_at=None, config=config, now=pd.Timestamp.now(tz="UTC"), live=True,
                      control={"enabled": True, "reason": ""})
    levels = {c["guard"] + "." + c["name"]: c["level"] for c in view["run"]["risk"]["caps"]}
    assert levels["max_position.contracts"] == "at limit" and view["run"]["risk"]["state_class"] == "error"
    assert any("HALTED by guard:max_daily_loss: " + HALT_REASON in b["text"] for b in view["banners"])


def test_a_shadow_run_without_risk_events_is_active_with_its_shadow_caps(kit) -> None:
    run = kit.run()
    risk = read_run(run.path, now=pd.Timestamp.now(tz="UTC"), stale_after_s=3600, signal_rows=5).detail["risk"]
    assert (risk["state"], risk["reason"], risk["mode"]) == ("ACTIVE", "no risk event recorded", "shadow")
    caps = {(c["guard"], c["name"]): c for c in risk["caps"]}
    # the shadow limits as guards: max_open_positions (3) x quantity (1), alerts.max_daily_loss_usd ($500)
    assert (caps["max_position", "contracts"]["limit"], caps["max_daily_loss", "loss"]["limit"]) == (3.0, 500.0)
    assert caps["max_total_risk", "risk"]["enabled"] is False


def test_the_page_shows_the_risk_panel_and_the_emergency_stop(kit, serve) -> None:
    run = kit.run()
    limited_live(run)
    refuse_and_halt(run)
    served = serve(kit.config())
    page = get(served.url)[2].decode()
    assert '<span class="badge error" id="risk-state">HALTED</span>' in page
    assert HALT_REASON in page and "by guard:max_daily_loss" in page
    row = page.split('data-cap="max_position.contracts"')[1].split("</tr>")[0]
    assert "1 contracts" in row and ">at limit<" in row
    assert "s4/stop" in page and "s4/target" in page and "15,990.00" in page
    assert "MAX_POSITION: open=1 contracts" in page and "ACTIVE &rarr; HALTED" in page
    assert 'id="flatten-button" data-action="flatten"' in page
    assert 'id="risk-state"' in get(served.url + "fragment")[2].decode()     # pushed with the live part
    health = json.loads(get(served.url + "health")[2])
    assert (health["run_state"], health["risk_state"]) == ("halted", "HALTED")


def test_the_emergency_stop_needs_the_token_then_halts_the_run_at_once(kit, serve) -> None:
    run = kit.run()
    limited_live(run)
    served = serve(kit.config())
    url = served.url + "api/control/flatten"
    assert post(url, {"run_id": run.run_id})[0] == 401
    assert post(url, {"run_id": run.run_id}, token="guess")[0] == 401
    assert risk_rows(run.path) == ({}, [])                                   # nothing written
    status, answer = post(url, {"run_id": run.run_id, "reason": "broker outage"}, token=TOKEN)
    assert status == 200 and "HALTED now" in answer["message"]
    state, controls = risk_rows(run.path)
    assert state == {"state": "HALTED", "code": "MANUAL_HALT", "changed_by": "dashboard 127.0.0.1"}
    assert controls == [{"command": "flatten", "status": "pending", "requested_by": "dashboard 127.0.0.1"}]
    served.app.refresh()
    assert '<span class="badge error" id="risk-state">HALTED</span>' in get(served.url)[2].decode()


def test_the_emergency_stop_flattens_a_paper_limited_live_run(small_recording: Path, kit, serve,
                                                              tmp_path: Path) -> None:
    """A real limited-live replay on the paper broker, stopped with a position open; the dashboard's
    emergency stop; the run resumed: it flattens at its first cycle and trades nothing more."""
    from tasks.options_trading_system.analysis_engine.strategies.shadow_run import (RunHooks, ShadowRunRequest,
                                                                                     start_run)
    out = tmp_path / "limited"
    ledger_file = out / "runs" / "paper" / "ledger.sqlite"
    stop = threading.Event()

    def stop_when_holding(_event) -> None:
        connection = sqlite3.connect(f"file:{ledger_file}?mode=ro", uri=True)
        try:
            if connection.execute("SELECT COUNT(*) FROM positions WHERE status = 'open'").fetchone()[0]:
                stop.set()
        finally:
            connection.close()

    first = start_run(ShadowRunRequest(profile="limited_live", limited_live=True, replay=small_recording, days=2,
                                       output_dir=out, run_id="paper"), RunHooks(stop=stop, on_event=stop_when_holding))
    assert first.status == "interrupted", "the sample days should open a position to stop on"
    served = serve(kit.config(paths={"shadow_runs_dir": str(out / "runs")}))
    served.app.refresh()
    assert 'class="working-row"' in get(served.url)[2].decode()         # the open position's legs
    status, _answer = post(served.url + "api/control/flatten", {"run_id": "paper"}, token=TOKEN)
    assert status == 200
    resumed = start_run(ShadowRunRequest(resume="paper", output_dir=out, limited_live=True), RunHooks())
    assert resumed.status == "completed"
    connection = sqlite3.connect(ledger_file)
    try:
        open_positions = connection.execute("SELECT COUNT(*) FROM positions WHERE status = 'open'").fetchone()[0]
        flattened = connection.execute("SELECT COUNT(*) FROM positions WHERE exit_reason = 'flatten'").fetchone()[0]
        state = connection.execute("SELECT state FROM risk_state").fetchone()[0]
        applied = connection.execute("SELECT status FROM controls WHERE command = 'flatten'").fetchone()[0]
    finally:
        connection.close()
    assert (open_positions, state, applied) == (0, "HALTED", "applied") and flattened >= 1
    served.app.refresh()
    page = get(served.url)[2].decode()
    assert 'id="risk-state">HALTED<' in page and 'id="no-working-orders"' in page


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
