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
