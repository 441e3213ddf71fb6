"""The Tradovate stand-in on the real NQ minute bars, and a broker pointed at it (fast timeouts)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.brokers.tradovate import (Credentials,
                                                                                       TradovateBroker,
                                                                                       TradovateConfig)
from tests.vendor_servers.tradovate_server import TradovateStandIn

#: 09:30 New York on Monday 2023-11-20: the stand-in's clock starts here
SESSION_OPEN = pd.Timestamp("2023-11-20 14:30", tz="UTC")
CREDENTIALS = Credentials(username="standin-trader", password="pw-Xq81-secret", cid="8123",
                          sec="sec-6f1d2c9b7a-secret", app_id="nq-options-tests", device_id="dev-0001")


@pytest.fixture(scope="session")
def nq_bars(shared_data: Path) -> pd.DataFrame:
    """The real FirstRate NQ minute bars (New York time in the file), as time/open/high/low/close in UTC."""
    frame = pd.read_csv(shared_data / "futures" / "NQ_1min_sample.csv")
    frame["time"] = pd.to_datetime(frame["timestamp"]).dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    return frame[["time", "open", "high", "low", "close"]]


@pytest.fixture
def standin(nq_bars: pd.DataFrame) -> Iterator[TradovateStandIn]:
    server = TradovateStandIn(nq_bars, start=SESSION_OPEN, heartbeat_s=0.1, slow_s=1.5, penalty_s=7.0,
                              credentials={"name": CREDENTIALS.username, "password": CREDENTIALS.password,
                                           "appId": CREDENTIALS.app_id, "cid": CREDENTIALS.cid,
                                           "sec": CREDENTIALS.sec, "deviceId": CREDENTIALS.device_id})
    server.start()
    yield server
    server.stop()


class Sleeps(list):
    """An injected sleep: records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_broker(standin: TradovateStandIn, sleeps: Sleeps) -> Iterator[Callable[..., TradovateBroker]]:
    made: list[TradovateBroker] = []

    def make(credentials: Credentials = CREDENTIALS, clock: Callable[[], float] | None = None,
             **settings: object) -> TradovateBroker:
        config = TradovateConfig(**{"rest_url": standin.rest_url, "ws_url": standin.ws_url,
                                    "request_timeout_s": 0.5, "retry_wait_s": 0.01, "heartbeat_s": 0.1,
                                    "server_timeout_s": 0.6, "reconnect_wait_s": 0.05, **settings})
        broker = TradovateBroker(config, credentials, sleep=sleeps, market_clock=lambda: standin.engine.now,
                                 **({"clock": clock} if clock else {}))
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.close()
