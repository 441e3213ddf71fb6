"""Barchart's real quotes/get captures parse into the canonical chain: every contract, N/A as NaN
(never 0), numeric strikes, the C/P split of the groups, an expiration, and they pass the gate."""
from __future__ import annotations

import json
import math
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.data_ingestion.canonical import ORIGIN_PARITY, ORIGIN_SOURCE, validate_chain
from tasks.options_trading_system.data_ingestion.saved.barchart_format import (
    CAPTURE_FORMAT, NQ_MULTIPLIER, barchart_capture_document, parse_barchart_response)
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture
from tasks.options_trading_system.errors import DataSourceError, InputFileError

# file, expiration derived from its root (June 2025: Mondays 2, 9, ...; July 2025: 1st Monday is the 7th)
CAPTURES = [("barchart_api_MC6M5_20250602_141553.json", date(2025, 6, 2), "NQM25"),
            ("barchart_api_MC6N5_20250625_142402.json", date(2025, 7, 7), "NQU25")]


def _load(shared_data: Path, name: str) -> dict:
    return json.loads((shared_data / "barchart" / name).read_text())


def _rows(payload: dict) -> list[dict]:
    return [row for group in payload["data"].values() for row in group]


@pytest.mark.parametrize("name,expiration,underlying", CAPTURES)
def test_real_capture_parses_every_contract(shared_data: Path, name: str, expiration: date, underlying: str) -> None:
    payload = _load(shared_data, name)
    chain = read_capture(shared_data / "barchart" / name)
    frame = chain.frame
    assert len(frame) == payload["total"]
    assert (frame["right"] == "C").sum() == len(payload["data"]["Call"])
    assert (frame["right"] == "P").sum() == len(payload["data"]["Put"])
    assert frame["strike"].dtype == "float64"
    assert sorted(frame["strike"]) == sorted(float(r["raw"]["strike"]) for r in _rows(payload))
    assert (frame["expiration"] == pd.Timestamp(expiration)).all()
    assert chain.meta.underlying_symbol == underlying
    assert chain.meta.multiplier == NQ_MULTIPLIER == 20.0
    assert chain.meta.source == "barchart" and not chain.meta.is_sample
    assert chain.raw is not None and chain.raw.content == (shared_data / "barchart" / name).read_bytes()


@pytest.mark.parametrize("name", [c[0] for c in CAPTURES])
def test_nulls_and_na_become_nan_never_zero(shared_data: Path, name: str) -> None:
    payload = _load(shared_data, name)
    rows = _rows(payload)
    frame = read_capture(shared_data / "barchart" / name).frame
    null_volume = sum(r["raw"]["volume"] is None for r in rows)
    null_oi = sum(r["raw"]["openInterest"] is None for r in rows)
    assert null_volume > 0 and null_oi > 0  # the captures do have gaps
    assert frame["volume"].isna().sum() == null_volume
    assert frame["open_interest"].isna().sum() == null_oi
    # bid/ask: Barchart sends raw 0 under a displayed N/A; that is a missing quote, not a zero one
    na_bid = sum(r["bidPrice"] == "N/A" for r in rows)
    assert frame["bid"].isna().sum() == na_bid
    assert (frame["bid"] == 0).sum() == 0 and (frame["volume"] == 0).sum() == 0


def test_first_row_values_and_trade_time(shared_data: Path) -> None:
    # data.Call[0]: strike 14000, last 7534.38, volume/OI null, tradeTime 1748898060 = 2025-06-02 21:01:00 UTC
    frame = read_capture(shared_data / "barchart" / CAPTURES[0][0]).frame
    row = frame[frame["contract"] == "Q1AM5 C14000"].iloc[0]  # Barchart's MC6M5|14000C, in CME Globex terms
    assert (row["strike"], row["right"], row["last"], row["mark"]) == (14000.0, "C", 7534.38, 7534.38)
    assert math.isnan(row["volume"]) and math.isnan(row["open_interest"]) and math.isnan(row["bid"])
    assert row["source_ts"] == pd.Timestamp("2025-06-02T21:01:00Z")
    assert row["root"] == "Q1A"                               # the Globex product: Monday weekly, week 1


@pytest.mark.parametrize("name", [c[0] for c in CAPTURES])
def test_real_captures_pass_the_gate_with_parity_underlying(shared_data: Path, name: str) -> None:
    payload = _load(shared_data, name)
    chain = read_capture(shared_data / "barchart" / name)
    latest = max(r["raw"]["tradeTime"] for r in _rows(payload))
    assert chain.meta.as_of == pd.Timestamp(latest, unit="s", tz="UTC")
    assert math.isnan(chain.meta.underlying_price)  # the response carries no underlying quote
    valid = validate_chain(chain)
    assert len(valid.frame) == payload["total"] and valid.quarantine_counts() == {}
    assert valid.meta.underlying_price_origin == ORIGIN_PARITY
    assert 15000 < valid.meta.underlying_price < 25000


