"""Bad numbers in a chain: values beyond sane bounds, non-finite or non-numeric values are
quarantined with a reason and counted (never a crash, never silently NaN); a chain above
max_contracts is refused before it is all parsed, with bounded memory."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from tasks.options_trading_system.data_ingestion.canonical import (REASON_NON_FINITE, REASON_OI_BOUND,
                                                                   REASON_PRICE_ABSURD, REASON_VOLUME_BOUND,
                                                                   ChainBounds, validate_chain)
from tasks.options_trading_system.data_ingestion.saved.barchart_format import parse_barchart_response
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture
from tasks.options_trading_system.errors import DataSourceError, InputFileError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLE = PROJECT_ROOT / "data" / "sample" / "nq_options_sample.json"


def sample_with(tmp_path: Path, changes: dict[int, dict]) -> Path:
    """The bundled sample snapshot with some contracts' fields replaced."""
    document = json.loads(SAMPLE.read_text())
    for index, fields in changes.items():
        document["contracts"][index].update(fields)
    path = tmp_path / "chain.json"
    path.write_text(json.dumps(document))
    return path


def test_absurd_open_interest_volume_and_prices_are_quarantined_with_their_reason(tmp_path: Path) -> None:
    path = sample_with(tmp_path, {3: {"open_interest": 1e308}, 4: {"volume": 2e7}, 5: {"bid": 1e6, "ask": 1.1e6},
                                  6: {"open_interest": float("inf")}})
    chain = validate_chain(read_capture(path))
    assert chain.quarantine_counts() == {REASON_OI_BOUND: 1, REASON_VOLUME_BOUND: 1, REASON_PRICE_ABSURD: 1,
                                         REASON_NON_FINITE: 1}
    assert len(chain.frame) == 1432 - 4 and chain.frame["open_interest"].max() <= 10_000_000


def test_a_non_numeric_open_interest_is_quarantined_by_name_not_silently_nan(tmp_path: Path) -> None:
    path = sample_with(tmp_path, {7: {"open_interest": "lots"}, 8: {"volume": True}})
    chain = validate_chain(read_capture(path))
    assert chain.quarantine_counts() == {"non-numeric open_interest": 1, "non-numeric volume": 1}
    assert set(chain.quarantine["contract"]) == {json.loads(SAMPLE.read_text())["contracts"][i]["contract"]
                                                 for i in (7, 8)}


def test_the_bounds_come_from_the_profile_setting(tmp_path: Path) -> None:
    path = sample_with(tmp_path, {3: {"open_interest": 5000}})
    tight = ChainBounds.from_section({"max_open_interest": 4000})
    assert validate_chain(read_capture(path), tight).quarantine_counts().get(REASON_OI_BOUND, 0) >= 1
    assert REASON_OI_BOUND not in validate_chain(read_capture(path)).quarantine_counts()


def test_1e308_open_interest_no_longer_crashes_a_run(tmp_path: Path) -> None:
    # it used to end in exit 1 with nothing written (dollars at risk overflowed to inf)
    path = sample_with(tmp_path, {3: {"open_interest": 1e308}, 9: {"open_interest": "lots"}})
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), "--profile", "testing",
                             "--input", str(path), "--output-dir", str(out), "--date", "2025-06-02"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    export = json.loads(next((out / "20250602" / "analysis_exports").glob("*.json")).read_text())
    assert export["chain"]["quarantined"]["total"] == 2
    assert "2 quarantined" in result.stdout


def barchart_rows(n: int) -> dict:
    row = {"symbol": "MC6M5|21500C", "strike": "21,500.00C", "raw": {"symbol": "MC6M5|21500C", "strike": 21500.0,
                                                                         "optionType": "Call", "openInterest": 5}}
    return {"count": 1, "total": n, "data": {"Call": [copy.deepcopy(row) for _ in range(min(n, 10))]}}


def test_a_barchart_response_reporting_too_many_contracts_is_refused_before_parsing() -> None:
    with pytest.raises(DataSourceError, match=r"576,000 contracts \(the response's total\) is more than "
                                              r"max_contracts 50,000") as info:
        parse_barchart_response(barchart_rows(576_000))
    assert info.value.code == "TOO_LARGE"
    with pytest.raises(DataSourceError, match="rows in the response"):
        parse_barchart_response({**barchart_rows(10), "total": None}, bounds=ChainBounds(max_contracts=5))


def test_a_576000_row_capture_file_is_refused_before_it_is_read_with_bounded_memory(tmp_path: Path) -> None:
    # it used to be accepted and take 2.4 GB; the file's size alone says it cannot fit max_contracts
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:          # a sparse file: the size of 576,000 rows, nothing written
        handle.truncate(576_000 * 700)
    tracemalloc.start()
    try:
        with pytest.raises(InputFileError, match="refused before reading"):
            read_capture(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_a_snapshot_with_more_contracts_than_max_contracts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match=r"1,432 contracts \(in the snapshot\) is more than max_contracts 1,000"):
        read_capture(SAMPLE, ChainBounds(max_contracts=1000))
