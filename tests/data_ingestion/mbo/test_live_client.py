"""The live MBO path for real: databento.Live against a stand-in gateway on 127.0.0.1 that speaks
Databento's raw TCP protocol (greeting, CRAM challenge, auth, subscriptions, start_session, DBN).

It streams a seeded sample day into the engine one record at a time; the signals equal those of
replaying the same file. A second script drops the connection (TCP reset) mid-day: the client's
reconnect policy brings the session back, the gap is recorded with its start and end, and the
engine carries on."""
from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import databento_dbn as dbn
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.ifd_v3.baselines import BaselineStore
from tasks.options_trading_system.analysis_engine.ifd_v3.config import BaselineConfig, IFDv3Config, LiveConfig
from tasks.options_trading_system.analysis_engine.ifd_v3.engine import IFDv3Engine
from tasks.options_trading_system.analysis_engine.ifd_v3.replay import baselines_for, record_history, replay_file
from tasks.options_trading_system.data_ingestion.mbo.dbn_file import MBOFile
from tasks.options_trading_system.data_ingestion.mbo.live_client import LiveMBOFeed, api_key
from tasks.options_trading_system.errors import ConfigError
from tasks.options_trading_system.sample_data.mbo import MBOSampleParams, write_sample_set
from tests.vendor_servers.databento_live_server import KEY, WAIT_S, Script, StandInGateway


@pytest.fixture(scope="module")
def small_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, IFDv3Config]:
    """A 20,000-record day with planted flow, and baselines from two earlier days."""
    folder = tmp_path_factory.mktemp("live_day")
    params = MBOSampleParams(trade_date=date(2025, 6, 2), n_events=20_000, seed=11, n_episodes=4, n_straddles=1)
    day, _ = write_sample_set(folder, params, history_days=2)
    config = IFDv3Config(baseline=BaselineConfig(lookback_days=2))
    with BaselineStore(folder / "b.sqlite") as store:
        record_history(store, [str(folder / "nq_mbo_*.mbo.dbn.zst")], before=params.trade_date, config=config,
                       recorded_at=pd.Timestamp("2025-06-02T12:00:00Z"))
        table = baselines_for(store, params.trade_date, config)
    return day.path, table, config


def feed_for(gateway: StandInGateway, engine: IFDv3Engine, sink: Any = None) -> LiveMBOFeed:
    live = LiveConfig(gateway="127.0.0.1", port=gateway.port, symbols=("NQ.OPT",), stype_in="parent")
    return LiveMBOFeed(live, key=KEY, sink=sink or engine.on_record, on_gap=engine.note_gap)


def test_a_live_session_gives_the_signals_of_replaying_the_same_day(small_day: tuple) -> None:
    path, table, config = small_day
    records = [bytes(r) for r in MBOFile(path).records()]
    first_mbo = next(r for r in MBOFile(path).records() if isinstance(r, dbn.MBOMsg))
    gateway = StandInGateway([Script(records, start=first_mbo.ts_recv)])
    gateway.start()
    engine = IFDv3Engine(config, baselines=table)
    result = feed_for(gateway, engine).run(timeout_s=WAIT_S)
    gateway.join(WAIT_S)
    assert gateway.errors == []
    assert result.records == len(records) and result.gaps == [] and not result.closed_by_timeout
    replayed = replay_file(path, config, baselines=table)
    assert len(replayed.signals) >= 3
    pd.testing.assert_frame_equal(engine.signals(), replayed.signals)
    # the client asked for definitions and for MBO with a snapshot, by parent symbol
    subs = gateway.subscriptions[0]
    assert any("schema=definition" in s and "symbols=NQ.OPT" in s and "stype_in=parent" in s for s in subs)
    assert any("schema=mbo" in s and "snapshot=1" in s for s in subs)
    assert "dataset=GLBX.MDP3" in gateway.auth_lines[0]


def test_a_dropped_connection_is_survived_and_the_gap_recorded(small_day: tuple) -> None:
    path, table, config = small_day
    objects = list(MBOFile(path).records())
    definitions = [bytes(r) for r in objects if isinstance(r, dbn.InstrumentDefMsg)]
    mbo = [r for r in objects if isinstance(r, dbn.MBOMsg)]
    cut, lost = len(mbo) // 2, 500            # half the day, then 500 records lost in the drop
    before, after = mbo[:cut], mbo[cut + lost:]
    first = Script(definitions + [bytes(r) for r in before], start=before[0].ts_recv, drop_after=cut)
    second = Script(definitions + [bytes(r) for r in after], start=after[0].ts_recv)
    gateway = StandInGateway([first, second])
    gateway.start()
    engine = IFDv3Engine(config, baselines=table)
    seen = {"mbo": 0}

    def sink(record: Any) -> None:
        engine.on_record(record)
        if isinstance(record, dbn.MBOMsg):
            seen["mbo"] += 1
            if seen["mbo"] == cut:
                first.caught_up.set()

    result = feed_for(gateway, engine, sink).run(timeout_s=WAIT_S)
    gateway.join(WAIT_S)
    assert gateway.errors == []
    assert len(gateway.subscriptions) == 2          # the client came back and subscribed again
    assert len(result.gaps) == 1
    gap = result.gaps[0]
    assert gap.start == pd.Timestamp(before[-1].ts_event, unit="ns", tz="UTC")
    assert gap.end == pd.Timestamp(after[0].ts_recv, unit="ns", tz="UTC")
    stats = engine.stats()
    assert stats["gaps"] == [gap.to_dict()]
    assert stats["events"] == len(mbo) - lost       # every record that arrived went through the book
    assert result.records == 2 * len(definitions) + len(mbo) - lost
    assert result.sink_errors == 0


def test_a_missing_key_is_a_configuration_error_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="DATABENTO_API_KEY is not set"):
        api_key(LiveConfig(), env={})
    assert api_key(LiveConfig(), env={"DATABENTO_API_KEY": KEY}) == KEY


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
