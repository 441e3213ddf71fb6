"""The `saved` source: newest own capture first, unreadable files skipped, then the bundled sample,
else a clear error. Built in a temporary project root so nothing outside the test is read."""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.config_manager import load_profile
from tasks.options_trading_system.data_ingestion.canonical import OptionsChain
from tasks.options_trading_system.data_ingestion.saved.saved_source import SavedSource, SavedSourceConfig
from tasks.options_trading_system.data_ingestion.saved.snapshot_format import read_snapshot, write_snapshot
from tasks.options_trading_system.data_ingestion.sources_registry import (OUTCOME_SERVED, ChainLoader, ChainRequest,
                                                                          SourceContext, build_sources)
from tasks.options_trading_system.errors import ConfigError, DataSourceError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_SAMPLE = PROJECT_ROOT / "data" / "sample" / "nq_options_sample.json"
MC6M5 = "barchart_api_MC6M5_20250602_141553.json"   # as of 2025-06-02 21:01 UTC
MC6N5 = "barchart_api_MC6N5_20250625_142402.json"   # as of 2025-06-25 19:12 UTC
REQUEST = ChainRequest(trade_date=date(2025, 6, 5), now=pd.Timestamp("2025-06-05T14:00:00Z"))


def _config(**overrides: object) -> SavedSourceConfig:
    values = {"search_dirs": ("outputs",), "use_sample": True, "sample_file": "data/sample/nq_options_sample.json"}
    values.update(overrides)
    return SavedSourceConfig(**values)  # type: ignore[arg-type]


def _save(root: Path, day: str, name: str, source: Path) -> Path:
    target = root / "outputs" / day / "api_data" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    return target


def _with_sample(root: Path) -> Path:
    target = root / "data" / "sample" / "nq_options_sample.json"
    target.parent.mkdir(parents=True)
    shutil.copy(BUNDLED_SAMPLE, target)
    return target


def test_newest_day_folder_wins_even_over_a_newer_mtime(tmp_path: Path, shared_data: Path) -> None:
    barchart = shared_data / "barchart"
    older = _save(tmp_path, "20250601", MC6N5, barchart / MC6N5)
    _save(tmp_path, "20250602", MC6M5, barchart / MC6M5)
    _with_sample(tmp_path)
    os.utime(older, (2_000_000_000, 2_000_000_000))  # touched later, but the run day is older
    chain = SavedSource(_config(), tmp_path).fetch(REQUEST)
    assert chain.meta.source == "barchart" and not chain.meta.is_sample
    assert len(chain.frame) == 576
    assert chain.meta.notes[-1] == (f"saved capture outputs/20250602/api_data/{MC6M5}: "
                                    "capture from 2025-06-02, 3 days old")


def test_within_a_day_the_latest_file_wins(tmp_path: Path, shared_data: Path) -> None:
    barchart = shared_data / "barchart"
    first = _save(tmp_path, "20250625", MC6M5, barchart / MC6M5)
    second = _save(tmp_path, "20250625", MC6N5, barchart / MC6N5)
    os.utime(first, (1_750_000_000, 1_750_000_000))
    os.utime(second, (1_750_000_600, 1_750_000_600))
    source = SavedSource(_config(use_sample=False), tmp_path)
    assert source.captures() == [second, first]
    assert len(source.fetch(REQUEST).frame) == 180


