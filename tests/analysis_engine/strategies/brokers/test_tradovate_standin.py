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
