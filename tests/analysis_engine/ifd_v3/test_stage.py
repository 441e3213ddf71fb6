"""The `institutional_flow_v3` pipeline stage: loaded from the ifd_v3 profile, it replays the MBO
file it is given, builds baselines from history files, records the day, and reports its signals
and the engine's figures; without a file it says what to do."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.ifd_v3.baselines import BaselineStore
from tasks.options_trading_system.analysis_engine.ifd_v3.stage import (STATUS_NO_FILE, SUMMARY_KEYS,
                                                                       InstitutionalFlowV3Analysis)
from tasks.options_trading_system.analysis_engine.pipeline import AnalysisContext, Pipeline
from tasks.options_trading_system.config_manager import load_profile
from tasks.options_trading_system.sample_data.mbo import match_signals

NOW = pd.Timestamp("2025-06-02T21:00:00Z")
CTX = AnalysisContext(underlying_price=21500.0, as_of=NOW, multiplier=20.0,
                      front_expiration=pd.Timestamp("2025-06-20"))
EMPTY_CHAIN = pd.DataFrame()


def stage_from_profile(overrides: dict[str, Any]) -> InstitutionalFlowV3Analysis:
    profile = load_profile("profiles/ifd_v3", env={}, overrides={"pipeline": {"institutional_flow_v3": overrides}})
    pipeline = Pipeline.from_profile(profile)
    assert [s.name for s in pipeline.stages] == ["institutional_flow_v3"]
    stage = pipeline.stages[0]
    stage.clock = lambda: NOW
    return stage


def run(stage: InstitutionalFlowV3Analysis) -> tuple[pd.DataFrame, dict[str, Any]]:
    candidates = stage.candidates(EMPTY_CHAIN, CTX)
    kept = stage.sort(candidates[stage.filter_reasons(candidates, CTX) == ""], CTX)
    return kept, stage.summarize(EMPTY_CHAIN, kept, CTX)


def test_without_an_mbo_file_the_stage_says_how_to_give_one() -> None:
    kept, summary = run(stage_from_profile({}))
    assert kept.empty
    assert summary["status"] == STATUS_NO_FILE and "--mbo FILE" in summary["status"]
    assert summary["signal_count"] == 0


def test_the_stage_finds_the_planted_flow_and_records_the_day(sample_set: Any, tmp_path: Path) -> None:
    db = tmp_path / "baselines.sqlite"
    stage = stage_from_profile({"mbo_file": str(sample_set.day.path), "baseline_db": str(db),
                                "history_files": [sample_set.history_pattern],
                                "engine": {"baseline": {"lookback_days": sample_set.history_days}}})
    kept, summary = run(stage)
    assert tuple(summary) == SUMMARY_KEYS
    assert summary["status"] == "ok" and summary["trade_date"] == "2025-06-02"
    assert summary["sample_input"] is True  # a generated day says so (its truth file), for the banner
    score = match_signals(kept, sample_set.day.episodes, tolerance_s=300)
    assert score["recall"] >= 0.8 and score["precision"] >= 0.8
    assert summary["signal_count"] == len(kept) and sum(summary["tiers"].values()) == len(kept)
    assert kept["confidence"].is_monotonic_decreasing
    assert (kept["distance_points"] == kept["strike"] - 21500.0).all()
    # the summary is plain JSON (no NaN, no timestamps objects)
    text = json.dumps(summary, allow_nan=False)
    assert "reasons" in text
    engine = summary["engine"]
    assert engine["events"] == sample_set.day.records and engine["book_consistency"]["crossed"] == 0
    assert summary["baseline"]["days_available"] == sample_set.history_days
    assert summary["baseline"]["data_quality"] == 1.0
    with BaselineStore(db) as store:
        assert sample_set.trade_date in store.recorded_days()  # the analysed day is now history


def test_relative_history_patterns_are_found_beside_the_mbo_file(sample_set: Any, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the working directory holds no MBO files
    stage = stage_from_profile({"mbo_file": str(sample_set.day.path), "baseline_db": str(tmp_path / "b.sqlite"),
                                "history_files": ["nq_mbo_*.mbo.dbn.zst"], "record_baselines": False,
                                "engine": {"baseline": {"lookback_days": sample_set.history_days}}})
    _, summary = run(stage)
    assert summary["baseline"]["days_available"] == sample_set.history_days


def test_a_first_day_without_history_states_its_data_quality(sample_set: Any, tmp_path: Path) -> None:
    stage = stage_from_profile({"mbo_file": str(sample_set.day.path), "baseline_db": str(tmp_path / "b.sqlite"),
                                "history_files": [], "record_baselines": False})
    kept, summary = run(stage)
    assert summary["baseline"]["days_available"] == 0 and summary["baseline"]["data_quality"] == 0.0
    assert (kept["baseline_quality"] == 0.0).all() and (kept["anomaly"] == 0.0).all()
    assert (kept["confidence"] <= 0.65 + 1e-9).all()  # the anomaly's 0.35 cannot be earned without history
    with BaselineStore(tmp_path / "b.sqlite") as store:
        assert store.recorded_days() == []


def test_a_file_that_is_not_dbn_stops_the_run_with_its_name(tmp_path: Path) -> None:
    from tasks.options_trading_system.errors import InputFileError

    bad = tmp_path / "day.mbo.dbn.zst"
    bad.write_bytes(b"not a dbn file")
    with pytest.raises(InputFileError, match="day.mbo.dbn.zst"):
        run(stage_from_profile({"mbo_file": str(bad), "baseline_db": str(tmp_path / "b.sqlite"), "history_files": []}))


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_the_default_baseline_store_is_in_the_state_directory_never_the_working_directory(
        sample_set: Any, tmp_path: Path, private_state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # it used to land in ./outputs/ifd_v3/ wherever the command was run, ignoring --output-dir
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _, summary = run(stage_from_profile({"mbo_file": str(sample_set.day.path)}))
    assert Path(summary["baseline"]["db"]) == private_state_dir / "ifd_v3" / "baselines.sqlite"
    assert (private_state_dir / "ifd_v3" / "baselines.sqlite").is_file()
    assert list(elsewhere.iterdir()) == []