def test_unreadable_capture_is_skipped_with_a_warning(tmp_path: Path, shared_data: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    _save(tmp_path, "20250602", MC6M5, shared_data / "barchart" / MC6M5)
    broken = tmp_path / "outputs" / "20250603" / "api_data" / "barchart_api_broken.json"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"count": 2, "total": 5, "data": ')  # cut off mid-write
    sidecar = broken.with_name("barchart_api_broken_metadata.json")
    sidecar.write_text('{"symbol": "MC6M5"}')
    with caplog.at_level(logging.WARNING):
        chain = SavedSource(_config(use_sample=False), tmp_path).fetch(REQUEST)
    assert len(chain.frame) == 576
    assert any("barchart_api_broken.json" in r.getMessage() and "skipping" in r.getMessage() for r in caplog.records)
    assert not any("_metadata.json" in r.getMessage() for r in caplog.records)  # a sidecar is no capture


def test_a_saved_copy_of_the_sample_is_not_taken_for_a_capture(tmp_path: Path, shared_data: Path) -> None:
    _save(tmp_path, "20250601", MC6N5, shared_data / "barchart" / MC6N5)
    _save(tmp_path, "20250604", "nq_options_sample.json", BUNDLED_SAMPLE)  # a sample run saved its input
    chain = SavedSource(_config(use_sample=False), tmp_path).fetch(REQUEST)
    assert chain.meta.source == "barchart" and len(chain.frame) == 180


def test_sample_is_served_and_flagged_when_nothing_was_saved(tmp_path: Path) -> None:
    _with_sample(tmp_path)
    chain = SavedSource(_config(), tmp_path).fetch(REQUEST)
    assert chain.meta.is_sample is True
    assert chain.meta.notes[-1] == ("bundled SAMPLE chain data/sample/nq_options_sample.json (generated, not "
                                    "market data): capture from 2025-06-02, 3 days old")


def test_whatever_sits_in_the_sample_slot_is_flagged_sample(tmp_path: Path) -> None:
    sample = _with_sample(tmp_path)
    chain = read_snapshot(sample)
    write_snapshot(dataclasses.replace(chain, meta=dataclasses.replace(chain.meta, is_sample=False)), sample)
    assert SavedSource(_config(), tmp_path).fetch(REQUEST).meta.is_sample is True


def test_error_when_sample_disabled_and_nothing_saved(tmp_path: Path) -> None:
    _with_sample(tmp_path)
    with pytest.raises(DataSourceError, match=r"no saved capture under outputs/\*/api_data/ and the bundled "
                                              r"sample is disabled"):
        SavedSource(_config(use_sample=False), tmp_path).fetch(REQUEST)


def test_error_when_the_sample_file_is_missing(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError, match="nq_options_sample.json is missing"):
        SavedSource(_config(), tmp_path).fetch(REQUEST)


def test_absolute_search_dirs_are_used_as_given(tmp_path: Path, shared_data: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    _save(elsewhere, "20250625", MC6N5, shared_data / "barchart" / MC6N5)
    source = SavedSource(_config(search_dirs=(str(elsewhere / "outputs"),), use_sample=False), tmp_path / "project")
    chain = source.fetch(ChainRequest(trade_date=date(2025, 6, 25), now=pd.Timestamp("2025-06-25T20:00:00Z")))
    assert chain.meta.notes[-1].endswith("capture from 2025-06-25, from the run date")


def test_built_from_the_profile_through_the_registry(tmp_path: Path) -> None:
    _with_sample(tmp_path)
    profile = load_profile("testing", env={})
    context = SourceContext(profile=profile, output_root=tmp_path / "outputs", project_root=tmp_path)
    sources = build_sources(["saved"], context)
    assert isinstance(sources[0], SavedSource)
    assert sources[0].config == _config(search_dirs=())  # the schema defaults
    result = ChainLoader(sources).load(REQUEST)
    assert result.attempts[0].outcome == OUTCOME_SERVED and result.chain.meta.is_sample
    assert isinstance(result.chain, OptionsChain) and result.chain.meta.underlying_price_origin == "source"


def test_a_past_run_date_is_served_its_own_days_capture_not_a_later_one(tmp_path: Path, shared_data: Path) -> None:
    barchart = shared_data / "barchart"
    _save(tmp_path, "20250601", MC6N5, barchart / MC6N5)   # before the run date (2025-06-05)
    _save(tmp_path, "20250610", MC6M5, barchart / MC6M5)   # after it: newer, but from the future
    chain = SavedSource(_config(use_sample=False), tmp_path).fetch(REQUEST)
    assert len(chain.frame) == 180  # MC6N5, saved on 2025-06-01
    later = ChainRequest(trade_date=date(2025, 6, 12), now=pd.Timestamp("2025-06-12T14:00:00Z"))
    assert len(SavedSource(_config(use_sample=False), tmp_path).fetch(later).frame) == 576  # newest again


def test_the_runs_own_output_root_is_searched_not_the_projects(tmp_path: Path, shared_data: Path) -> None:
    # a run with --output-dir elsewhere replays what it saved there, never the checkout's outputs/
    project, run_root = tmp_path / "project", tmp_path / "elsewhere"
    _save(project, "20250625", MC6N5, shared_data / "barchart" / MC6N5)
    _save(run_root, "20250602", MC6M5, shared_data / "barchart" / MC6M5)
    context = SourceContext(profile=load_profile("testing", env={}), output_root=run_root / "outputs",
                            project_root=project)
    chain = build_sources(["saved"], context)[0].fetch(REQUEST)
    assert len(chain.frame) == 576  # MC6M5, from the run's root; the project's newer MC6N5 is not seen


def test_config_without_schema_defaults_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="missing use_sample, sample_file"):
        SavedSourceConfig.from_mapping({"search_dirs": ["outputs"]})


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
