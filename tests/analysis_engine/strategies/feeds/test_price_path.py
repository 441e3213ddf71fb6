"""The price path from the real recordings: the FirstRate NQ minute bars and Databento DBN files."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.feeds.price_path import load_price_path
from tasks.options_trading_system.errors import InputFileError


def test_the_real_nq_minute_bars_load_in_utc(shared_data: Path) -> None:
    bars = load_price_path(shared_data / "futures" / "NQ_1min_sample.csv", csv_timezone="America/New_York",
                           bar_seconds=60)
    assert len(bars) == 14714
    first = bars.to_frame().iloc[0]
    # 2023-11-19 18:00 US/Eastern (EST) = 23:00 UTC; O/H/L/C as in the file's first line
    assert first["start"] == pd.Timestamp("2023-11-19 23:00", tz="UTC")
    assert (first["open"], first["high"], first["low"], first["close"]) == (15895.00, 15903.75, 15888.00, 15893.25)


def test_the_market_price_at_a_decision_is_the_last_finished_bar(shared_data: Path) -> None:
    bars = load_price_path(shared_data / "futures" / "NQ_1min_sample.csv", csv_timezone="America/New_York",
                           bar_seconds=60)
    # at 18:02:30 New York the 18:01 bar has ended (close 15883.75), the 18:02 bar has not
    price, known_at = bars.last_close(pd.Timestamp("2023-11-19 23:02:30", tz="UTC"))
    assert price == 15883.75 and known_at == pd.Timestamp("2023-11-19 23:02", tz="UTC")
    assert pd.isna(bars.last_close(pd.Timestamp("2023-11-19 23:00", tz="UTC"))[0])   # nothing finished yet


def test_dbn_ohlcv_follows_the_nq_contract(shared_data: Path) -> None:
    path = shared_data / "databento" / "nautilus" / "historical_bars_catalog" / \
        "futures_ohlcv-1m_2024-07-01T23-40_2024-07-02T00-10.dbn.zst"
    bars = load_price_path(path, csv_timezone="UTC", bar_seconds=60, root="NQ")
    assert len(bars) == 30 and bars.close.min() > 15000   # NQU4, not ESU4 (around 5,500)


def test_dbn_trades_are_aggregated_to_bars(shared_data: Path) -> None:
    path = shared_data / "databento" / "nautilus" / "historical_bars_catalog" / \
        "futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst"
    bars = load_price_path(path, csv_timezone="UTC", bar_seconds=60, root="ES")
    frame = bars.to_frame()
    assert frame["start"].iloc[0] == pd.Timestamp("2024-07-01 23:58", tz="UTC")
    assert (frame["low"] <= frame["close"]).all() and (frame["close"] <= frame["high"]).all()
    with pytest.raises(InputFileError, match="no NQ contract in the file"):
        load_price_path(path, csv_timezone="UTC", bar_seconds=60, root="NQ")


def test_a_csv_without_prices_is_refused_by_column(tmp_path: Path) -> None:
    bad = tmp_path / "bars.csv"
    bad.write_text("timestamp,volume\n2023-11-20 09:30:00,5\n")
    with pytest.raises(InputFileError, match="missing column"):
        load_price_path(bad, csv_timezone="America/New_York", bar_seconds=60)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
