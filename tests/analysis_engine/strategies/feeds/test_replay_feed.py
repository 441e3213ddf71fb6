"""Replay feed: a day's plan from the recording (snapshots in the window, IFD v3.0 emissions, the
close), the same plan every time, the previous snapshot for interval volume, refusals kept."""
from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.feeds.clock import SimulatedClock
from tasks.options_trading_system.analysis_engine.strategies.feeds.price_path import load_price_path
from tasks.options_trading_system.analysis_engine.strategies.feeds.recording import open_recording
from tasks.options_trading_system.analysis_engine.strategies.feeds.replay_feed import ReplayFeed
from tasks.options_trading_system.analysis_engine.strategies.shadow_config import WindowConfig
from tasks.options_trading_system.analysis_engine.strategies.feeds.trading_calendar import TradingCalendar
from tasks.options_trading_system.errors import InputFileError

DAY = TradingCalendar("CMES", WindowConfig()).day(pd.Timestamp("2025-06-02").date())


def _feed(folder: Path, batch=None) -> ReplayFeed:
    recording = open_recording(folder)
    prices = load_price_path(recording.price_path, csv_timezone="America/New_York", bar_seconds=60)
    return ReplayFeed(recording, prices, SimulatedClock(DAY.window_open), mbo_batch=batch)


def test_the_plan_is_the_days_snapshots_emissions_and_close_in_time_order(small_recording: Path) -> None:
    emitted = pd.DataFrame({"time": [DAY.window_open + pd.Timedelta(minutes=75)], "source": ["ifd_v3"]})
    plan = _feed(small_recording, batch=lambda day, files: emitted).plan(DAY)
    kinds = [(e.time.tz_convert("America/New_York").strftime("%H:%M"), e.kind) for e in plan]
    assert kinds == [("09:30", "chain"), ("10:30", "chain"), ("10:45", "mbo"), ("11:30", "chain"),
                     ("12:30", "chain"), ("13:30", "chain"), ("14:30", "chain"), ("15:30", "chain"),
                     ("16:00", "close")]
    assert [e.index for e in plan] == list(range(9)) and plan[2].key == "2025-06-02#00002"


def test_events_advance_the_clock_and_stop_when_asked(small_recording: Path) -> None:
    feed = _feed(small_recording)
    stop = threading.Event()
    seen = []
    for event in feed.events(DAY, 2, stop):
        seen.append(event)
        assert feed.clock.now() == event.time
        if len(seen) == 2:
            stop.set()
    assert [e.index for e in seen] == [2, 3]


def test_a_chain_event_brings_its_snapshot_and_the_previous_one(small_recording: Path) -> None:
    feed = _feed(small_recording)
    plan = feed.plan(DAY)
    first, second = feed.load(plan[0]), feed.load(plan[1])
    assert first.chain is not None and first.previous is None
    assert second.previous is not None and second.chain.meta.as_of == plan[1].time
    assert feed.latest_chain(plan[1].time + pd.Timedelta(minutes=5)).meta.as_of == plan[1].time


def test_a_refused_snapshot_is_an_error_text_not_a_crash(small_recording: Path, tmp_path: Path) -> None:
    import shutil
    copy = tmp_path / "rec"
    shutil.copytree(small_recording, copy, ignore=shutil.ignore_patterns("mbo"))
    (copy / "chains" / "2025-06-02" / "103000.json").write_text('{"format": "nq-options-canonical/1", '
                                                                 '"meta": {}, "contracts": []}')
    feed = _feed(copy)
    data = feed.load(feed.plan(DAY)[1])
    assert data.chain is None and "103000.json" in data.chain_error


def test_a_planned_snapshot_missing_from_the_recording_is_named(small_recording: Path) -> None:
    from dataclasses import replace
    feed = _feed(small_recording)
    event = replace(feed.plan(DAY)[1], input="999999.json")   # as if the file had been renamed since the plan
    with pytest.raises(InputFileError, match=r"2025-06-02#00001 expects the snapshot 2025-06-02/999999.json"):
        feed.load(event)


def test_a_resumed_replay_clock_starts_where_the_ledger_stopped() -> None:
    from tasks.options_trading_system.analysis_engine.strategies.shadow_run import replay_clock_start
    second = TradingCalendar("CMES", WindowConfig()).day(pd.Timestamp("2025-06-03").date())
    assert replay_clock_start([DAY, second], None) == DAY.window_open - pd.Timedelta(seconds=1)
    # stopped at the first day's close: a paced resume goes on from there, not from the first open again
    assert replay_clock_start([DAY, second], "2025-06-02T20:00:00.000000Z") == DAY.window_close


def test_a_missing_recording_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such directory"):
        open_recording(tmp_path / "nothing")


def test_the_latest_chain_is_the_newest_snapshot_less_than_a_day_old(small_recording: Path) -> None:
    feed = _feed(small_recording)
    refs = [ref for day in feed.recording.days for ref in feed.recording.snapshots_of(day)]
    first, last = refs[0].time, refs[-1].time
    assert feed.latest_chain(first - pd.Timedelta(seconds=1)) is None
    assert feed.latest_chain(first).meta.as_of == first
    overnight = refs[len(feed.recording.snapshots_of(feed.recording.days[0])) - 1].time + pd.Timedelta(hours=12)
    assert feed.latest_chain(overnight).meta.as_of == overnight - pd.Timedelta(hours=12)  # the day before's last
    assert feed.latest_chain(last + pd.Timedelta(hours=23, minutes=59)).meta.as_of == last
    assert feed.latest_chain(last + pd.Timedelta(days=1)) is None


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
