"""`run_pipeline.py` end to end, as a user runs it: exit codes, files written, schema-valid export,
the sample-data banner, and every real Barchart capture through `--input`."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXPORT_SCHEMA = PROJECT_ROOT / "tasks" / "options_trading_system" / "output_generation" / "schemas" / \
    "daily_export.schema.json"
SAMPLE_BANNER = "SAMPLE DATA"


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=180)


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {folder}, found {[p.name for p in found]}"
    return found[0]


def load_valid_export(day_dir: Path) -> dict:
    export = json.loads(only(day_dir / "analysis_exports", "*.json").read_text())
    jsonschema.validate(export, json.loads(EXPORT_SCHEMA.read_text()))
    return export


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One offline run on saved data: on a clean output root that is the bundled sample."""
    cwd = tmp_path_factory.mktemp("sample_run")
    result = run_cli("--profile", "testing", "--output-dir", str(cwd / "out"), "--date", "2025-06-02", cwd=cwd)
    return result, cwd / "out" / "20250602"


def test_offline_run_succeeds_and_writes_every_output(sample_run) -> None:
    result, day_dir = sample_run
    assert result.returncode == 0, result.stderr
    export_file = only(day_dir / "analysis_exports", "nq_analysis_20250602_*.json")
    stem = export_file.stem
    assert (day_dir / "reports" / f"{stem}.html").is_file()
    assert (day_dir / "reports" / f"{stem}.txt").is_file()
    assert (day_dir / "logs" / f"{stem}.log").stat().st_size > 0  # one name for all the run's files
    assert list((day_dir / "api_data").iterdir()), "the raw input must be kept as received"
    for path in (export_file, day_dir / "reports" / f"{stem}.html"):
        assert str(path) in result.stdout  # the console lists what it wrote


def test_sample_data_is_bannered_everywhere_it_appears(sample_run) -> None:
    result, day_dir = sample_run
    export = load_valid_export(day_dir)
    assert export["data"]["is_sample"] is True
    assert result.stdout.lstrip().startswith("***") and SAMPLE_BANNER in result.stdout.splitlines()[0]
    assert SAMPLE_BANNER in only(day_dir / "reports", "*.html").read_text()
    assert SAMPLE_BANNER in only(day_dir / "reports", "*.txt").read_text()


