"""The replay tick feed: DBN recordings of a folder, day by day, as typed ticks."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.options_trading_system.data_ingestion.ticks.dbn_ticks import read_ticks
from tasks.options_trading_system.data_ingestion.ticks.feed import ReplayTickFeed, Tick
from tasks.options_trading_system.errors import InputFileError

NAUTILUS = "databento/nautilus/historical_bars_catalog"


def test_replay_gives_every_day_s_trades_in_exchange_time_order(sample_days):
    feed = ReplayTickFeed(sample_days)
    days = [read_ticks(p) for p in sorted(sample_days.glob("*.dbn.zst"))]
    ticks = list(feed)
    assert len(ticks) == sum(len(d) for d in days) == feed.delivered
    assert all(isinstance(t, Tick) for t in ticks[:10])
    ts = np.array([t.ts_ns for t in ticks])
    assert np.all(np.diff(ts) >= 0)
    np.testing.assert_array_equal(ts, np.concatenate([d.ts_ns for d in days]))
    np.testing.assert_array_equal([t.price for t in ticks], np.concatenate([d.price for d in days]))
    assert {t.side for t in ticks} <= {"A", "B", "N"}
    assert feed.reconnects == [] and feed.quarantined == 0


def test_days_come_as_arrays_one_file_at_a_time(sample_days):
    days = list(ReplayTickFeed(sample_days).days())
    assert [d.path.name for d in days] == ["NQM5_20250602.trades.dbn.zst", "NQM5_20250603.trades.dbn.zst"]
    assert days[0].ticks.ts_ns[-1] < days[1].ticks.ts_ns[0]


def test_real_recordings_skip_definitions_and_bars_and_read_the_trades(shared_data, tmp_path):
    for path in (shared_data / NAUTILUS).glob("futures_*.dbn.zst"):
        (tmp_path / path.name).symlink_to(path)
    feed = ReplayTickFeed(tmp_path)
    ticks = list(feed)
    assert len(ticks) == 120 and ticks[0] == Tick(1719878281218218853, 5528.75, 2.0, "B")
    assert sorted(schema for _, schema in feed.skipped) == ["definition", "ohlcv-1m"]


def test_silences_in_a_recording_are_the_feed_s_gaps(shared_data, tmp_path):
    path = shared_data / NAUTILUS / "futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
    (tmp_path / path.name).symlink_to(path)
    ticks = read_ticks(path)
    longest = int(np.argmax(np.diff(ticks.ts_ns)))
    threshold = (ticks.ts_ns[longest + 1] - ticks.ts_ns[longest]) / 1e9 - 1e-6
    feed = ReplayTickFeed(tmp_path, gap_seconds=threshold)
    list(feed)
    list(feed.days())                                      # a second pass records nothing twice
    assert [(g.start_ns, g.end_ns) for g in feed.gaps] == [(ticks.ts_ns[longest], ticks.ts_ns[longest + 1])]


def test_overlapping_days_are_refused_naming_both_files(sample_days, tmp_path):
    first = sorted(sample_days.glob("*.dbn.zst"))[0]
    (tmp_path / "a.trades.dbn.zst").symlink_to(first)
    (tmp_path / "b.trades.dbn.zst").symlink_to(first)
    with pytest.raises(InputFileError, match="b.trades.dbn.zst starts before a.trades.dbn.zst ends"):
        list(ReplayTickFeed(tmp_path))


def test_an_empty_or_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputFileError, match="no such folder"):
        ReplayTickFeed(tmp_path / "absent")
    with pytest.raises(InputFileError, match="no files matching"):
        ReplayTickFeed(tmp_path)


def test_close_stops_the_iteration(sample_days):
    feed = ReplayTickFeed(sample_days)
    taken = []
    for tick in feed:
        taken.append(tick)
        if len(taken) == 5:
            feed.close()
    assert len(taken) == 5
