"""The raw input kept under api_data/: as received, except that sample data always stays flagged,
so the saved source never replays the sample as if it were the market."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tasks.options_trading_system.data_ingestion.canonical import RawCapture
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture
from tasks.options_trading_system.data_ingestion.saved.snapshot_format import snapshot_text
from tasks.options_trading_system.output_generation.daily_report import write_daily_outputs
from tasks.options_trading_system.output_generation.raw_input import raw_copy, safe_filename
from tests.conftest import make_chain

ROWS = [{"contract": "C21500", "expiration": "2025-06-06", "strike": 21500, "right": "C", "bid": 184.5,
         "ask": 185.5, "open_interest": 10},
        {"contract": "P21500", "expiration": "2025-06-06", "strike": 21500, "right": "P", "bid": 184.5,
         "ask": 185.5, "open_interest": 12}]


def _chain(*, is_sample: bool, raw: RawCapture | None):
    chain = make_chain(ROWS, underlying=21500.0, source="saved")
    return dataclasses.replace(chain, raw=raw, meta=dataclasses.replace(chain.meta, is_sample=is_sample))


def test_market_capture_is_kept_byte_for_byte() -> None:
    raw = RawCapture(content=b'{"total": 2, "data": {"Call": [], "Put": []}}', filename="barchart_api_X.json")
    copy = raw_copy(_chain(is_sample=False, raw=raw))
    assert (copy.filename, copy.content) == ("barchart_api_X.json", raw.content)


def test_no_raw_capture_means_nothing_to_keep() -> None:
    assert raw_copy(_chain(is_sample=False, raw=None)) is None


def test_flagged_sample_snapshot_is_kept_as_is() -> None:
    flagged = snapshot_text(_chain(is_sample=True, raw=None)).encode("utf-8")
    copy = raw_copy(_chain(is_sample=True, raw=RawCapture(flagged, "nq_options_sample.json")))
    assert copy.content == flagged


def test_unflagged_sample_snapshot_is_saved_flagged(tmp_path: Path) -> None:
    unflagged = snapshot_text(_chain(is_sample=False, raw=None)).encode("utf-8")
    copy = raw_copy(_chain(is_sample=True, raw=RawCapture(unflagged, "sample.json")))
    path = tmp_path / copy.filename
    path.write_bytes(copy.content)
    replayed = read_capture(path)
    assert replayed.meta.is_sample is True
    assert len(replayed.frame) == 2


def test_sample_in_a_format_without_the_flag_is_saved_as_a_flagged_snapshot(tmp_path: Path) -> None:
    response = b'{"count": 2, "total": 2, "data": {"Call": [], "Put": []}}'  # Barchart shape: no is_sample field
    copy = raw_copy(_chain(is_sample=True, raw=RawCapture(response, "barchart_api_MC6M5.json")))
    assert copy.filename == "barchart_api_MC6M5_sample_snapshot.json"
    path = tmp_path / copy.filename
    path.write_bytes(copy.content)
    assert read_capture(path).meta.is_sample is True


def test_bundled_sample_served_by_the_saved_source_stays_sample_when_replayed(make_result, tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "data" / "sample" / "nq_options_sample.json"
    result = make_result(is_sample=True, raw=RawCapture(sample.read_bytes(), sample.name))
    outputs = write_daily_outputs(result, tmp_path / "20250602")
    assert outputs.raw_input.read_bytes() == sample.read_bytes()
    assert json.loads(outputs.raw_input.read_bytes())["meta"]["is_sample"] is True
    assert read_capture(outputs.raw_input).meta.is_sample is True


@pytest.mark.parametrize("given, kept", [
    ("barchart_api_MC6M5_20250602_141553.json", "barchart_api_MC6M5_20250602_141553.json"),
    ("../../etc/passwd", "passwd"),
    ("C:\\captures\\x.json", "x.json"),
    (".hidden.json", "raw_input.json"),
    ("", "raw_input.json"),
])
def test_file_names_never_leave_api_data(given: str, kept: str) -> None:
    assert safe_filename(given) == kept


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
