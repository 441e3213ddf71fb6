"""Baselines: the SQLite store keeps days (a re-run replaces a day), history is the last N days
before the analysed one, and mean / std / percentiles / quality count the quiet windows as zeros."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.ifd_v3.baselines import (BaselineStore, DayRecord, baseline_arrays,
                                                                           baseline_table, percentile, zscore)

NOW = pd.Timestamp("2025-06-02T21:00:00Z")


def day(d: date, nets: list[int], *, n_windows: int = 10, strike: float = 21500.0, right: str = "C") -> DayRecord:
    """A recorded day where (NQ, strike, right) traded in len(nets) windows with those |buy - sell|."""
    windows = pd.DataFrame({"underlying_root": "NQ", "strike": strike, "right": right,
                            "window_start": np.arange(len(nets), dtype=np.int64) * 300_000_000_000,
                            "buy": nets, "sell": [0] * len(nets), "unknown": 0, "trades": 1, "notional": 1000.0,
                            "net": nets})
    listed = pd.DataFrame({"underlying_root": ["NQ"], "strike": [strike], "right": [right]})
    return DayRecord(trade_date=d, n_windows=n_windows, window_s=300, source="test", listed=listed, windows=windows)


def test_store_records_days_and_a_rerun_replaces_the_day(tmp_path: Path) -> None:
    with BaselineStore(tmp_path / "b.sqlite") as store:
        store.record_day(day(date(2025, 5, 29), [4, 6]), recorded_at=NOW)
        store.record_day(day(date(2025, 5, 30), [1]), recorded_at=NOW)
        store.record_day(day(date(2025, 5, 30), [9, 9, 9]), recorded_at=NOW)
        assert store.recorded_days() == [date(2025, 5, 29), date(2025, 5, 30)]
        history = store.history(date(2025, 6, 2), 20, 300)
        assert sorted(history.windows["net"]) == [4, 6, 9, 9, 9]
    # the file survives the connection
    with BaselineStore(tmp_path / "b.sqlite") as store:
        assert len(store.recorded_days(300)) == 2
        assert store.recorded_days(60) == []


def test_history_is_the_last_n_days_strictly_before_the_day(tmp_path: Path) -> None:
    with BaselineStore(tmp_path / "b.sqlite") as store:
        for d in (date(2025, 5, 27), date(2025, 5, 28), date(2025, 5, 29), date(2025, 6, 2)):
            store.record_day(day(d, [1]), recorded_at=NOW)
        history = store.history(date(2025, 6, 2), 2, 300)
        assert sorted(history.days["trade_date"]) == ["2025-05-28", "2025-05-29"]


def test_moments_and_percentiles_include_the_windows_without_trades(tmp_path: Path) -> None:
    with BaselineStore(tmp_path / "b.sqlite") as store:
        store.record_day(day(date(2025, 5, 29), [4, 6], n_windows=10), recorded_at=NOW)
        store.record_day(day(date(2025, 5, 30), [10], n_windows=10), recorded_at=NOW)
        table = baseline_table(store.history(date(2025, 6, 2), 4, 300), lookback_days=4)
    row = table.iloc[0]
    # 20 windows: 17 zeros, 4, 6, 10 -> mean 20/20 = 1.0; E[x^2] = (16 + 36 + 100)/20 = 7.6 -> var 6.6
    assert (row["days"], row["windows"], row["mean"]) == (2, 20, 1.0)
    assert row["std"] == pytest.approx(np.sqrt(6.6))
    # p50: position 0.5 * 19 = 9.5 among sorted values -> both zeros -> 0
    # p90: position 17.1 -> between the 18th (4) and 19th (6) values: 4 + 0.1 * 2 = 4.2
    assert (row["p50"], row["p90"]) == (0.0, pytest.approx(4.2))
    # 2 of 4 lookback days recorded
    assert row["quality"] == 0.5
    assert row["values"].tolist() == [4.0, 6.0, 10.0]


def test_a_key_counts_only_the_days_it_was_listed(tmp_path: Path) -> None:
    with BaselineStore(tmp_path / "b.sqlite") as store:
        store.record_day(day(date(2025, 5, 29), [3], strike=21500.0), recorded_at=NOW)
        store.record_day(day(date(2025, 5, 30), [5], strike=21600.0), recorded_at=NOW)
        table = baseline_table(store.history(date(2025, 6, 2), 2, 300), lookback_days=2).set_index("strike")
    assert table.loc[21500.0, "days"] == 1 and table.loc[21500.0, "windows"] == 10
    assert table.loc[21600.0, "values"].tolist() == [5.0]


def test_kernel_z_score_and_percentile_per_instrument() -> None:
    table = pd.DataFrame({"underlying_root": ["NQ"], "strike": [21500.0], "right": ["C"], "days": [2],
                          "windows": [20], "mean": [1.0], "std": [np.sqrt(6.6)], "p50": [0.0], "p90": [4.2],
                          "p99": [9.24], "quality": [0.5], "values": [np.array([4.0, 6.0, 10.0])]})
    keys = pd.DataFrame({"inst": [1], "underlying_root": ["NQ"], "strike": [21500.0], "right": ["C"]})
    arrays = baseline_arrays(table, keys, n_instruments=3)
    # instrument 1: 17 zeros + 4 at or below 5 -> 18/20
    assert percentile(arrays, 1, 5.0) == 18 / 20
    assert percentile(arrays, 1, 10.0) == 1.0
    assert percentile(arrays, 1, 0.0) == 17 / 20
    assert zscore(arrays, 1, 11.0, 1.0) == pytest.approx(10.0 / np.sqrt(6.6))
    # a std below the floor is floored: (11 - 1) / 5
    assert zscore(arrays, 1, 11.0, 5.0) == pytest.approx(2.0)
    # instruments 0 and 2 have no history: missing, not zero
    assert np.isnan(zscore(arrays, 0, 11.0, 1.0)) and np.isnan(percentile(arrays, 2, 11.0))
    assert arrays.quality.tolist() == [0.0, 0.5, 0.0]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
