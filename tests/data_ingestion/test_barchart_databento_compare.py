"""scripts/compare_barchart_databento.py: coverage, per-strike OI/volume differences, mark differences and
the verdict, worked out by hand on small chains; then the command on real Barchart data vs a Databento
snapshot that differs on purpose, writing JSON + escaped HTML under outputs/YYYYMMDD/reports/."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too

from tasks.options_trading_system.data_ingestion.canonical import (ChainMeta, OptionsChain,  # noqa: E402
                                                                   build_chain_frame, validate_chain)
from tasks.options_trading_system.data_ingestion.saved.formats import read_capture  # noqa: E402
from tasks.options_trading_system.data_ingestion.saved.snapshot_format import write_snapshot  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_barchart_databento.py"
spec = importlib.util.spec_from_file_location("compare_barchart_databento", SCRIPT)
compare = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = compare  # dataclasses look their module up
spec.loader.exec_module(compare)  # type: ignore[union-attr]


def chain(source: str, rows: list[tuple[float, str, float, float, float | None]], *, expiration: str = "2025-06-06",
          underlying: float = 21480.0) -> OptionsChain:
    """Rows of (strike, right, mark, volume, open interest); bid = ask = mark so the mark is exact."""
    frame = build_chain_frame({
        "contract": [f"{source}{k:g}{r}" for k, r, *_ in rows], "root": ["NQ"] * len(rows),
        "expiration": [expiration] * len(rows), "strike": [k for k, *_ in rows], "right": [r for _, r, *_ in rows],
        "bid": [m for *_, m, _, _ in rows], "ask": [m for *_, m, _, _ in rows],
        "volume": [v for *_, v, _ in rows], "open_interest": [oi for *_, oi in rows]})
    meta = ChainMeta(underlying_symbol="NQM25", source=source, as_of=pd.Timestamp("2025-06-02T14:00Z"),
                     multiplier=20.0, underlying_price=underlying)
    return OptionsChain(frame=frame, meta=meta)


BARCHART = chain("barchart", [(21400, "C", 110.0, 5, 40), (21400, "P", 30.0, 7, 60),
                              (21500, "C", 50.5, 20, 100), (21500, "P", 70.0, 10, 80)])
DATABENTO = chain("databento", [(21500, "C", 51.0, 20, 150), (21500, "P", 70.0, 12, 80),
                                (21600, "C", 20.0, 3, None), (21600, "P", 140.0, 1, 9)], underlying=21481.5)


def test_coverage_per_strike_differences_and_marks_worked_by_hand() -> None:
    result = compare.compare_chains(BARCHART, DATABENTO, compare.Thresholds())
    cov = result.coverage
    assert (cov["contracts_in_both"], cov["only_barchart"], cov["only_databento"]) == (2, 2, 2)
    assert cov["share_in_both"] == pytest.approx(2 / 6)
    assert (cov["strikes_only_barchart"], cov["strikes_only_databento"]) == ([21400.0], [21600.0])
    (row,) = result.per_strike.to_dict(orient="records")          # only 21,500 is in both
    assert (row["oi_barchart"], row["oi_databento"], row["oi_diff"]) == (180.0, 230.0, 50.0)  # 100+80 vs 150+80
    assert row["oi_rel_diff"] == pytest.approx(50 / 230)
    assert (row["volume_barchart"], row["volume_databento"], row["volume_diff"]) == (30.0, 32.0, 2.0)
    diffs = dict(zip(result.prices["right"], result.prices["diff"]))
    assert diffs == {"C": pytest.approx(0.5), "P": 0.0}
    assert result.summary["underlying_diff"] == pytest.approx(1.5)
    assert result.summary["price_agreement"] == 0.5 and result.summary["oi_agreement"] == 0.0
    assert result.verdict == "disagree"
    assert result.reasons == ["only 33% of contracts are in both (want 90%)",
                              "open interest within 5% at 0% of strikes (want 90%)",
                              "marks within 0.25 points for 50% of contracts (want 90%)"]


def test_missing_open_interest_is_not_a_difference_of_zero() -> None:
    a = chain("barchart", [(21600, "C", 20.0, 3, None), (21600, "P", 140.0, 1, None)])
    b = chain("databento", [(21600, "C", 20.0, 3, 12), (21600, "P", 140.0, 1, 9)])
    result = compare.compare_chains(a, b, compare.Thresholds())
    assert np.isnan(result.per_strike.loc[0, "oi_barchart"]) and np.isnan(result.per_strike.loc[0, "oi_rel_diff"])
    assert result.summary["oi_agreement"] is None
    assert "open interest is missing in one source for every common strike" in result.reasons


def test_identical_chains_agree_and_different_expirations_do_not_overlap() -> None:
    assert compare.compare_chains(BARCHART, BARCHART, compare.Thresholds()).verdict == "agree"
    later = chain("databento", [(21500, "C", 51.0, 20, 150)], expiration="2025-06-13")
    result = compare.compare_chains(BARCHART, later, compare.Thresholds())
    assert (result.verdict, result.reasons) == ("no overlap", ["no expiration in common"])


def test_command_writes_json_and_escaped_html_for_real_barchart_data(shared_data: Path, tmp_path: Path) -> None:
    barchart = validate_chain(read_capture(shared_data / "barchart" / "barchart_api_MC6M5_20250602_141553.json"))
    frame = barchart.frame.copy()
    frame.loc[frame["strike"] == 21500, "open_interest"] *= 2        # Databento "sees" double OI at 21,500
    frame = frame[frame["strike"] != 14000]                          # and lacks the 14,000 strike
    databento = dataclasses.replace(barchart, frame=frame.reset_index(drop=True),
                                    meta=dataclasses.replace(barchart.meta, source="databento"))
    odd_name = tmp_path / "<b>databento</b>.json"
    write_snapshot(databento, odd_name)
    out = tmp_path / "outputs"
    code = compare.main(["--date", "2025-06-02", "--output-dir", str(out), "--databento-file", str(odd_name),
                         "--barchart-file", str(shared_data / "barchart" / "barchart_api_MC6M5_20250602_141553.json")])
    assert code == 0
    (json_path,) = (out / "20250602" / "reports").glob("compare_barchart_databento_*.json")
    document = json.loads(json_path.read_text())
    assert document["coverage"]["only_barchart"] == 2 and document["coverage"]["strikes_only_barchart"] == [14000.0]
    doubled = [r for r in document["per_strike"] if r["strike"] == 21500.0]
    assert doubled[0]["oi_diff"] == doubled[0]["oi_barchart"] and doubled[0]["oi_rel_diff"] == 0.5
    assert document["summary"]["price_agreement"] == 1.0
    html = json_path.with_suffix(".html").read_text()
    assert "&lt;b&gt;databento&lt;/b&gt;" in html and "<b>databento</b>" not in html
    assert f"Verdict: {document['verdict']}" in html


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
