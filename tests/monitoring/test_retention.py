"""Retention: the time series keeps exactly the last N days."""
from __future__ import annotations

import pandas as pd
import pytest

from tasks.options_trading_system.monitoring.retention import prune_older_than

NOW = pd.Timestamp("2025-06-30T12:00:00Z")


def test_samples_older_than_thirty_days_are_dropped_and_the_rest_keep_their_order() -> None:
    samples = [{"ts": "2025-05-31T11:59:59+00:00", "n": 1},   # 30 days and 1 second old: gone
               {"ts": "2025-05-31T12:00:00+00:00", "n": 2},   # exactly 30 days: kept
               {"ts": "2025-06-15T08:00:00-04:00", "n": 3},
               {"ts": "2025-06-30T12:00:00+00:00", "n": 4}]
    assert [s["n"] for s in prune_older_than(samples, NOW, 30)] == [2, 3, 4]


def test_a_shorter_retention_keeps_less() -> None:
    samples = [{"ts": f"2025-06-{day:02d}T12:00:00Z"} for day in range(1, 31)]
    assert len(prune_older_than(samples, NOW, 7)) == 8  # June 23..30


def test_unreadable_times_are_dropped_not_kept_forever() -> None:
    samples = [{"ts": "yesterday"}, {"ts": None}, {"ts": "2025-06-30T11:00:00Z"}]
    assert prune_older_than(samples, NOW, 30) == [{"ts": "2025-06-30T11:00:00Z"}]


def test_nothing_in_nothing_out() -> None:
    assert prune_older_than([], NOW, 30) == []


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
