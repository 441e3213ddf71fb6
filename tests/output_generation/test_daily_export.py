"""The daily export: a real pipeline run written as schema-valid JSON, refusals that write nothing,
stages left out of a profile reported as not run, the raw input kept (or not) as configured.

The chain and its hand-worked figures are in tests/output_generation/conftest.py.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest

from tasks.options_trading_system.data_ingestion.canonical import RawCapture
from tasks.options_trading_system.errors import OutputValidationError
from tasks.options_trading_system.output_generation.daily_export import SCHEMA_PATH
from tasks.options_trading_system.output_generation.daily_report import write_daily_outputs

STEM = "nq_analysis_20250602_144507-4242"  # started 18:45:07 UTC = 14:45:07 New York (EDT), process 4242


def _schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def test_real_pipeline_run_is_exported_as_schema_valid_json(make_result, tmp_path: Path) -> None:
    day_dir = tmp_path / "outputs" / "20250602"
    outputs = write_daily_outputs(make_result(), day_dir)

    assert outputs.export_json == day_dir / "analysis_exports" / f"{STEM}.json"
    assert outputs.report_html == day_dir / "reports" / f"{STEM}.html"
    assert outputs.report_text == day_dir / "reports" / f"{STEM}.txt"
    assert (day_dir / "logs").is_dir()  # for the CLI's run log
    document = json.loads(outputs.export_json.read_text(encoding="utf-8"))
    _schema_validator().validate(document)  # checked again here, independently of the writer
    assert document["format"] == "nq-daily-export/1"
    assert [s["name"] for s in document["stages"]] == ["greeks", "risk", "expected_value", "volume_spike"]

    data = document["data"]
    assert data["source"] == "barchart" and data["is_sample"] is False and data["banners"] == []
    assert [(a["source"], a["outcome"], a["latency_ms"]) for a in data["attempts"]] == [
        ("databento", "failed", 812.5), ("barchart", "served", 231.0)]
    assert data["attempts"][0]["reason"] == "HTTP 503 from the gateway"

    chain = document["chain"]
    assert (chain["contracts"], chain["calls"], chain["puts"]) == (11, 5, 6)
    assert chain["strikes"] == {"count": 6, "min": 21350.0, "max": 21600.0}
    assert chain["expirations"] == [{"expiration": "2025-06-06", "contracts": 11, "strikes": 6,
                                     "open_interest": 3350.0, "volume": 1470.0}]
    assert chain["quarantined"] == {"total": 0, "by_reason": {}}
    assert document["underlying"] == {"symbol": "NQM25", "price": 21500.0, "origin": "source"}

    risk = document["analyses"]["risk"]
    assert risk["ran"] is True and risk["reason"] is None
    # calls 400x161x20 + 50x140x20 = 1,428,000; puts 300x119x20 + 600x139x20 + 500x161x20 = 3,992,000
    assert risk["summary"]["call_dollars_at_risk"] == pytest.approx(1_428_000)
    assert risk["summary"]["put_dollars_at_risk"] == pytest.approx(3_992_000)
    assert risk["summary"]["call_put_ratio"] == pytest.approx(1_428_000 / 3_992_000)
    assert risk["summary"]["verdict"].startswith("STRONG_PUT_DOMINANCE")
    assert risk["summary"]["by_strike"]["strike"] == [21350.0, 21400.0, 21450.0, 21500.0, 21550.0, 21600.0]

    spikes = document["analyses"]["volume_spike"]
    assert [s["contract"] for s in spikes["opportunities"]] == ["NQM25 C21600"]
    assert spikes["opportunities"][0]["notional"] == pytest.approx(1000 * 140 * 20)
    assert spikes["summary"]["day_bias"] == "BULLISH"
    setups = document["analyses"]["expected_value"]["opportunities"]
    assert setups and all({"probability", "market_probability", "edge"} <= set(s) for s in setups)
    assert document["outputs"]["export_json"] == f"analysis_exports/{STEM}.json"


def test_missing_figures_are_null_never_zero_or_nan(make_result, tmp_path: Path) -> None:
    outputs = write_daily_outputs(make_result(), tmp_path / "20250602")
    text = outputs.export_json.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    by_strike = json.loads(text)["analyses"]["risk"]["summary"]["by_strike"]
    assert by_strike["call_oi"][0] is None  # no call listed at 21,350: missing, not 0
    assert by_strike["put_oi"][0] == 300.0


def test_profile_settings_in_the_export_are_the_masked_ones(make_result, testing_profile, tmp_path: Path) -> None:
    outputs = write_daily_outputs(make_result(), tmp_path / "20250602")
    run = json.loads(outputs.export_json.read_text(encoding="utf-8"))["run"]
    assert run["profile"]["name"] == "testing"
    assert run["profile"]["layers"] == ["config/barchart_only.json", "config/testing.json"]
    assert run["profile"]["pipeline_settings"] == testing_profile.masked()["pipeline"]
    assert run["started_at"] == "2025-06-02T18:45:07+00:00"
    assert run["started_at_exchange"] == "2025-06-02T14:45:07-04:00"


def test_stages_left_out_of_the_profile_are_reported_not_run(make_result, make_profile, tmp_path: Path) -> None:
    profile = make_profile("risk_only", '{"description": "greeks and risk only", "extends": "testing", '
                                        '"pipeline": {"stages": ["greeks", "risk"]}}')
    outputs = write_daily_outputs(make_result(profile), tmp_path / "20250602")
    document = json.loads(outputs.export_json.read_text(encoding="utf-8"))
    _schema_validator().validate(document)
    for name in ("expected_value", "volume_spike"):
        section = document["analyses"][name]
        assert section["ran"] is False and section["summary"] is None and section["opportunities"] is None
        assert f"{name!r} is not in pipeline.stages" in section["reason"]
    assert document["analyses"]["risk"]["ran"] is True
    assert [s["name"] for s in document["stages"]] == ["greeks", "risk"]


def test_schema_refusal_raises_and_writes_nothing(make_result, tmp_path: Path) -> None:
    result = make_result()
    risk = result.pipeline.stage("risk")
    broken = dataclasses.replace(risk, summary={**risk.summary, "verdict": None})  # a stage bug
    stages = tuple(broken if s.name == "risk" else s for s in result.pipeline.stages)
    result = dataclasses.replace(result, pipeline=dataclasses.replace(result.pipeline, stages=stages))
    day_dir = tmp_path / "20250602"

    with pytest.raises(OutputValidationError, match=r"\$\.analyses\.risk\.summary\.verdict.*nothing was written"
                       r"|nothing was written.*\$\.analyses\.risk\.summary\.verdict"):
        write_daily_outputs(result, day_dir)
    assert not day_dir.exists()


def test_raw_input_is_kept_byte_for_byte(make_result, tmp_path: Path) -> None:
    response = b'{"count": 2, "total": 1, "data": {"Call": [], "Put": []}}'
    result = make_result(raw=RawCapture(content=response, filename="barchart_api_MC6M5_20250602_141553.json"))
    outputs = write_daily_outputs(result, tmp_path / "20250602")
    assert outputs.raw_input == tmp_path / "20250602" / "api_data" / "barchart_api_MC6M5_20250602_141553.json"
    assert outputs.raw_input.read_bytes() == response
    exported = json.loads(outputs.export_json.read_text(encoding="utf-8"))
    assert exported["outputs"]["raw_input"] == "api_data/barchart_api_MC6M5_20250602_141553.json"
    assert outputs.files()[-1] == outputs.raw_input


def test_raw_input_not_kept_when_the_profile_says_so(make_result, make_profile, tmp_path: Path) -> None:
    profile = make_profile("no_raw", '{"description": "no raw copy", "extends": "testing", '
                                     '"outputs": {"save_raw_input": false}}')
    result = make_result(profile, raw=RawCapture(content=b"{}", filename="x.json"))
    outputs = write_daily_outputs(result, tmp_path / "20250602")
    assert outputs.raw_input is None
    assert not (tmp_path / "20250602" / "api_data").exists()
    assert json.loads(outputs.export_json.read_text(encoding="utf-8"))["outputs"]["raw_input"] is None


def test_rerun_replaces_files_of_the_same_name(make_result, tmp_path: Path) -> None:
    day_dir = tmp_path / "20250602"
    first = write_daily_outputs(make_result(), day_dir)
    first.report_text.write_text("stale", encoding="utf-8")
    second = write_daily_outputs(make_result(), day_dir)
    assert second.report_text == first.report_text
    assert second.report_text.read_text(encoding="utf-8") != "stale"
    assert sorted(p.name for p in (day_dir / "reports").iterdir()) == [f"{STEM}.html", f"{STEM}.txt", "plotly.min.js"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
