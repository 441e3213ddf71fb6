"""IFD v3.0 signals: the engine's emissions on a recorded MBO day, and their trade levels."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.ifd_v3.config import IFDv3Config
from tasks.options_trading_system.analysis_engine.ifd_v3.baselines import BaselineStore
from tasks.options_trading_system.analysis_engine.ifd_v3.replay import baselines_for, record_history, replay_file
from tasks.options_trading_system.analysis_engine.strategies.shadow_config import WindowConfig
from tasks.options_trading_system.analysis_engine.strategies.signals import SignalInput
from tasks.options_trading_system.analysis_engine.strategies.signals.ifd_v3_source import IfdV3SignalSource
from tasks.options_trading_system.analysis_engine.strategies.feeds.trading_calendar import TradingCalendar

T = pd.Timestamp("2025-06-02 15:00", tz="UTC")


def test_a_replayed_day_gives_the_engines_emissions_with_baselines_from_earlier_days(
        small_recording: Path, tmp_path: Path) -> None:
    source = IfdV3SignalSource("ifd_v3", IFDv3Config())
    source.bind(tmp_path)
    day = TradingCalendar("CMES", WindowConfig()).day(pd.Timestamp("2025-06-02").date())
    mbo = small_recording / "mbo" / "2025-06-02.mbo.dbn.zst"
    emissions = source.replay_day(day, [mbo])
    assert not emissions.empty and (emissions["source"] == "ifd_v3").all()
    assert emissions["time"].is_monotonic_increasing
    # the history day before it was recorded into the run's own baseline store
    assert (tmp_path / "ifd_v3_ifd_v3_baselines.sqlite").is_file()
    assert set(emissions["baseline_days"].dropna()) == {1.0}
    # exactly the engine's own replay of the day with the baselines of the day before (not of the day itself)
    with BaselineStore(tmp_path / "reference.sqlite") as store:
        record_history(store, [str(small_recording / "mbo" / "history" / "*.mbo.dbn*")], before=day.session,
                       config=IFDv3Config(), recorded_at=day.window_open)
        table = baselines_for(store, day.session, IFDv3Config())
    direct = replay_file(mbo, IFDv3Config(), baselines=table).signals
    assert emissions["signal_id"].tolist() == direct["signal_id"].tolist()
    assert emissions["confidence"].tolist() == pytest.approx(direct["confidence"].tolist())


def test_a_days_emissions_are_computed_once_then_read_from_the_cache_until_an_mbo_file_changes(
        small_recording: Path, tmp_path: Path) -> None:
    recording = tmp_path / "mbo"
    (recording / "history").mkdir(parents=True)
    for file in (small_recording / "mbo").rglob("*.dbn*"):
        (recording / file.relative_to(small_recording / "mbo")).write_bytes(file.read_bytes())
    day = TradingCalendar("CMES", WindowConfig()).day(pd.Timestamp("2025-06-02").date())
    mbo = recording / "2025-06-02.mbo.dbn.zst"
    cache = tmp_path / "cache"

    def replay(run: str, cache_dir: Path | None) -> pd.DataFrame:
        source = IfdV3SignalSource("ifd_v3", IFDv3Config())
        source.bind(tmp_path / run)
        return source.replay_day(day, [mbo], cache_dir=cache_dir)

    computed = replay("plain", None)
    first = replay("cold", cache)
    store = "ifd_v3_ifd_v3_baselines.sqlite"
    assert len(list(cache.rglob("*.pkl"))) == 1 and (tmp_path / "cold" / store).is_file()
    again = replay("warm", cache)
    pd.testing.assert_frame_equal(first, computed)
    pd.testing.assert_frame_equal(again, computed)
    assert not (tmp_path / "warm" / store).exists()  # the engine and its baselines did not run
    # another engine setting, or a history day rewritten, is another key: computed again
    other = IfdV3SignalSource("ifd_v3", dataclasses.replace(IFDv3Config(), underlying_root="MNQ"))
    assert other.day_cache_key(day, [mbo]) != IfdV3SignalSource("ifd_v3", IFDv3Config()).day_cache_key(day, [mbo])
    history = next((recording / "history").glob("*.mbo.dbn*"))
    os.utime(history, ns=(history.stat().st_atime_ns, history.stat().st_mtime_ns + 1_000_000_000))
    replay("changed", cache)
    assert len(list(cache.rglob("*.pkl"))) == 2 and (tmp_path / "changed" / store).is_file()


def _emission(direction: str, strike: float, right: str) -> dict:
    return {"signal_id": f"e-{strike:g}", "contract": f"NQM5 {right}{strike:g}", "strike": strike, "right": right,
            "direction": direction, "confidence": 0.8, "tier": "HIGH", "market_making": False, "reasons": "",
            "source": "ifd_v3", "aggressor": "BUY", "pressure_ratio": 0.9}


def test_the_strike_is_the_target_only_on_the_trades_side() -> None:
    source = IfdV3SignalSource("ifd_v3", IFDv3Config())
    rows = pd.DataFrame([_emission("LONG", 21600.0, "C"), _emission("LONG", 21400.0, "P"),
                         _emission("SHORT", 21450.0, "P")])
    ideas = source.generate(SignalInput(time=T, price=21500.0, mbo_signals=rows))
    # LONG to 21,600: stop 50 below 21,500; LONG with the strike behind the price: no target;
    # SHORT to 21,450: stop 25 above
    assert ideas["target"].iloc[0] == 21600.0 and ideas["stop"].iloc[0] == 21450.0
    assert np.isnan(ideas["target"].iloc[1]) and np.isnan(ideas["stop"].iloc[1])
    assert ideas["target"].iloc[2] == 21450.0 and ideas["stop"].iloc[2] == 21525.0
    assert ideas["confidence"].tolist() == [0.8, 0.8, 0.8]
    assert ideas["evidence"].iloc[0]["engine_signal_id"] == "e-21600"


def test_another_sources_emissions_are_not_taken() -> None:
    source = IfdV3SignalSource("ifd_v3", IFDv3Config())
    rows = pd.DataFrame([{**_emission("LONG", 21600.0, "C"), "source": "ifd_v3_loose"}])
    assert source.generate(SignalInput(time=T, price=21500.0, mbo_signals=rows)).empty


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_a_baseline_cache_is_shared_only_with_the_same_mbo_files_and_settings(small_recording: Path,
                                                                             tmp_path: Path) -> None:
    import shutil
    copy = tmp_path / "mbo"
    shutil.copytree(small_recording / "mbo", copy)
    source = IfdV3SignalSource("ifd_v3", IFDv3Config())
    same = IfdV3SignalSource("other_name", IFDv3Config())
    assert source.baseline_fingerprint(copy) == same.baseline_fingerprint(copy)
    other_settings = IfdV3SignalSource("ifd_v3", IFDv3Config(baseline=dataclasses.replace(
        IFDv3Config().baseline, lookback_days=IFDv3Config().baseline.lookback_days + 1)))
    assert other_settings.baseline_fingerprint(copy) != source.baseline_fingerprint(copy)
    before = source.baseline_fingerprint(copy)
    history = sorted((copy / "history").glob("*.mbo.dbn*"))[0]
    history.write_bytes(history.read_bytes() + b"\0")   # a regenerated (or damaged) earlier day
    assert source.baseline_fingerprint(copy) != before
