"""Real Databento recordings read as ticks of one future."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.options_trading_system.data_ingestion.ticks.dbn_ticks import read_ticks
from tasks.options_trading_system.errors import InputFileError


def test_real_esu4_trades_read_in_exchange_time_and_index_points(shared_data):
    ticks = read_ticks(shared_data / "databento/nautilus/historical_bars_catalog/"
                                    "futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst")
    assert ticks.symbol == "ESU4" and ticks.instrument_id == 118
    assert len(ticks) == 120 and ticks.quarantined == 0
    assert ticks.price[0] == 5528.75 and ticks.size[0] == 2
    assert np.all(np.diff(ticks.ts_ns) >= 0)
    assert set(ticks.side.tolist()) <= {b"A", b"B", b"N"}


def test_mbp1_keeps_only_the_trade_records(shared_data):
    ticks = read_ticks(shared_data / "databento/GLBX.MDP3/test_data.mbp-1.dbn.zst")
    assert len(ticks) == 0  # the four records are book updates (action A), not trades


def test_trades_schema_of_the_glbx_fixture(shared_data):
    ticks = read_ticks(shared_data / "databento/GLBX.MDP3/test_data.trades.dbn.zst")
    assert len(ticks) == 4 and ticks.price[0] == 3702.75


def test_a_file_of_another_schema_is_refused_by_name(shared_data):
    with pytest.raises(InputFileError, match="holds ohlcv-1m records, expected one of trades"):
        read_ticks(shared_data / "databento/GLBX.MDP3/test_data.ohlcv-1m.dbn.zst")


def test_an_unknown_symbol_is_refused_listing_the_file_s(shared_data):
    with pytest.raises(InputFileError, match="no symbol 'NQU4'; it holds ESU4"):
        read_ticks(shared_data / "databento/nautilus/historical_bars_catalog/"
                                 "futures_trades_2024-07-01T23-58_2024-07-02T00-02.dbn.zst", symbol="NQU4")
