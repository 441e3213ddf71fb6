"""The Tradovate stand-in as a user starts it (beside the other vendors): its settings file, its
demo credentials in the environment, its clock moved over HTTP as a replay in another process would."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import requests

from tasks.options_trading_system.analysis_engine.strategies.brokers.tradovate import (Credentials,
                                                                                       TradovateBroker,
                                                                                       TradovateConfig)
from tasks.options_trading_system.analysis_engine.strategies.execution.orders import OrderStatus, Side
from tests.vendor_servers.standins import start_standins

from .test_tradovate_broker import bracket


def test_the_standins_serve_tradovate_with_its_settings_and_demo_credentials(tmp_path: Path,
                                                                             shared_data: Path) -> None:
    standins = start_standins(tmp_path / "standins", shared_data, tradovate=True)
    try:
        settings = json.loads(standins.broker_settings.read_text())
        assert settings["name"] == "tradovate" and settings["environment"] == "demo"
        credentials = Credentials.from_env(standins.env, env_file=None)
        broker = TradovateBroker(TradovateConfig.from_mapping({**settings, "server_timeout_s": 2.0}), credentials,
                                 market_clock=lambda: standins.tradovate.engine.now)
        broker.connect()
        try:
            moved = requests.post(f"{standins.tradovate.url}/standin/advance",
                                  json={"time": "2023-11-20T15:00:00Z"}, timeout=5).json()
            assert pd.Timestamp(moved["now"]) == pd.Timestamp("2023-11-20 15:00", tz="UTC") and moved["bars"] > 0
            ack = broker.place_bracket(bracket("standin-1", Side.BUY, 15_000.0, 17_000.0))
            assert broker.contract_symbol("NQ") == "NQZ3" and ack.entry.status is OrderStatus.FILLED
            state = requests.get(f"{standins.tradovate.url}/standin/state", timeout=5).json()
            assert ack.entry.average_price == state["last_close"]
        finally:
            broker.close()
    finally:
        standins.stop()
    assert "tradovate" in standins.servers()


def test_the_standin_can_trade_on_a_replays_own_bars(tmp_path: Path, shared_data: Path,
                                                    small_recording: Path) -> None:
    """`serve_vendor_standins.py --tradovate-replay DIR`: the matching engine fills on the price
    path the replay follows (the sample week's), so broker and paper fills of one signal compare."""
    standins = start_standins(tmp_path / "standins", shared_data, tradovate=True, tradovate_replay=small_recording)
    try:
        moved = requests.post(f"{standins.tradovate.url}/standin/advance",
                              json={"time": "2025-06-02T14:00:00Z"}, timeout=5).json()
        state = requests.get(f"{standins.tradovate.url}/standin/state", timeout=5).json()
    finally:
        standins.stop()
    bars = pd.read_csv(small_recording / "futures" / "NQ_1min.csv")
    # the bar that ended at 10:00 New York (14:00 UTC) is the 09:59 bar of the recording
    expected = float(bars.loc[bars["timestamp"] == "2025-06-02 09:59:00", "close"].iloc[0])
    assert moved["bars"] > 0 and state["last_close"] == expected


def _engine(rows: list[tuple[str, float, float, float, float]]):
    from tests.vendor_servers.tradovate_engine import MatchingEngine

    frame = pd.DataFrame(rows, columns=["time", "open", "high", "low", "close"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    engine = MatchingEngine(frame)
    contract = engine.find_contract("NQZ3")
    engine.advance_to(pd.Timestamp("2023-11-20 14:31", tz="UTC"))
    return engine, contract["id"]


def _long_bracket(engine, contract_id: int, stop: float, target: float) -> dict:
    return engine.place(contract_id=contract_id, action="Buy", qty=1, order_type="Market", price=None,
                        stop_price=None, cl_ord_id="e", brackets=[
                            {"action": "Sell", "orderType": "Stop", "stopPrice": stop, "clOrdId": "s"},
                            {"action": "Sell", "orderType": "Limit", "price": target, "clOrdId": "t"}])


def test_the_engine_fills_a_stop_gapped_through_at_the_open() -> None:
    engine, contract_id = _engine([("2023-11-20 14:30", 100, 101, 99, 100.0),
                                   ("2023-11-20 14:31", 95, 96, 94, 95.0)])
    ids = _long_bracket(engine, contract_id, stop=98.0, target=110.0)
    engine.advance_to(pd.Timestamp("2023-11-20 14:32", tz="UTC"))
    assert [(f["orderId"], f["price"]) for f in engine.fills] == [(ids["orderId"], 100.0), (ids["oso1Id"], 95.0)]
    assert engine.orders[ids["oso2Id"]].status == "Canceled"
    assert engine.realized_pnl == (95.0 - 100.0) * 20


def test_the_engine_assumes_the_stop_when_one_bar_reaches_both() -> None:
    engine, contract_id = _engine([("2023-11-20 14:30", 100, 101, 99, 100.0),
                                   ("2023-11-20 14:31", 100, 112, 97, 105.0)])
    ids = _long_bracket(engine, contract_id, stop=98.0, target=110.0)
    engine.advance_to(pd.Timestamp("2023-11-20 14:32", tz="UTC"))
    assert [(f["orderId"], f["price"]) for f in engine.fills][1] == (ids["oso1Id"], 98.0)
