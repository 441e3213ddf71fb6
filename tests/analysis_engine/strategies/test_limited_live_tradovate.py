"""A limited-live replay through the Tradovate stand-in: the real protocol, the replay's own bars,
the stand-in's clock following the replay's simulated time; the ledger equals the stand-in's fills."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.feeds.price_path import load_price_path
from tasks.options_trading_system.analysis_engine.strategies.feeds.recording import open_recording
from tasks.options_trading_system.analysis_engine.strategies.shadow_run import (RunHooks, ShadowRunRequest,
                                                                                start_run)
from tasks.options_trading_system.output_generation import shadow_report_writer
from tasks.options_trading_system.state.ledger import Ledger
from tests.vendor_servers.tradovate_server import TradovateStandIn

CREDENTIALS = {"TRADOVATE_USERNAME": "standin-trader", "TRADOVATE_PASSWORD": "pw-Xq81-secret",
               "TRADOVATE_CID": "8123", "TRADOVATE_SEC": "sec-6f1d2c9b7a-secret",
               "TRADOVATE_APP_ID": "nq-options-tests", "TRADOVATE_DEVICE_ID": "dev-0001"}


@pytest.fixture
def replay_standin(small_recording: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TradovateStandIn]:
    """The stand-in trading on the recording's own minute bars (so paper and broker fills compare)."""
    recording = open_recording(small_recording)
    path = load_price_path(recording.price_path, csv_timezone=recording.price_timezone or "America/New_York",
                           bar_seconds=60)
    bars = path.to_frame().rename(columns={"start": "time"})[["time", "open", "high", "low", "close"]]
    server = TradovateStandIn(bars, start=bars["time"].iloc[0], heartbeat_s=0.2, credentials={
        "name": CREDENTIALS["TRADOVATE_USERNAME"], "password": CREDENTIALS["TRADOVATE_PASSWORD"],
        "appId": CREDENTIALS["TRADOVATE_APP_ID"], "cid": CREDENTIALS["TRADOVATE_CID"],
        "sec": CREDENTIALS["TRADOVATE_SEC"], "deviceId": CREDENTIALS["TRADOVATE_DEVICE_ID"]})
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    server.start()
    yield server
    server.stop()


def _profile(tmp_path: Path, server: TradovateStandIn, **risk: object) -> Path:
    profile = {"description": "limited live through the local Tradovate stand-in (test)", "extends": "limited_live",
               "broker": {"name": "tradovate", "rest_url": server.rest_url, "ws_url": server.ws_url,
                          "request_timeout_s": 3, "retry_wait_s": 0.05, "heartbeat_s": 0.2,
                          "server_timeout_s": 3, "reconnect_wait_s": 0.05}}
    if risk:
        profile["limited_live"] = {"risk": risk}
    path = tmp_path / "standin_profile.json"
    path.write_text(json.dumps(profile))
    return path


def test_a_replay_trades_through_the_standin_and_the_ledger_equals_its_fills(
        small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path) -> None:
    profile = _profile(tmp_path, replay_standin, max_daily_loss={"limit_usd": 400})
    result = start_run(ShadowRunRequest(profile=str(profile), replay=small_recording, days=2, output_dir=tmp_path,
                                        run_id="tv", limited_live=True), RunHooks(reports=shadow_report_writer))
    assert result.status == "completed"
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        ours = ledger.rows("SELECT f.price, f.quantity, o.side FROM fills f JOIN orders o ON o.order_id = f.order_id "
                           "ORDER BY f.sim_time, f.fill_id")
        open_positions = ledger.scalar("SELECT COUNT(*) FROM positions WHERE status = 'open'")
        entries = ledger.scalar("SELECT COUNT(*) FROM orders WHERE purpose = 'entry' AND status = 'filled'")
    finally:
        ledger.close()
    theirs = sorted(replay_standin.engine.fills, key=lambda f: (f["timestamp"], f["id"]))
    assert entries >= 1 and len(ours) == 2 * entries        # every entry and its exit went through the protocol
    assert sorted((round(f["price"], 2), f["quantity"], f["side"]) for f in ours) == \
        sorted((round(float(f["price"]), 2), int(f["qty"]), f["action"].upper()) for f in theirs)
    assert open_positions == 0
    assert all(p.net_pos == 0 for p in replay_standin.engine.positions.values())   # flat at the broker too
    # the final report: the broker's fills, each against the signal's reference and its paper twin
    execution = result.final["execution"]
    assert (execution["mode"], execution["broker"], execution["netting"]) == ("limited_live", "tradovate", "account")
    assert sorted((round(f["price"], 2), f["quantity"], f["side"]) for f in execution["fills"]) == \
        sorted((round(float(f["price"]), 2), int(f["qty"]), f["action"].upper()) for f in theirs)
    assert all(f["paper_price"] is not None and f["slippage_vs_paper_points"] is not None
               for f in execution["fills"])
    assert execution["pnl"]["compared"] == execution["pnl"]["trades"] == entries
    assert execution["pnl"]["difference_usd"] == pytest.approx(
        execution["pnl"]["real_usd"] - execution["pnl"]["predicted_usd"])
    assert {c["guard"] for c in next(iter(execution["caps"].values()))} >= {"max_position", "max_daily_loss",
                                                                          "order_rate", "data_cost"}
