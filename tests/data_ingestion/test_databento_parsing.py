"""Databento DBN decoding on the real recordings in ../shared/data/databento: 1e-9 prices, UNDEF as
NaN, contract size from the definition, open interest from statistics, options chosen by underlying."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import databento
import databento_dbn
import numpy as np
import pandas as pd
import pytest
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too

from tasks.options_trading_system.data_ingestion.databento import parsing  # noqa: E402

ES_FUTURES = r"^ES[FGHJKMNQUVXZ][0-9]{1,2}$"


def frame(path: Path) -> pd.DataFrame:
    return parsing.records_frame(databento.DBNStore.from_bytes(path.read_bytes()).to_ndarray())


def test_glbx_future_definition_has_no_strike_and_a_contract_size_of_50(shared_data: Path) -> None:
    defs = parsing.definitions(frame(shared_data / "databento/GLBX.MDP3/test_data.definition.dbn.zst"))
    (row,) = defs.itertuples()
    assert (row.raw_symbol, row.instrument_class, row.asset) == ("ESH1", "F", "ES")
    assert np.isnan(row.strike)                      # UNDEF_PRICE, not 9.2e9
    assert row.multiplier == 50.0                    # unit_of_measure_qty 50e9 in 1e-9 units
    assert row.expiration == pd.Timestamp("2021-03-19 13:30", tz="UTC")


def test_prices_are_scaled_by_1e9_and_undefined_ones_are_nan() -> None:
    raw = np.array([3702250000000, databento_dbn.UNDEF_PRICE, 250000000, -1_500_000_000], dtype="int64")
    assert parsing.scale_price(raw)[[0, 2, 3]].tolist() == [3702.25, 0.25, -1.5]
    assert np.isnan(parsing.scale_price(raw)[1])
    assert np.isnan(parsing.undefined_quantity_to_nan(np.array([2**31 - 1], dtype="int32"))[0])  # DBN v1/v2
    assert np.isnan(parsing.undefined_quantity_to_nan(np.array([2**63 - 1], dtype="int64"))[0])  # DBN v3
    assert parsing.undefined_quantity_to_nan(np.array([57924], dtype="int64"))[0] == 57924.0


def test_glbx_trades_and_bbo_give_volume_last_and_the_top_of_book(shared_data: Path) -> None:
    # the four recorded ESH1 trades: 1 lot each at 3702.75, 3702.75, 3702.50, 3702.75 (in time order)
    out = parsing.volume_and_last(frame(shared_data / "databento/GLBX.MDP3/test_data.trades.dbn.zst"), "trades")
    assert (out.loc[5482, "volume"], out.loc[5482, "last"]) == (4.0, 3702.75)
    assert out.loc[5482, "source_ts"] == pd.Timestamp(1609113600721335895, unit="ns", tz="UTC")
    # four 1-minute BBOs; the last (ts_recv 00:03 UTC) is 3704.25 / 3704.75
    bbo = parsing.last_quotes(frame(shared_data / "databento/GLBX.MDP3/test_data.bbo-1m.dbn.zst")).loc[5482]
    assert (bbo["bid"], bbo["ask"]) == (3704.25, 3704.75)
    daily = parsing.volume_and_last(frame(shared_data / "databento/GLBX.MDP3/test_data.ohlcv-1d.dbn.zst"), "ohlcv-1d")
    assert (daily.loc[5482, "volume"], daily.loc[5482, "last"]) == (718174.0, 3735.0)


def test_opra_option_definition_and_open_interest_statistic(shared_data: Path) -> None:
    defs = parsing.definitions(frame(shared_data / "databento/OPRA.PILLAR/test_data.definition.dbn.zst"))
    (row,) = defs.itertuples()
    assert (row.raw_symbol.replace(" ", ""), row.instrument_class, row.strike) == ("AAPL250221C00250000", "C", 250.0)
    oi = parsing.open_interest(frame(shared_data / "databento/OPRA.PILLAR/test_data.statistics.dbn.zst"))
    assert oi.loc[row.instrument_id] == 57924.0     # stat_type 9 = OPEN_INTEREST, quantity 57924


def test_glbx_statistics_without_open_interest_give_none(shared_data: Path) -> None:
    # the ESH1 statistics recording holds settlement/high-low kinds (5, 8), no OPEN_INTEREST (9)
    oi = parsing.open_interest(frame(shared_data / "databento/GLBX.MDP3/test_data.statistics.dbn.zst"))
    assert oi.empty


def test_options_are_selected_by_underlying_so_weeklies_under_other_codes_are_kept(shared_data: Path) -> None:
    """Eight real GLBX option definitions (DBN v1, no header): ES quarterly (asset ES) and a Monday weekly
    (asset E2A) on ESH1 are kept; the micro (MESH1), eurodollar, gold, ... are not."""
    with (shared_data / "databento/dbn/multi-frame.definition.v1.dbn.frag.zst").open("rb") as handle:
        raw = zstandard.ZstdDecompressor().stream_reader(handle).read()
    decoder = databento_dbn.DBNDecoder(has_metadata=False, input_version=1)
    decoder.write(raw)
    records = decoder.decode()
    metadata = databento_dbn.Metadata(dataset="GLBX.MDP3", start=0, stype_in=databento_dbn.SType.RAW_SYMBOL,
                                      stype_out=databento_dbn.SType.INSTRUMENT_ID,
                                      schema=databento_dbn.Schema.DEFINITION, symbols=[], end=10**18)
    store = databento.DBNStore.from_bytes(bytes(metadata) + b"".join(bytes(r) for r in records))
    defs = parsing.definitions(parsing.records_frame(store.to_ndarray()))
    assert len(defs) == 8
    chosen = parsing.select_options(defs, underlying_pattern=ES_FUTURES, trade_date=date(2021, 1, 4),
                                    max_days_to_expiration=90)
    assert sorted(zip(chosen["asset"], chosen["raw_symbol"], chosen["strike"])) == [
        ("E2A", "E2AF1 P3680", 3680.0), ("ES", "ESH1 P2250", 2250.0)]
    assert set(chosen["underlying"]) == {"ESH1"} and set(chosen["multiplier"]) == {50.0}


def test_weekly_option_on_another_product_code_points_at_its_future(shared_data: Path) -> None:
    defs = parsing.definitions(frame(shared_data / "databento/nautilus/options_exercise/options_definition.dbn.zst"))
    chosen = parsing.select_options(defs, underlying_pattern=ES_FUTURES, trade_date=date(2026, 1, 5),
                                    max_days_to_expiration=14)
    assert chosen[["asset", "underlying", "strike", "instrument_class"]].values.tolist() == [["EW2", "ESH6", 7000.0, "C"]]
    assert chosen["expiration_date"].tolist() == [date(2026, 1, 9)]


def test_horizon_and_front_underlying_limit_the_chain(shared_data: Path) -> None:
    defs = parsing.definitions(frame(shared_data / "databento/nautilus/options_catalog/options_definition.dbn.zst"))
    assert sorted(defs["strike"]) == [5230.0, 5250.0]            # ESM4 puts expiring 2024-06-21
    inside = parsing.select_options(defs, underlying_pattern=ES_FUTURES, trade_date=date(2024, 5, 9),
                                    max_days_to_expiration=60)
    outside = parsing.select_options(defs, underlying_pattern=ES_FUTURES, trade_date=date(2024, 5, 9),
                                     max_days_to_expiration=30)
    assert len(inside) == 2 and outside.empty


def test_build_chain_leaves_missing_data_missing() -> None:
    options = pd.DataFrame({"instrument_id": [1, 2], "raw_symbol": ["Q1AM5 C21500", "Q1AM5 P21500"],
                            "asset": ["Q1A", "Q1A"], "instrument_class": ["C", "P"], "strike": [21500.0, 21500.0],
                            "expiration": pd.to_datetime(["2025-06-02 20:00"] * 2, utc=True),
                            "underlying": ["NQM5", "NQM5"], "multiplier": [20.0, 20.0],
                            "expiration_date": [date(2025, 6, 2)] * 2})
    oi = pd.Series({1: 300.0}, name="open_interest")
    trades = pd.DataFrame({"volume": [7.0], "last": [12.5],
                           "source_ts": pd.to_datetime(["2025-06-02 14:05"], utc=True)}, index=pd.Index([2]))
    quotes = pd.DataFrame({"bid": [8.0], "ask": [9.0]}, index=pd.Index([1]))
    chain = parsing.build_chain(options, oi, trades, quotes, underlying_symbol="NQM5", underlying_price=21480.0,
                                as_of=pd.Timestamp("2025-06-02 14:30", tz="UTC"), fallback_multiplier=20.0)
    call, put = chain.frame.iloc[0], chain.frame.iloc[1]
    assert (call["bid"], call["ask"], call["mark"], call["open_interest"]) == (8.0, 9.0, 8.5, 300.0)
    assert np.isnan(call["volume"]) and np.isnan(call["last"])        # no trade seen: missing, not 0
    assert (put["volume"], put["last"], put["mark"]) == (7.0, 12.5, 12.5)  # no quote: mark is the last
    assert np.isnan(put["open_interest"]) and np.isnan(put["bid"])
    assert put["source_ts"] == pd.Timestamp("2025-06-02 14:05", tz="UTC")
    assert chain.meta.multiplier == 20.0 and chain.meta.underlying_price == 21480.0


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
