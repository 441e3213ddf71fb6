"""Live ticks from Tradovate's market-data WebSocket, against the Tradovate stand-in on 127.0.0.1:
logged in through REST for the mdAccessToken, subscribed with md/subscribeQuote, the stand-in's
simulated clock releasing a generated NQ session's trades as quotes."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import pytest
from websockets.sync.client import connect as ws_connect

from tasks.options_trading_system.analysis_engine.strategies.brokers.tradovate import Credentials, TradovateConfig
from tasks.options_trading_system.analysis_engine.strategies.brokers.tradovate.rest import TradovateRest
from tasks.options_trading_system.data_ingestion.ticks.dbn_ticks import read_ticks
from tasks.options_trading_system.data_ingestion.ticks.tradovate_quotes import (TradovateQuoteConfig,
                                                                                TradovateQuoteTickFeed)
from tasks.options_trading_system.errors import ConfigError, DataSourceError
from tests.data_ingestion.ticks.conftest import SESSION_END_NS, decision_engine, decision_key
from tests.vendor_servers.tradovate_market import QuoteTape
from tests.vendor_servers.tradovate_server import TradovateStandIn

CREDENTIALS = Credentials(username="md-trader", password="pw-md-81-secret", cid="8124", sec="sec-md-2c9b-secret",
                          app_id="nq-tick-tests", device_id="dev-0002")
OPEN = pd.Timestamp("2025-06-02 09:30", tz="America/New_York")
WAIT_S = 20.0


@pytest.fixture(scope="module")
def tape(sample_days) -> QuoteTape:
    ticks = read_ticks(sorted(sample_days.glob("*.dbn.zst"))[0])
    return QuoteTape(ticks.ts_ns, ticks.price, ticks.size, ticks.side)


@pytest.fixture
def standin(tape: QuoteTape) -> Iterator[TradovateStandIn]:
    tape.released = 0
    frame = pd.DataFrame({"time": pd.to_datetime(tape.ts_ns, utc=True), "price": tape.price})
    bars = frame.set_index("time")["price"].resample("1min").ohlc().dropna().reset_index()
    server = TradovateStandIn(bars, start=OPEN, heartbeat_s=0.1, ticks=tape,
                              credentials={"name": CREDENTIALS.username, "password": CREDENTIALS.password,
                                           "appId": CREDENTIALS.app_id, "cid": CREDENTIALS.cid,
                                           "sec": CREDENTIALS.sec, "deviceId": CREDENTIALS.device_id})
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_feed(standin: TradovateStandIn) -> Iterator[Callable[..., TradovateQuoteTickFeed]]:
    made: list[TradovateQuoteTickFeed] = []

    def make(symbol: str = "NQM5", token: str = "md", connect: Callable[..., Any] = ws_connect,
             **settings: Any) -> TradovateQuoteTickFeed:
        rest = TradovateRest(TradovateConfig(rest_url=standin.rest_url, request_timeout_s=2.0), CREDENTIALS)
        config = TradovateQuoteConfig(**{"symbol": symbol, "md_url": standin.md_url, "heartbeat_s": 0.1,
                                         "server_timeout_s": 1.0, "reconnect_wait_s": 0.05, **settings})
        feed = TradovateQuoteTickFeed(config, md_token=rest.md_token if token == "md" else rest.token,
                                      renew=rest.renew, clock=lambda: 7, connect=connect)
        made.append(feed)
        return feed

    yield make
    for feed in made:
        feed.close()


def wait_for(condition: Callable[[], bool], timeout: float = WAIT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def take(feed: TradovateQuoteTickFeed, n: int) -> list:
    """`n` ticks, each within WAIT_S (a bounded loop: a missing tick fails the test)."""
    ticks = []
    for _ in range(n):
        tick = feed.poll(WAIT_S)
        assert tick is not None, f"tick {len(ticks) + 1} of {n} did not arrive"
        ticks.append(tick)
    return ticks


def released(tape: QuoteTape, until: pd.Timestamp) -> int:
    return int(np.searchsorted(tape.ts_ns, until.value, side="right"))


def test_quotes_arrive_as_ticks_in_exchange_time_order(standin, tape, make_feed):
    feed = make_feed()
    feed.start()
    assert wait_for(lambda: feed.subscribed)
    until = OPEN + pd.Timedelta(minutes=20)
    for minute in range(1, 21):
        standin.advance_to(OPEN + pd.Timedelta(minutes=minute))
    n = released(tape, until)
    ticks = take(feed, n)
    assert feed.poll(0.3) is None                          # nothing more than the clock released
    assert [t.ts_ns for t in ticks] == tape.ts_ns[:n].tolist()
    assert [t.price for t in ticks] == tape.price[:n].tolist()
    assert [t.size for t in ticks] == tape.size[:n].tolist()
    assert [t.side for t in ticks] == tape.side[:n].tolist()
    assert standin.md_subscriptions == ["NQM5"] and feed.gaps == [] and feed.reconnects == []
    assert feed.quotes == n + 1                            # the subscription's snapshot made no tick


def test_a_dropped_connection_is_resubscribed_and_the_gap_recorded(standin, tape, make_feed):
    gate = threading.Event()
    calls = []

    def connect(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            gate.wait(WAIT_S)                               # the reconnect waits until the test has moved on
        return ws_connect(*args, **kwargs)

    feed = make_feed(connect=connect)
    feed.start()
    assert wait_for(lambda: feed.subscribed)
    t1, t2, t3 = (OPEN + pd.Timedelta(minutes=m) for m in (10, 15, 25))
    standin.advance_to(t1)
    before = take(feed, released(tape, t1))
    assert standin.cut_websockets(market_data=True) == 1
    assert wait_for(lambda: len(calls) == 2)                # the feed noticed and is reconnecting
    standin.advance_to(t2)                                  # these trades happen while it is away
    gate.set()
    assert wait_for(lambda: feed.subscribed and len(standin.md_subscriptions) == 2)
    standin.advance_to(t3)
    after = take(feed, released(tape, t3) - released(tape, t2))
    assert feed.poll(0.3) is None
    i1, i2 = released(tape, t1) - 1, released(tape, t2) - 1
    assert [t.ts_ns for t in before + after] == tape.ts_ns[:i1 + 1].tolist() + tape.ts_ns[i2 + 1:released(tape, t3)].tolist()
    assert np.all(np.diff([t.ts_ns for t in before + after]) >= 0)
    [gap] = feed.gaps
    assert (gap.start_ns, gap.end_ns) == (tape.ts_ns[i1], tape.ts_ns[i2])
    assert gap.missed_size == tape.volume[i2] - tape.volume[i1]
    [reconnect] = feed.reconnects
    assert reconnect.at_ns == 7 and reconnect.reason == "connection dropped"


def test_quote_ticks_make_the_decisions_of_replaying_the_same_trades(standin, tape, make_feed):
    feed = make_feed()
    feed.start()
    assert wait_for(lambda: feed.subscribed)
    streamed = decision_engine()
    live = []
    step = OPEN
    while step.value < SESSION_END_NS:
        step += pd.Timedelta(minutes=30)
        first = tape.released
        standin.advance_to(step)
        for tick in take(feed, tape.released - first):
            live.extend(streamed.on_tick(tick.ts_ns, tick.price, tick.size))
    live.extend(streamed.end_session(SESSION_END_NS))
    assert feed.delivered == len(tape.ts_ns)
    replayed = decision_engine().replay(tape.ts_ns, tape.price, tape.size, SESSION_END_NS)
    assert len(live) >= 3
    assert [decision_key(d) for d in live] == [decision_key(d) for d in replayed]


def test_the_trading_token_is_refused_and_the_feed_gives_up_after_its_reconnects(standin, make_feed):
    feed = make_feed(token="access", reconnect_attempts=1)
    with pytest.raises(DataSourceError, match="gave up after 1 failed reconnects"):
        list(feed)
    assert standin.md_subscriptions == []
    assert any("authorization refused (status 401)" in note for note in feed.notes)


def test_an_unknown_symbol_stops_the_feed_naming_it(make_feed):
    feed = make_feed(symbol="ESZ5")
    with pytest.raises(DataSourceError, match="md/subscribeQuote ESZ5 answered status 400"):
        list(feed)


QUOTE = "2025-06-02T13:30:00.{ms:03d}Z"


def quote(ms: int, **entries: Any) -> dict[str, Any]:
    return {"timestamp": QUOTE.format(ms=ms), "contractId": 1, "entries": entries}


def test_what_makes_a_tick_in_a_quote_stream():
    feed = TradovateQuoteTickFeed(TradovateQuoteConfig(symbol="NQM5", md_url="ws://127.0.0.1:9"), md_token=str)
    on = feed._on_quote
    book = {"Bid": {"price": 100.0, "size": 3}, "Offer": {"price": 100.25, "size": 4}}
    on(quote(0, Trade={"price": 99.75, "size": 2}, TotalTradeVolume={"size": 50}, **book))   # the snapshot
    on(quote(1, Trade={"price": 99.75, "size": 2}, TotalTradeVolume={"size": 50},            # the book moved
             Bid={"price": 100.25, "size": 1}, Offer={"price": 100.5, "size": 4}))
    on(quote(2, Trade={"price": 100.25, "size": 1}, TotalTradeVolume={"size": 51}, **book))  # a buyer lifted
    on(quote(3, Trade={"price": 100.0, "size": 2}, TotalTradeVolume={"size": 56}, **book))   # 5 traded, merged
    on(quote(4, Bid={"price": 100.0, "size": 1}))                                            # no trade entry
    on({"timestamp": "not a time", "entries": {}})                                           # malformed
    ticks = [feed._queue.get_nowait() for _ in range(feed._queue.qsize())]
    start = pd.Timestamp("2025-06-02T13:30:00Z").value
    assert [(t.ts_ns - start, t.price, t.size, t.side) for t in ticks] == [
        (2_000_000, 100.25, 1.0, "B"), (3_000_000, 100.0, 5.0, "A")]
    assert feed.coalesced == 1 and feed.bad_quotes == 1 and feed.quotes == 6


def test_without_total_volume_a_changed_trade_entry_is_a_tick():
    feed = TradovateQuoteTickFeed(TradovateQuoteConfig(symbol="NQM5", md_url="ws://127.0.0.1:9"), md_token=str)
    for ms, price in ((0, 100.0), (1, 100.0), (2, 100.5)):
        feed._on_quote(quote(ms, Trade={"price": price, "size": 1}))
    [tick] = [feed._queue.get_nowait() for _ in range(feed._queue.qsize())]
    assert (tick.price, tick.side) == (100.5, "N")


def test_settings_are_checked_by_name():
    with pytest.raises(ConfigError, match="`symbol` is empty"):
        TradovateQuoteConfig(symbol=" ")
    with pytest.raises(ConfigError, match="unknown setting\\(s\\) url"):
        TradovateQuoteConfig.from_mapping({"symbol": "NQM5", "url": "wss://x"})
    assert TradovateQuoteConfig(symbol="NQM5").md_url == "wss://md.tradovateapi.com/v1/websocket"


def test_without_tick_arrays_the_stand_in_streams_a_path_through_its_real_bars(shared_data):
    frame = pd.read_csv(shared_data / "futures" / "NQ_1min_sample.csv")
    frame["time"] = pd.to_datetime(frame["timestamp"]).dt.tz_localize("America/New_York").dt.tz_convert("UTC")
    open_ = pd.Timestamp("2023-11-20 14:30", tz="UTC")
    bars = frame[frame["time"] >= open_].head(3).reset_index(drop=True)
    server = TradovateStandIn(frame[["time", "open", "high", "low", "close", "volume"]], start=open_, heartbeat_s=0.1,
                              credentials={"name": CREDENTIALS.username, "password": CREDENTIALS.password,
                                           "appId": CREDENTIALS.app_id, "cid": CREDENTIALS.cid,
                                           "sec": CREDENTIALS.sec, "deviceId": CREDENTIALS.device_id}).start()
    try:
        rest = TradovateRest(TradovateConfig(rest_url=server.rest_url, request_timeout_s=2.0), CREDENTIALS)
        feed = TradovateQuoteTickFeed(TradovateQuoteConfig(symbol="MNQZ3", md_url=server.md_url, heartbeat_s=0.1,
                                                           server_timeout_s=1.0), md_token=rest.md_token)
        feed.start()
        assert wait_for(lambda: feed.subscribed)
        server.advance_to(open_ + pd.Timedelta(minutes=3))
        ticks = take(feed, 12)
        feed.close()
    finally:
        server.stop()
    for i, bar in bars.iterrows():
        up = bar["close"] >= bar["open"]
        path = [bar["open"], bar["low"] if up else bar["high"], bar["high"] if up else bar["low"], bar["close"]]
        mine = ticks[4 * i:4 * i + 4]
        assert [t.price for t in mine] == path
        assert [t.ts_ns for t in mine] == [(bar["time"] + pd.Timedelta(seconds=s)).value for s in (0, 15, 30, 45)]
        assert {t.size for t in mine} == {max(1.0, bar["volume"] // 4)}
