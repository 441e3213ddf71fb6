"""Generated tick sessions: CME trading days, real DBN trades files, flagged as sample."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from tasks.options_trading_system.data_ingestion.ticks.dbn_ticks import read_ticks
from tasks.options_trading_system.sample_data.ticks import TickSampleParams, write_sample_ticks


def test_sample_sessions_are_cme_days_of_readable_trades(tmp_path):
    manifest = write_sample_ticks(tmp_path, TickSampleParams(start="2025-06-06", days=2, trades_per_day=20_000))
    info = json.loads(manifest.read_text())
    assert info["is_sample"] and "SAMPLE DATA" in info["description"]
    assert [d["day"] for d in info["days"]] == ["2025-06-06", "2025-06-09"]  # the weekend skipped
    ticks = read_ticks(tmp_path / info["days"][0]["file"])
    assert ticks.symbol == "NQM5" and len(ticks) == info["days"][0]["trades"]
    assert 15_000 < len(ticks) < 25_000
    first, last = (pd.Timestamp(int(t), tz="UTC").tz_convert("America/New_York") for t in ticks.ts_ns[[0, -1]])
    assert first.strftime("%H:%M") == "09:30" and last.hour == 15
    assert np.all(np.diff(ticks.ts_ns) >= 0)
    assert np.all(np.mod(ticks.price, 0.25) == 0)  # on the NQ tick


def test_the_same_seed_gives_the_same_files(tmp_path):
    a = write_sample_ticks(tmp_path / "a", TickSampleParams(days=1, trades_per_day=5_000))
    b = write_sample_ticks(tmp_path / "b", TickSampleParams(days=1, trades_per_day=5_000))
    name = json.loads(a.read_text())["days"][0]["file"]
    assert (a.parent / name).read_bytes() == (b.parent / name).read_bytes()


def test_chains_beside_the_ticks_follow_the_same_prices_and_are_sample(tmp_path):
    from tasks.options_trading_system.analysis_engine.strategies.feeds.recording import open_recording
    from tasks.options_trading_system.data_ingestion.saved.formats import read_capture

    manifest = write_sample_ticks(tmp_path, TickSampleParams(days=2, trades_per_day=20_000, snapshot_minutes=60),
                                  with_chains=True)
    info = json.loads(manifest.read_text())
    assert info["options"]["folder"] == "options"
    recording = open_recording(tmp_path / "options")
    assert recording.is_sample and "SAMPLE DATA" in recording.description
    assert [d.isoformat() for d in recording.days] == [d["day"] for d in info["days"]]   # the same days
    for entry in info["days"]:
        ticks = read_ticks(tmp_path / entry["file"])
        refs = recording.snapshots_of(pd.Timestamp(entry["day"]).date())
        assert len(refs) == 7                             # 09:30, 10:30, ... 15:30 New York
        for ref in refs[1:]:                              # the futures price: the last trade before the snapshot
            chain = read_capture(ref.path)
            last = ticks.price[np.searchsorted(ticks.ts_ns, ref.time.value, side="left") - 1]
            assert chain.meta.underlying_price == last and chain.meta.is_sample


def test_the_sample_term_structure_follows_the_tapes_realised_volatility():
    from tasks.options_trading_system.sample_data.ticks import realised_atm_vol

    start = pd.Timestamp("2025-06-02 13:30", tz="UTC")       # 09:30 New York
    rng = np.random.default_rng(3)
    years = np.array([0.001, 0.005])                          # front (today) and next (tomorrow)
    for per_minute, expected in ((0.0001, "contango"), (0.01, "backwardation")):
        close = 21_500 * np.exp(np.cumsum(rng.normal(0, per_minute, 60)))
        bars = pd.DataFrame({"start": start + pd.to_timedelta(np.arange(60), "min"), "close": close})
        # realised: 0.0001 a minute ~ 1.6% a year (calm), 0.01 ~ 158% (a burst); long-run 20%
        front, nxt = realised_atm_vol(bars, TickSampleParams(), 0.20)(start + pd.Timedelta(minutes=60), years)
        assert (nxt > front) == (expected == "contango") and front != nxt
