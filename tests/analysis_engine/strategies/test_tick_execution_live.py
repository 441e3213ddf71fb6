"""Tick execution on a live feed: Databento's live gateway (the local stand-in speaking its raw
protocol) streaming a generated session, through the feed registry, makes the same ledger as the
replay of the same session's file."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import databento as db
import databento_dbn as dbn
import pytest

from tasks.options_trading_system.analysis_engine.strategies.feeds.tick_feeds import (TickFeedContext,
                                                                                     build_tick_feed)
from tasks.options_trading_system.analysis_engine.strategies.tick_config import TickExecutionConfig
from tasks.options_trading_system.analysis_engine.strategies.tick_execution_orchestrator import (
    TickExecutionOrchestrator)
from tasks.options_trading_system.config_manager import load_profile
from tasks.options_trading_system.data_ingestion.ticks.feed import ReplayTickFeed
from tasks.options_trading_system.errors import ConfigError, OptionsSystemError
from tasks.options_trading_system.sample_data.ticks import TickSampleParams, write_sample_ticks
from tasks.options_trading_system.state.ledger import RUN_RUNNING, Ledger, dump_state
from tests.vendor_servers.databento_live_server import KEY, WAIT_S, Script, StandInGateway

DAY = "2025-06-02"


@pytest.fixture(scope="module")
def session_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("live") / "day"
    write_sample_ticks(folder, TickSampleParams(days=1, trades_per_day=30_000, seed=5))
    return next(folder.glob("*.dbn.zst"))


def ledger_at(path: Path) -> Ledger:
    ledger = Ledger(path)
    with ledger.transaction(day=None, event_index=None, sim_time=None) as tx:
        tx.insert("runs", {"run_id": "t", "mode": "live", "profile": "tick_execution", "config_json": "{}",
                           "data_dir": None, "price_path": None, "start_date": DAY, "days": 1,
                           "trading_days_json": json.dumps([DAY]), "status": RUN_RUNNING, "status_reason": "",
                           "status_at": None})
    return ledger


def test_a_live_databento_stream_makes_the_ledger_of_replaying_its_file(tmp_path: Path, session_file: Path) -> None:
    config = TickExecutionConfig.from_profile(load_profile("tick_execution", env={}))
    store = db.DBNStore.from_file(session_file)
    trades = list(store)
    mapping = dbn.SymbolMappingMsg(1, trades[0].instrument_id, trades[0].ts_event, dbn.SType.CONTINUOUS, "NQ.v.0",
                                   dbn.SType.RAW_SYMBOL, "NQM5", trades[0].ts_event, 2**63 - 1)
    gateway = StandInGateway([Script([bytes(mapping)] + [bytes(r) for r in trades], start=trades[0].ts_recv)],
                             symbols=("NQ.v.0",), stype_in=dbn.SType.CONTINUOUS)
    gateway.start()
    feed = build_tick_feed("databento_live", {"gateway": "127.0.0.1", "port": gateway.port, "heartbeat_interval_s": 10},
                           TickFeedContext(env={"DATABENTO_API_KEY": KEY}))
    live = ledger_at(tmp_path / "live.sqlite")
    assert TickExecutionOrchestrator(config=config, ledger=live, feed=feed, days=[DAY],
                                     mode="stream").run().status == "completed"
    gateway.join(WAIT_S)
    assert gateway.errors == []
    assert live.scalar("SELECT COUNT(*) FROM signals") > 0
    live.close()
    folder = tmp_path / "recording"
    folder.mkdir()
    shutil.copy(session_file, folder / session_file.name)
    replay = ledger_at(tmp_path / "replay.sqlite")
    TickExecutionOrchestrator(config=config, ledger=replay, feed=ReplayTickFeed(folder), days=[DAY],
                              mode="replay").run()
    replay.close()
    # the feed's name is the one thing that differs (and the summary that names it)
    ignore = {"observations": ["input"], "daily_summaries": ["summary_json"]}
    assert dump_state(tmp_path / "live.sqlite", ignore_columns=ignore) == \
        dump_state(tmp_path / "replay.sqlite", ignore_columns=ignore)


def test_feeds_are_registered_by_name() -> None:
    with pytest.raises(ConfigError, match="replay, tradovate_quotes"):
        build_tick_feed("ninjatrader", {}, TickFeedContext())
    with pytest.raises(ConfigError, match="--replay DIR"):
        build_tick_feed("replay", {}, TickFeedContext())
    with pytest.raises(ConfigError, match="DATABENTO_API_KEY"):
        build_tick_feed("databento_live", {}, TickFeedContext(env={}))
    with pytest.raises(OptionsSystemError, match="TRADOVATE_USERNAME") as raised:
        build_tick_feed("tradovate_quotes", {"symbol": "MNQZ6"}, TickFeedContext(env={"HOME": "/nonexistent"}))
    assert raised.value.exit_code == 2
