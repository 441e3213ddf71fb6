"""Instrument definitions: the real DBN definition files decode to the right strikes, rights,
expirations, underlyings and multipliers; options are chosen by their underlying future."""
from __future__ import annotations

from pathlib import Path

import databento as db
import databento_dbn
import pandas as pd
import pytest
import zstandard

from tasks.options_trading_system.data_ingestion.mbo.definitions import (definitions_from_ndarray,
                                                                             definitions_from_records, future_root,
                                                                             options_on)


def decode_file(path: Path) -> pd.DataFrame:
    return definitions_from_ndarray(db.DBNStore.from_file(path).to_ndarray(schema="definition"))


def test_es_options_of_the_options_catalog(shared_data: Path) -> None:
    defs = decode_file(shared_data / "databento/nautilus/options_catalog/options_definition.dbn.zst")
    rows = defs.set_index("raw_symbol")
    assert rows.loc["ESM4 P5230", ["strike", "right", "underlying", "multiplier"]].tolist() == [5230.0, "P", "ESM4", 50.0]
    assert rows.loc["ESM4 P5250", "strike"] == 5250.0
    assert rows.loc["ESM4 P5250", "expiration"] == pd.Timestamp("2024-06-21 13:30", tz="UTC")
    assert rows.loc["ESM4 P5250", "instrument_id"] == 4163986


def test_weekly_call_of_the_exercise_sample(shared_data: Path) -> None:
    defs = decode_file(shared_data / "databento/nautilus/options_exercise/options_definition.dbn.zst")
    row = defs.iloc[0]
    assert (row["raw_symbol"], row["root"], row["right"], row["strike"], row["underlying"]) == \
        ("EW2F6 C7000", "EW2", "C", 7000.0, "ESH6")


def test_futures_have_no_right_and_no_strike(shared_data: Path) -> None:
    defs = decode_file(shared_data / "databento/GLBX.MDP3/test_data.definition.dbn.zst")
    row = defs.iloc[0]
    assert (row["raw_symbol"], row["security_type"], row["right"], row["tick_size"]) == ("ESH1", "FUT", "", 0.25)
    assert pd.isna(row["strike"])


def test_opra_equity_option(shared_data: Path) -> None:
    defs = decode_file(shared_data / "databento/OPRA.PILLAR/test_data.definition.dbn.zst")
    assert defs[["right", "strike", "underlying"]].iloc[0].tolist() == ["C", 250.0, "AAPL"]


def v1_fragment_records(shared_data: Path) -> list:
    raw = zstandard.ZstdDecompressor().stream_reader(
        (shared_data / "databento/dbn/multi-frame.definition.v1.dbn.frag.zst").open("rb")).read()
    decoder = databento_dbn.DBNDecoder(has_metadata=False, input_version=1)
    decoder.write(raw)
    return decoder.decode()


def test_eight_real_options_of_the_v1_fragment_decode_from_record_objects(shared_data: Path) -> None:
    """The live path decodes InstrumentDefMsg objects; DBN v1 layouts included."""
    defs = definitions_from_records(v1_fragment_records(shared_data)).set_index("raw_symbol")
    assert len(defs) == 8
    expected = {"GEM3 P9812": ("P", 9812.5, "GEM3"), "ESH1 P2250": ("P", 2250.0, "ESH1"),
                "EX2F1 P3620": ("P", 3620.0, "MESH1"), "E2AF1 P3680": ("P", 3680.0, "ESH1"),
                "OZSN1 C1320": ("C", 1320.0, "ZSN1"), "1EUF1 C1230": ("C", 1.23, "6EH1")}
    for symbol, (right, strike, underlying) in expected.items():
        assert tuple(defs.loc[symbol, ["right", "strike", "underlying"]]) == (right, strike, underlying)
    assert defs.loc["EX2F1 P3620", "multiplier"] == 5.0  # micro E-mini weekly: $5 a point


def test_options_are_chosen_by_underlying_root_keeping_weekly_roots(shared_data: Path) -> None:
    defs = definitions_from_records(v1_fragment_records(shared_data))
    es = options_on(defs, "ES")
    assert sorted(es["raw_symbol"]) == ["E2AF1 P3680", "ESH1 P2250"]  # weekly E2A kept, MES options not
    assert len(options_on(defs, "")) == 8


def test_the_live_session_redefines_its_future_and_the_last_definition_wins(shared_data: Path) -> None:
    store = db.DBNStore.from_file(shared_data / "databento/LIVE/test_data.live.dbn.zst")
    records = [r for r in store if isinstance(r, databento_dbn.InstrumentDefMsg)]
    assert len(records) == 2
    defs = definitions_from_records(records)
    assert defs["raw_symbol"].tolist() == ["ESZ4"] and defs["right"].tolist() == [""]


@pytest.mark.parametrize("symbol, root", [("NQM5", "NQ"), ("MNQU25", "MNQ"), ("ESH4", "ES"), ("6EH1", "6E"),
                                          ("AAPL", "AAPL")])
def test_future_root(symbol: str, root: str) -> None:
    assert future_root(symbol) == root


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
