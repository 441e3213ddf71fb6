"""Live ticks from databento.Live against a stand-in gateway on 127.0.0.1 speaking Databento's raw
TCP protocol, fed with real trades records (ESU4, a recorded download) and generated NQ sessions."""
from __future__ import annotations

import time
from pathlib import Path

import databento as db
import databento_dbn as dbn
import numpy as np
import pytest

from tasks.options_trading_system.data_ingestion.ticks.databento_live import (DatabentoLiveTickConfig,
                                                                              DatabentoLiveTickFeed, databento_key)
from tasks.options_trading_system.data_ingestion.ticks.dbn_ticks import read_ticks
from tasks.options_trading_system.errors import ConfigError
from tests.data_ingestion.ticks.conftest import SESSION_END_NS, decision_engine, decision_key
from tests.vendor_servers.databento_live_server import KEY, WAIT_S, Script, StandInGateway

ESU4 = "databento/nautilus/historical_bars_catalog/futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"


def records_of(path: Path) -> tuple[list, list[bytes]]:
    """The file's trade records, as objects and as the bytes the gateway sends, after the symbol
    mapping a live session opens with (continuous NQ.v.0 -> the file's contract)."""
    store = db.DBNStore.from_file(path)
    trades = list(store)
    contract = next(iter(store.symbology["mappings"]), None) or store.symbols[0]
    mapping = dbn.SymbolMappingMsg(1, trades[0].instrument_id, trades[0].ts_event, dbn.SType.CONTINUOUS, "NQ.v.0",
                                   dbn.SType.RAW_SYMBOL, contract, trades[0].ts_event, 2**63 - 1)
    return trades, [bytes(mapping)] + [bytes(r) for r in trades]


def feed_for(gateway: StandInGateway, clock=lambda: 1_000) -> DatabentoLiveTickFeed:
    config = DatabentoLiveTickConfig(gateway="127.0.0.1", port=gateway.port, heartbeat_interval_s=10)
    return DatabentoLiveTickFeed(config, key=KEY, clock=clock)


def gateway_for(scripts: list[Script]) -> StandInGateway:
    gateway = StandInGateway(scripts, symbols=("NQ.v.0",), stype_in=dbn.SType.CONTINUOUS)
    gateway.start()
    return gateway


def test_real_trades_arrive_as_ticks_in_exchange_time(shared_data):
    path = shared_data / ESU4
    trades, wire = records_of(path)
    gateway = gateway_for([Script(wire, start=trades[0].ts_recv)])
    feed = feed_for(gateway)
    ticks = list(feed)
    gateway.join(WAIT_S)
    assert gateway.errors == []
    expected = read_ticks(path)
    assert [t.ts_ns for t in ticks] == expected.ts_ns.tolist()
    assert [t.price for t in ticks] == expected.price.tolist()
    assert [t.size for t in ticks] == expected.size.tolist()
    assert [t.side for t in ticks] == [s.decode() for s in expected.side.tolist()]
    assert feed.contract == "ESU4" and feed.gaps == [] and feed.reconnects == []
    # asked for trades of the front contract by volume, continuous symbology, on GLBX.MDP3
    assert any("schema=trades" in s and "symbols=NQ.v.0" in s and "stype_in=continuous" in s
               for s in gateway.subscriptions[0])
    assert "dataset=GLBX.MDP3" in gateway.auth_lines[0]


def test_a_dropped_connection_is_reconnected_and_the_gap_recorded(sample_days):
    path = sorted(sample_days.glob("*.dbn.zst"))[0]
    trades, wire = records_of(path)
    cut, lost = 5_000, 700
    mapping = wire[0]
    before, after = trades[:cut], trades[cut + lost:]
    first = Script([mapping] + [bytes(r) for r in before], start=before[0].ts_recv, drop_after=cut)
    second = Script([mapping] + [bytes(r) for r in after], start=after[0].ts_recv)
    gateway = gateway_for([first, second])
    feed = feed_for(gateway, clock=lambda: 42)
    ticks = []
    for tick in feed:
        ticks.append(tick)
        if len(ticks) == cut:
            first.caught_up.set()
        assert len(ticks) <= len(trades)
    gateway.join(WAIT_S)
    assert gateway.errors == []
    assert len(gateway.subscriptions) == 2                      # it came back and subscribed again
    assert len(ticks) == len(trades) - lost
    assert [t.ts_ns for t in ticks] == [r.ts_event for r in before + after]
    assert np.all(np.diff([t.ts_ns for t in ticks]) >= 0)
    [gap] = feed.gaps
    assert (gap.start_ns, gap.end_ns) == (before[-1].ts_event, after[0].ts_recv)
    assert gap.seconds > 0
    assert [(r.at_ns, r.reason) for r in feed.reconnects] == [(42, "connection lost")]


def test_live_ticks_make_the_decisions_of_replaying_the_file(sample_days):
    path = sorted(sample_days.glob("*.dbn.zst"))[0]
    trades, wire = records_of(path)
    gateway = gateway_for([Script(wire, start=trades[0].ts_recv)])
    streamed = decision_engine()
    live = []
    for tick in feed_for(gateway):
        live.extend(streamed.on_tick(tick.ts_ns, tick.price, tick.size))
    live.extend(streamed.end_session(SESSION_END_NS))
    gateway.join(WAIT_S)
    arrays = read_ticks(path)
    replayed = decision_engine().replay(arrays.ts_ns, arrays.price, arrays.size, SESSION_END_NS)
    assert len(live) >= 3, "the sample session should make the strategies decide a few times"
    assert [decision_key(d) for d in live] == [decision_key(d) for d in replayed]


def test_the_key_comes_from_the_environment_or_dot_env_and_its_absence_names_the_variable(tmp_path):
    config = DatabentoLiveTickConfig()
    with pytest.raises(ConfigError, match="DATABENTO_API_KEY is not set"):
        databento_key(config, env={}, env_file=tmp_path / ".env")
    (tmp_path / ".env").write_text(f"DATABENTO_API_KEY={KEY}\n")
    assert databento_key(config, env={}, env_file=tmp_path / ".env") == KEY
    assert databento_key(config, env={"DATABENTO_API_KEY": "db-from-env"}, env_file=tmp_path / ".env") == "db-from-env"


def test_settings_are_checked_by_name():
    with pytest.raises(ConfigError, match="unknown setting\\(s\\) symbols"):
        DatabentoLiveTickConfig.from_mapping({"symbols": ["NQ"]})
    with pytest.raises(ConfigError, match="`port` must be 1-65535"):
        DatabentoLiveTickConfig(port=0)


def test_leaving_the_iteration_early_ends_the_session(shared_data):
    trades, wire = records_of(shared_data / ESU4)
    first = Script(wire, start=trades[0].ts_recv, drop_after=len(trades))   # would hold the line open
    gateway = gateway_for([first])
    feed = feed_for(gateway)
    for i, _tick in enumerate(feed):
        assert feed.connected
        if i == 9:
            break
    deadline = time.monotonic() + WAIT_S
    while feed.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not feed.connected
    first.caught_up.set()
    gateway.join(WAIT_S)
    assert not gateway.is_alive() and gateway.errors == []
    assert feed.delivered == 10