def test_sidecar_expiration_wins_over_the_root(shared_data: Path, tmp_path: Path) -> None:
    capture = tmp_path / "barchart_api_MC6N5_20250625_142402.json"
    shutil.copy(shared_data / "barchart" / capture.name, capture)
    (tmp_path / "barchart_api_MC6N5_20250625_142402_metadata.json").write_text(
        json.dumps({"symbol": "MC6N5", "expiration": "2025-06-30"}))
    chain = read_capture(capture)
    assert (chain.frame["expiration"] == pd.Timestamp("2025-06-30")).all()
    assert chain.meta.underlying_symbol == "NQU25"  # June 30 is after NQM25 expired (June 20)


def test_real_sidecar_without_expiration_leaves_the_root_rule(shared_data: Path) -> None:
    assert (shared_data / "barchart" / "barchart_api_MC6N5_20250625_142402_metadata.json").is_file()
    chain = read_capture(shared_data / "barchart" / CAPTURES[1][0])
    assert (chain.frame["expiration"] == pd.Timestamp("2025-07-07")).all()
    assert any("derived from the root" in note for note in chain.meta.notes)


def test_envelope_brings_capture_time_and_page_quote(shared_data: Path, tmp_path: Path) -> None:
    payload = _load(shared_data, CAPTURES[0][0])
    document = barchart_capture_document(payload, captured_at=pd.Timestamp("2025-06-02T21:15:53Z"),
                                         underlying_price=21534.38, underlying_symbol="NQM25")
    path = tmp_path / "capture.json"
    path.write_text(json.dumps(document))
    chain = read_capture(path)
    assert document["format"] == CAPTURE_FORMAT
    assert len(chain.frame) == 576
    assert chain.meta.as_of == pd.Timestamp("2025-06-02T21:15:53Z")
    valid = validate_chain(chain)
    assert valid.meta.underlying_price == 21534.38 and valid.meta.underlying_price_origin == ORIGIN_SOURCE


def test_unknown_root_without_stated_expiration_is_refused() -> None:
    payload = {"count": 1, "total": 1, "data": {"Call": [
        {"strike": "100.00C", "raw": {"strike": 100, "lastPrice": 1.5, "tradeTime": 1748898060,
                                      "optionType": "Call", "symbol": "ZZ9Q5|100C"}}]}}
    with pytest.raises(DataSourceError, match="cannot tell the expiration of option root 'ZZ9Q5'"):
        parse_barchart_response(payload)


def test_response_with_fewer_rows_than_total_says_so() -> None:
    payload = {"count": 1, "total": 3, "data": {"Put": [
        {"strike": "21,500.00P", "volume": "N/A",
         "raw": {"strike": 21500, "lastPrice": 80.0, "volume": None, "tradeTime": 1748898060,
                 "optionType": "Put", "symbol": "MQ1M5|21500P"}}]}}
    chain = parse_barchart_response(payload)
    assert len(chain.frame) == 1 and math.isnan(chain.frame["volume"].iloc[0])
    assert (chain.frame["expiration"] == pd.Timestamp("2025-06-06")).all()  # Friday week 1, June 2025
    assert any("holds 1 of the 3 contracts" in note for note in chain.meta.notes)


@pytest.mark.parametrize("content,expected", [
    (b'{"foo": 1}', "not a supported capture"),
    (b"[1, 2]", "not a supported capture"),
    (b"{not json", "not JSON"),
])
def test_files_in_no_known_format_name_the_file_and_what_was_expected(tmp_path: Path, content: bytes,
                                                                    expected: str) -> None:
    path = tmp_path / "mystery.json"
    path.write_bytes(content)
    with pytest.raises(InputFileError) as caught:
        read_capture(path)
    message = str(caught.value)
    assert str(path) in message and expected in message
    assert "quotes/get" in message and "nq-options-canonical/1" in message


def test_the_sidecar_itself_is_not_a_capture(shared_data: Path) -> None:
    with pytest.raises(InputFileError, match="not a supported capture"):
        read_capture(shared_data / "barchart" / "barchart_api_MC6N5_20250625_142402_metadata.json")


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="cannot read"):
        read_capture(tmp_path / "absent.json")


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
