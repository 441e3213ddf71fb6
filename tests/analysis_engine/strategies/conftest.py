"""A small recorded market for the orchestrator tests: two sample days, hourly chain snapshots, a
light MBO stream, generated once per session (seeded, so every test sees the same market)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.options_trading_system.sample_data.week import SampleWeekParams, write_sample_week

SMALL_WEEK = SampleWeekParams(days=2, snapshot_minutes=60, episodes_per_day=2, mbo_events=20_000,
                              mbo_history_days=1)


@pytest.fixture(scope="session")
def small_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("recording") / "week"
    write_sample_week(folder, SMALL_WEEK)
    return folder
