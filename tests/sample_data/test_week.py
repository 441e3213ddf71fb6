"""The sample week is one consistent market: bars with real extremes, chains whose volume only grows
through the day around the bars' price, planted flow that IFD v1.0 can see, the same files for
the same seed, and the real NQ bars followed in place when given."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.feeds.price_path import load_price_path
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture
from tasks.options_trading_system.sample_data.week import SampleWeekParams, write_sample_week

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ONE_DAY = SampleWeekParams(days=1, snapshot_minutes=60, episodes_per_day=2)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("week") / "day"
    write_sample_week(folder, ONE_DAY, with_mbo=False)
    return folder


def _snapshots(folder: Path) -> list[tuple[pd.Timestamp, pd.DataFrame, float]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    out = []
    for item in manifest["days"][0]["snapshots"]:
        chain = read_capture(folder / item["file"])
        out.append((pd.Timestamp(item["as_of"]), chain.frame.set_index("contract"), chain.meta.underlying_price))
    return out


def test_bars_have_consistent_extremes_on_the_tick(day: Path) -> None:
    bars = load_price_path(day / "futures" / "NQ_1min.csv", csv_timezone="America/New_York", bar_seconds=60)
    # one bar per minute of the calendar's session (exchange_calendars' CMES: 18:00 to 18:00 New York)
    assert len(bars) == 24 * 60
    assert np.all(bars.low <= np.minimum(bars.open, bars.close)) and np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert np.all(np.mod(bars.close * 4, 1) == 0)


def test_snapshots_sit_on_the_price_path_and_volume_only_grows(day: Path) -> None:
    bars = load_price_path(day / "futures" / "NQ_1min.csv", csv_timezone="America/New_York", bar_seconds=60)
    snaps = _snapshots(day)
    assert [t.tz_convert("America/New_York").strftime("%H:%M") for t, _, _ in snaps] == \
        ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]
    for t, _, underlying in snaps:
        assert underlying == bars.last_close(t)[0]
    for (_, before, _), (_, after, _) in zip(snaps, snaps[1:]):
        grew = after["volume"].fillna(0) - before["volume"].reindex(after.index).fillna(0)
        assert (grew >= 0).all()
        assert after["open_interest"].equals(before["open_interest"].reindex(after.index))


def test_planted_episodes_are_volume_spikes_in_their_interval(day: Path) -> None:
    manifest = json.loads((day / "manifest.json").read_text())
    snaps = {t: frame for t, frame, _ in _snapshots(day)}
    times = sorted(snaps)
    episodes = manifest["days"][0]["episodes"]
    assert len(episodes) == 2
    for episode in episodes:
        at = pd.Timestamp(episode["time"])
        before = snaps[times[times.index(at) - 1]].loc[episode["contract"]]
        now = snaps[at].loc[episode["contract"]]
        interval = now["volume"] - (0 if pd.isna(before["volume"]) else before["volume"])
        assert interval >= episode["volume"] and interval / now["open_interest"] >= 10


def test_the_same_seed_writes_the_same_files(day: Path, tmp_path: Path) -> None:
    write_sample_week(tmp_path / "again", ONE_DAY, with_mbo=False)
    for name in ("manifest.json", "futures/NQ_1min.csv", "chains/2025-06-02/123000.json"):
        assert (tmp_path / "again" / name).read_bytes() == (day / name).read_bytes()


def test_real_bars_are_followed_in_place(shared_data: Path, tmp_path: Path) -> None:
    bars_file = shared_data / "futures" / "NQ_1min_sample.csv"
    params = SampleWeekParams(days=2, snapshot_minutes=120, episodes_per_day=1, start=date(2023, 11, 22))
    write_sample_week(tmp_path / "real", params, price_path=bars_file, with_mbo=False)
    manifest = json.loads((tmp_path / "real" / "manifest.json").read_text())
    assert manifest["price_path"] == str(bars_file.resolve()) and not (tmp_path / "real" / "futures").exists()
    # Nov 22, then Thanksgiving: CME trades until 13:00 New York, so its window is 09:30-13:00
    assert [d["date"] for d in manifest["days"]] == ["2023-11-22", "2023-11-23"]
    assert [s["file"][-11:] for s in manifest["days"][1]["snapshots"]] == ["093000.json", "113000.json"]
    assert all(e["planned"] == "market" for d in manifest["days"] for e in d["episodes"])


def test_make_sample_data_days_writes_a_week(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "scripts/make_sample_data.py", "-q", "--days", "1", "--output",
                           str(tmp_path / "w"), "--snapshot-minutes", "180", "--no-mbo"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert done.returncode == 0, done.stderr
    assert "run_shadow_trading.py --replay" in done.stdout
    assert json.loads((tmp_path / "w" / "manifest.json").read_text())["days"][0]["date"] == "2025-06-02"


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
