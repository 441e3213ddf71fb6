"""Replays take the recording's length: a generated recording of more than 7 trading days replays
over all of them (the 1..7 limit is a live run's), and asking for more days than it holds is
refused before anything is created."""
from __future__ import annotations

from pathlib import Path

import pytest

from tasks.options_trading_system.analysis_engine.strategies.shadow_run import (MAX_DAYS, RunHooks, ShadowRunRequest,
                                                                                 start_run)
from tasks.options_trading_system.errors import ConfigError
from tasks.options_trading_system.sample_data.week import SampleWeekParams, write_sample_week
from tasks.options_trading_system.state import queries
from tasks.options_trading_system.state.ledger import Ledger

DAYS = MAX_DAYS + 2
#: a light recording: two snapshots and a small MBO stream a day, so nine days generate quickly
LONG = SampleWeekParams(days=DAYS, snapshot_minutes=195, episodes_per_day=1, mbo_events=3_000, mbo_history_days=1)


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("long") / "recording"
    write_sample_week(folder, LONG)
    return folder


def test_a_recording_longer_than_a_week_replays_every_day(long_recording: Path, tmp_path: Path) -> None:
    result = start_run(ShadowRunRequest(replay=long_recording, days=DAYS, output_dir=tmp_path, run_id="long"),
                       RunHooks())
    assert result.status == "completed" and result.days_closed == DAYS
    ledger = Ledger.open_existing(result.run_dir / "ledger.sqlite")
    try:
        closed = queries.closed_days(ledger)
        assert len(closed) == DAYS and closed[0] == "2025-06-02" and closed[-1] == "2025-06-12"
        # every day was observed from its own snapshots (two a day), not just closed
        per_day = dict(ledger.connection.execute(
            "SELECT day, COUNT(*) FROM observations WHERE kind = 'chain' GROUP BY day").fetchall())
        assert per_day == {day: 2 for day in closed}
    finally:
        ledger.close()


def test_more_days_than_the_recording_holds_are_refused(long_recording: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"ends on 2025-06-12.*at most {DAYS}"):
        start_run(ShadowRunRequest(replay=long_recording, days=DAYS + 1, output_dir=tmp_path, run_id="too_long"),
                  RunHooks())
    assert not (tmp_path / "runs").exists()


def test_a_live_run_still_covers_at_most_a_week(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"live run covers 1..{MAX_DAYS}") as caught:
        start_run(ShadowRunRequest(days=MAX_DAYS + 1, output_dir=tmp_path, run_id="live"), RunHooks())
    assert caught.value.exit_code == 2 and not (tmp_path / "runs").exists()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