def test_a_run_of_today_on_old_saved_data_is_filed_under_the_datas_day_and_says_old_data(tmp_path: Path) -> None:
    """The saved-data fallback serves the bundled sample (as of 2025-06-02): the run is filed and
    titled by that day, like an --input capture, never by the day it was run."""
    result = run_cli("--profile", "testing", "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["20250602"]
    day_dir = tmp_path / "out" / "20250602"
    stem = only(day_dir / "analysis_exports", "nq_analysis_20250602_*.json").stem
    assert (day_dir / "logs" / f"{stem}.log").stat().st_size > 0  # the log moved with the run
    assert "NQ options daily analysis — 2025-06-02" in result.stdout
    assert "NQ options daily analysis — 2025-06-02" in (day_dir / "reports" / f"{stem}.txt").read_text()
    banners = load_valid_export(day_dir)["data"]["banners"]
    assert banners[0].startswith(SAMPLE_BANNER) and banners[-1].startswith("OLD DATA — the chain is as of 2025-06-02")
    assert SAMPLE_BANNER in result.stdout.splitlines()[0] and "OLD DATA" in result.stdout


def test_export_records_source_attempts_stage_traces_and_analyses(sample_run) -> None:
    _, day_dir = sample_run
    export = load_valid_export(day_dir)
    attempts = export["data"]["attempts"]
    assert [a["source"] for a in attempts] == ["saved"] and attempts[0]["outcome"] == "served"
    assert [s["name"] for s in export["stages"]] == ["greeks", "risk", "expected_value", "volume_spike"]
    assert all(s["chain_rows"] == export["chain"]["contracts"] for s in export["stages"])
    assert export["underlying"]["price"] > 0 and export["underlying"]["origin"] in ("source", "put_call_parity")
    spikes = export["analyses"]["volume_spike"]
    assert spikes["ran"] is True


def test_sources_this_version_lacks_fail_over_to_saved_data(tmp_path: Path) -> None:
    profile = tmp_path / "offline.json"
    profile.write_text(json.dumps({"description": "tradovate first, then saved data", "extends": "testing",
                                   "data_sources": {"priority": ["tradovate", "saved"]}}))
    result = run_cli("--profile", str(profile), "--output-dir", str(tmp_path / "out"), "--date", "2025-06-02",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    attempts = load_valid_export(tmp_path / "out" / "20250602")["data"]["attempts"]
    assert attempts[0]["source"] == "tradovate" and attempts[0]["outcome"] == "unavailable"
    assert "not available in this version" in attempts[0]["reason"]
    assert attempts[1]["source"] == "saved" and attempts[1]["outcome"] == "served"


@pytest.mark.parametrize("capture, contracts, trading_date, as_of", [
    ("barchart_api_MC6M5_20250602_141553.json", 576, "2025-06-02", "2025-06-02T21:01:00+00:00"),
    ("barchart_api_MC6N5_20250625_142402.json", 180, "2025-06-25", "2025-06-25T19:12:29+00:00"),
])
def test_every_real_barchart_capture_runs_through_input_dated_by_its_own_as_of(
        tmp_path: Path, shared_data: Path, capture: str, contracts: int, trading_date: str, as_of: str) -> None:
    result = run_cli("--profile", "testing", "--input", str(shared_data / "barchart" / capture),
                     "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    day = trading_date.replace("-", "")
    assert [p.name for p in (tmp_path / "out").iterdir()] == [day]  # filed under the capture's day, not today's
    export = load_valid_export(tmp_path / "out" / day)
    assert export["chain"]["as_of"] == as_of
    assert (export["run"]["date"], export["run"]["trading_date"]) == (trading_date, trading_date)
    assert only(tmp_path / "out" / day / "analysis_exports", "*.json").name.startswith(f"nq_analysis_{day}_")
    assert f"NQ options daily analysis — {trading_date}" in only(tmp_path / "out" / day / "reports", "*.html").read_text()
    # a 2025 capture is older than the last trading session of any day these tests run on: said everywhere
    old = f"OLD DATA — the chain is as of {as_of[:10]} {as_of[11:16]} UTC (session {trading_date})"
    assert any(b.startswith(old) for b in export["data"]["banners"]) and any(w.startswith(old) for w in export["warnings"])
    assert old in result.stdout
    assert old in only(tmp_path / "out" / day / "reports", "*.txt").read_text()
    assert old in only(tmp_path / "out" / day / "logs", "*.log").read_text()
    assert export["chain"]["contracts"] == contracts
    assert export["data"]["is_sample"] is False and SAMPLE_BANNER not in result.stdout
    # Barchart's quotes/get response has no underlying quote: the price comes from put-call parity
    assert export["underlying"]["origin"] == "put_call_parity"
    assert export["data"]["attempts"][0]["source"] == f"file:{capture}"


def test_default_ev_setups_on_the_real_captures_are_reachable_or_withheld_with_the_reason(
        tmp_path: Path, shared_data: Path) -> None:
    # the June 25 capture: 1 sigma = 586 points over 12 days; the June 2 one was captured after its
    # front series settled: no sigma, so no setup is shown and every report says why
    for capture in ("barchart_api_MC6N5_20250625_142402.json", "barchart_api_MC6M5_20250602_141553.json"):
        out = tmp_path / capture
        result = run_cli("--input", str(shared_data / "barchart" / capture), "--output-dir", str(out), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        export = load_valid_export(only(out, "*/analysis_exports").parent)
        ev = export["analyses"]["expected_value"]
        text = only(out, "*/reports/*.txt").read_text()
        html = only(out, "*/reports/*.html").read_text()
        if ev["summary"]["realism"]["applied"]:
            assert ev["opportunities"] and all(s["target_sigma"] <= 2.0 for s in ev["opportunities"])
            top = ev["opportunities"][0]
            assert f"expires {top['expiration']}, " in result.stdout and " sigma, $" in result.stdout
            assert top["market_note"] in result.stdout and top["market_note"] in text and top["market_note"] in html
        else:
            assert ev["opportunities"] == []
            assert "EV setups : none shown — realism not applied" in result.stdout
            why = "the 2025-06-02 expiration had settled by the data's time"
            assert why in result.stdout and why in text and why in html.replace("&#39;", "'")


def test_three_runs_started_together_each_keep_their_export_reports_and_log(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), "--profile", "testing", "--output-dir", str(out),
               "--date", "2025-06-02", "-q"]
    runs = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    results = [run.communicate(timeout=180) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err for _, err in results]
    day_dir = out / "20250602"
    stems = {p.stem for p in (day_dir / "analysis_exports").glob("*.json")}
    assert len(stems) == 3
    assert {p.stem for p in (day_dir / "reports").glob("*.html")} == stems
    assert {p.stem for p in (day_dir / "reports").glob("*.txt")} == stems
    assert {p.stem for p in (day_dir / "logs").glob("*.log")} == stems
    for stem in stems:  # each run's files name each other and its log holds its own run
        export = json.loads((day_dir / "analysis_exports" / f"{stem}.json").read_text())
        assert export["outputs"]["report_html"] == f"reports/{stem}.html"
        assert stem.endswith(export["run"]["stamp"])
        assert f"stamp {export['run']['stamp']}" in (day_dir / "logs" / f"{stem}.log").read_text()
    printed = sorted(line for stdout, _ in results for line in stdout.splitlines() if "/analysis_exports/" in line)
    assert [Path(line).stem for line in printed] == sorted(stems)  # each run reports its own files


def test_input_with_a_date_other_than_the_captures_is_refused_before_anything_is_written(
        tmp_path: Path, shared_data: Path) -> None:
    capture = shared_data / "barchart" / "barchart_api_MC6N5_20250625_142402.json"
    result = run_cli("--profile", "testing", "--input", str(capture), "--date", "2025-06-02",
                     "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert "--date 2025-06-02 disagrees" in result.stderr and "2025-06-25" in result.stderr
    assert not (tmp_path / "out").exists()


def test_unreadable_input_file_exits_2_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "not_a_chain.json"
    bad.write_text('{"hello": "world"}')
    result = run_cli("--input", str(bad), "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2
    assert "not_a_chain.json" in result.stderr


def test_verbose_and_quiet_together_are_refused_before_anything_runs(tmp_path: Path) -> None:
    result = run_cli("-v", "-q", "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2 and "not allowed with argument" in result.stderr
    assert not (tmp_path / "out").exists()


def test_no_source_at_all_exits_3_and_lists_the_attempts(tmp_path: Path) -> None:
    profile = tmp_path / "nothing.json"
    profile.write_text(json.dumps({"description": "saved data without the sample", "extends": "testing",
                                   "data_sources": {"saved": {"use_sample": False}}}))
    result = run_cli("--profile", str(profile), "--output-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 3
    assert "DataUnavailableError" in result.stderr and "saved: failed" in result.stderr


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
