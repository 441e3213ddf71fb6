"""Tick execution live through Tradovate, against the Tradovate stand-in on 127.0.0.1: ticks from
its market-data socket (`md/subscribeQuote`, a generated session released by its simulated clock),
brackets through the real Tradovate adapter, every fill in the ledger being one the stand-in made."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.feeds.tick_feeds import (TickFeedContext,
                                                                                     build_tick_feed)
from tasks.options_trading_system.analysis_engine.strategies.tick_config import TickExecutionConfig
from tasks.options_trading_system.analysis_engine.strategies.tick_execution_orchestrator import (
    TickExecutionOrchestrator)
from tasks.options_trading_system.analysis_engine.strategies.tick_run import make_tick_broker
from tasks.options_trading_system.config_manager import load_profile
from tasks.options_trading_system.data_ingestion.ticks.dbn_ticks import read_ticks
from tasks.options_trading_system.sample_data.ticks import TickSampleParams, write_sample_ticks
from tasks.options_trading_system.state.ledger import RUN_RUNNING, Ledger
from tests.data_ingestion.ticks.test_tradovate_quotes import wait_for
from tests.vendor_servers.tradovate_market import QuoteTape
from tests.vendor_servers.tradovate_server import TradovateStandIn

DAY = "2025-06-02"
OPEN = pd.Timestamp(f"{DAY} 09:30", tz="America/New_York")
ENV = {"TRADOVATE_USERNAME": "tick-trader", "TRADOVATE_PASSWORD": "pw-tick-81-secret", "TRADOVATE_CID": "8125",
       "TRADOVATE_SEC": "sec-tick-2c9b-secret", "TRADOVATE_APP_ID": "nq-tick-tests", "TRADOVATE_DEVICE_ID": "dev-3"}
WAIT_S = 60.0


@pytest.fixture
def standin(tmp_path: Path) -> Any:
    folder = tmp_path / "day"
    write_sample_ticks(folder, TickSampleParams(days=1, trades_per_day=15_000, seed=5))
    ticks = read_ticks(next(folder.glob("*.dbn.zst")))
    tape = QuoteTape(ticks.ts_ns, ticks.price, ticks.size, ticks.side)
    frame = pd.DataFrame({"time": pd.to_datetime(tape.ts_ns, utc=True), "price": tape.price})
    bars = frame.set_index("time")["price"].resample("1min").ohlc().dropna().reset_index()
    server = TradovateStandIn(bars, start=OPEN, heartbeat_s=0.1, ticks=tape, credentials={
        "name": ENV["TRADOVATE_USERNAME"], "password": ENV["TRADOVATE_PASSWORD"], "appId": ENV["TRADOVATE_APP_ID"],
        "cid": ENV["TRADOVATE_CID"], "sec": ENV["TRADOVATE_SEC"], "deviceId": ENV["TRADOVATE_DEVICE_ID"]})
    server.start()
    yield server, tape
    server.stop()


def test_live_ticks_from_tradovate_trade_through_the_tradovate_adapter(standin: Any, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server, tape = standin
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    profile_path = tmp_path / "tradovate_tick.json"
    profile_path.write_text(json.dumps({
        "description": "tick execution through the local Tradovate stand-in (test)", "extends": "tick_execution",
        "broker": {"name": "tradovate", "rest_url": server.rest_url, "ws_url": server.ws_url, "request_timeout_s": 3,
                   "retry_wait_s": 0.05, "heartbeat_s": 0.2, "server_timeout_s": 3, "reconnect_wait_s": 0.05},
        "tick_execution": {"feed": {"name": "tradovate_quotes", "tradovate_quotes": {
            "symbol": "NQM5", "md_url": server.md_url, "heartbeat_s": 0.1, "server_timeout_s": 2.0,
            "reconnect_wait_s": 0.05}}}}))
    profile = load_profile(str(profile_path), env=ENV)
    config = TickExecutionConfig.from_profile(profile)
    feed = build_tick_feed(config.feed, config.feed_settings[config.feed],
                           TickFeedContext(env=ENV, broker_section=profile.section("broker")))
    broker = make_tick_broker(profile, config, {"broker": None, "confirm_live": False})
    broker.connect()
    made: dict[str, Any] = {}

    def run() -> None:                                   # the ledger lives in the orchestrator's thread
        ledger = Ledger(tmp_path / "ledger.sqlite")
        with ledger.transaction(day=None, event_index=None, sim_time=None) as tx:
            tx.insert("runs", {"run_id": "tv", "mode": "live", "profile": profile.name, "config_json": "{}",
                               "data_dir": None, "price_path": None, "start_date": DAY, "days": 1,
                               "trading_days_json": json.dumps([DAY]), "status": RUN_RUNNING, "status_reason": "",
                               "status_at": None})
        made["orchestrator"] = TickExecutionOrchestrator(config=config, ledger=ledger, feed=feed, days=[DAY],
                                                         mode="stream", broker=broker)
        try:
            made["outcome"] = made["orchestrator"].run()
        finally:
            ledger.close()

    def processed(count: int) -> bool:
        day = made["orchestrator"]._day if "orchestrator" in made else None
        return feed.delivered >= count and day is not None and day.ticks >= count - 1

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    try:
        assert wait_for(lambda: feed.subscribed)
        for minute in range(1, 391):                     # the session, a minute of the stand-in's clock at a time
            server.advance_to(OPEN + pd.Timedelta(minutes=minute))
            released = int(np.searchsorted(tape.ts_ns, (OPEN + pd.Timedelta(minutes=minute)).value, side="right"))
            assert wait_for(lambda: processed(released))
        feed.close()
        runner.join(WAIT_S)
        assert not runner.is_alive() and made["outcome"].status == "completed"
    finally:
        feed.close()
        broker.close()
    ledger = Ledger.open_existing(tmp_path / "ledger.sqlite")
    try:
        entries = ledger.scalar("SELECT COUNT(*) FROM orders WHERE purpose = 'entry' AND status = 'filled'")
        ours = ledger.rows("SELECT f.price, f.quantity, o.side FROM fills f JOIN orders o ON o.order_id = f.order_id")
        assert ledger.scalar("SELECT COUNT(*) FROM positions WHERE status = 'open'") == 0
        reasons = [r["exit_reason"] for r in ledger.rows("SELECT exit_reason FROM positions")]
    finally:
        ledger.close()
    assert set(reasons) <= {"stop", "target", "session_end"}, reasons
    assert entries >= 1 and len(ours) == 2 * entries     # every entry and its exit went through the protocol
    theirs = server.engine.fills
    assert sorted((round(f["price"], 2), f["quantity"], f["side"]) for f in ours) == \
        sorted((round(float(f["price"]), 2), int(f["qty"]), f["action"].upper()) for f in theirs)
    assert all(p.net_pos == 0 for p in server.engine.positions.values())
