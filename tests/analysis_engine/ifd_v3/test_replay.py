"""IFD v3.0 over whole files: the planted episodes of the sample day are found (precision and
recall printed, both at least 0.8), replay and one-record-at-a-time streaming agree exactly, and
the baseline store is fed from earlier days."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.ifd_v3.baselines import BaselineStore
from dataclasses import replace

from tasks.options_trading_system.analysis_engine.ifd_v3.config import CapacityConfig, IFDv3Config
from tasks.options_trading_system.analysis_engine.ifd_v3.replay import (baselines_for, file_day_record,
                                                                        record_history, replay_file, stream_file)
from tasks.options_trading_system.sample_data.mbo import KIND_INSTITUTIONAL, match_signals

NOW = pd.Timestamp("2025-06-02T21:00:00Z")


@pytest.fixture(scope="module")
def baseline_table(sample_set: Any, ifd_config: IFDv3Config, tmp_path_factory: pytest.TempPathFactory
                   ) -> pd.DataFrame:
    with BaselineStore(tmp_path_factory.mktemp("store") / "b.sqlite") as store:
        added = record_history(store, [sample_set.history_pattern], before=sample_set.trade_date, config=ifd_config,
                               recorded_at=NOW)
        assert len(added) == sample_set.history_days  # the sample day itself is not history
        return baselines_for(store, sample_set.trade_date, ifd_config)


def test_planted_episodes_are_found_with_precision_and_recall_of_at_least_0_8(
        sample_set: Any, ifd_config: IFDv3Config, baseline_table: pd.DataFrame) -> None:
    result = replay_file(sample_set.day.path, ifd_config, baselines=baseline_table)
    score = match_signals(result.signals, sample_set.day.episodes, tolerance_s=ifd_config.window.window_s)
    print(f"\nIFD v3.0 on the sample day: {score['signals']} signals, {score['episodes_found']} of "
          f"{score['episodes']} planted episodes found; precision {score['precision']:.2f}, "
          f"recall {score['recall']:.2f}; {score['straddle_signals']} signals on straddle decoys")
    assert score["episodes"] == sum(e.kind == KIND_INSTITUTIONAL for e in sample_set.day.episodes) == 6
    assert score["precision"] >= 0.8
    assert score["recall"] >= 0.8
    assert score["straddle_signals"] == 0
    assert (result.signals["baseline_days"] == sample_set.history_days).all()


def test_the_sample_day_books_never_cross_and_nothing_is_anomalous(sample_set: Any,
                                                                   ifd_config: IFDv3Config) -> None:
    stats = replay_file(sample_set.day.path, ifd_config).stats
    assert stats["events"] == sample_set.day.records
    assert stats["book_consistency"]["checks_at_f_last"] > 0 and stats["book_consistency"]["crossed"] == 0
    assert all(v == 0 for v in stats["anomalies"].values()), stats["anomalies"]
    assert stats["options_scored"] == 82


def test_streaming_one_record_at_a_time_gives_the_replay_signals(
        sample_set: Any, ifd_config: IFDv3Config, baseline_table: pd.DataFrame) -> None:
    replayed = replay_file(sample_set.day.path, ifd_config, baselines=baseline_table, chunk_events=997)
    streamed = stream_file(sample_set.day.path, ifd_config, baselines=baseline_table)
    assert len(replayed.signals) >= 6
    pd.testing.assert_frame_equal(streamed.signals(), replayed.signals)
    assert streamed.stats()["counts"] == replayed.stats["counts"]


def test_streaming_with_tiny_tables_grows_them_mid_stream_and_still_gives_the_replay_signals(
        sample_set: Any, ifd_config: IFDv3Config, baseline_table: pd.DataFrame) -> None:
    """Every table starts too small, so the streaming kernel stops, the engine grows the table and
    the buffered records resume where they stopped: nothing lost, nothing run twice."""
    tiny = replace(ifd_config, capacity=CapacityConfig(orders=16, levels=16, instruments=2, signals=1))
    replayed = replay_file(sample_set.day.path, ifd_config, baselines=baseline_table)
    streamed = stream_file(sample_set.day.path, tiny, baselines=baseline_table)
    assert streamed.capacity > 2  # the instrument table did grow
    pd.testing.assert_frame_equal(streamed.signals(), replayed.signals)
    assert streamed.stats()["counts"] == replayed.stats["counts"]
    pd.testing.assert_frame_equal(streamed.top_of_book(), replayed.engine.top_of_book())


def test_chunk_size_does_not_change_the_signals(sample_set: Any, ifd_config: IFDv3Config,
                                                baseline_table: pd.DataFrame) -> None:
    whole = replay_file(sample_set.day.path, ifd_config, baselines=baseline_table)
    small = replay_file(sample_set.day.path, ifd_config, baselines=baseline_table, chunk_events=1000)
    pd.testing.assert_frame_equal(whole.signals, small.signals)


def test_day_record_counts_windows_per_strike_and_right(sample_set: Any, ifd_config: IFDv3Config) -> None:
    record = file_day_record(sample_set.history[0].path, ifd_config)
    assert record.trade_date < sample_set.trade_date
    assert len(record.listed) == 82  # 41 strikes x call/put
    # the session spans 13:30-20:00 UTC: at most 79 five-minute windows (plus the snapshot's)
    assert 60 <= record.n_windows <= 80
    assert (record.windows["net"] == (record.windows["buy"] - record.windows["sell"]).abs()).all()
    assert record.windows["buy"].sum() + record.windows["sell"].sum() > 0


def test_history_is_recorded_once(sample_set: Any, ifd_config: IFDv3Config, tmp_path: Path) -> None:
    with BaselineStore(tmp_path / "b.sqlite") as store:
        first = record_history(store, [sample_set.history_pattern], before=sample_set.trade_date, config=ifd_config,
                               recorded_at=NOW)
        again = record_history(store, [sample_set.history_pattern], before=sample_set.trade_date, config=ifd_config,
                               recorded_at=NOW)
        assert len(first) == sample_set.history_days and again == []


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q", "-s"]))
