"""One stamp per run: names sort by start time, and a taken name is never reused."""
from __future__ import annotations

from datetime import date

import pandas as pd

from tasks.options_trading_system.run_stamp import STEM_PATTERN, reserve_run_log, run_stamp, run_stem

STARTED = pd.Timestamp("2025-06-02T18:45:07Z")  # 14:45:07 in New York


def test_stamp_is_new_york_start_time_then_process_id() -> None:
    assert run_stamp(STARTED, pid=4321) == "144507-4321"
    assert run_stem(date(2025, 6, 2), "144507-4321") == "nq_analysis_20250602_144507-4321"
    assert STEM_PATTERN.match("nq_analysis_20250602_144507-4321")


def test_stems_of_later_starts_sort_after_earlier_ones() -> None:
    early = run_stem(date(2025, 6, 2), run_stamp(STARTED, pid=99999))
    late = run_stem(date(2025, 6, 2), run_stamp(STARTED + pd.Timedelta(seconds=1), pid=2))
    assert sorted([late, early]) == [early, late]


def test_a_second_reservation_in_the_same_second_and_process_gets_its_own_name(tmp_path) -> None:
    first = reserve_run_log(tmp_path / "logs", date(2025, 6, 2), STARTED, pid=7)
    second = reserve_run_log(tmp_path / "logs", date(2025, 6, 2), STARTED, pid=7)
    third = reserve_run_log(tmp_path / "logs", date(2025, 6, 2), STARTED, pid=7)
    assert [stamp for stamp, _ in (first, second, third)] == ["144507-7", "144507-7-2", "144507-7-3"]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        "nq_analysis_20250602_144507-7-2.log", "nq_analysis_20250602_144507-7-3.log", "nq_analysis_20250602_144507-7.log"]
    assert all(STEM_PATTERN.match(path.stem) for _, path in (first, second, third))
