"""Sweep files: every mistake stops the sweep before anything runs (exit 2), naming the file and
the JSON path; a grid expands to every combination, named after its settings."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.options_trading_system.analysis_engine.strategies.sweep import expand, load_sweep_file
from tasks.options_trading_system.analysis_engine.strategies.sweep.plan import SweepRequest, plan_sweep
from tasks.options_trading_system.errors import ConfigError, OptionsSystemError

PROJECT_ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = PROJECT_ROOT / "config" / "sweeps" / "example_grid.json"
GRID = {"shadow_trading.validation.min_score": [0.6, 0.85], "shadow_trading.execution.slippage_ticks": [0, 1, 2]}


def _write(folder: Path, document: dict, name: str = "sweep.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("document, where", [
    ({"grid": {"shadow_trading.validation.min_score": [0.5]}, "speed": 3}, "$.speed: unknown key 'speed'"),
    ({"grid": {"min_score": [0.5]}}, "$.grid"),
    ({"grid": {"shadow_trading.validation.min_score": []}}, "$.grid.shadow_trading.validation.min_score"),
    ({"grid": GRID, "variants": [{"name": "a", "overrides": {}}]}, "$.grid: give either `variants`"),
    ({"profile": "shadow_trading"}, "$: give either `variants`"),
    ({"variants": [{"name": "a", "overrides": {}}, {"name": "a", "overrides": {}}]}, "$.variants[1].name"),
    ({"variants": [{"name": "has space", "overrides": {}}]}, "$.variants[0].name"),
    ({"variants": [{"name": "a", "overrides": {"extends": "testing"}}]}, "$.variants[0].overrides"),
    ({"grid": {"shadow_trading.validation": [1], "shadow_trading.validation.min_score": [0.5]}},
     "$.grid.shadow_trading.validation.min_score: lies inside"),
    ({"days": 0, "grid": GRID}, "$.days"),
])
def test_a_malformed_sweep_file_is_refused_naming_the_file_and_json_path(tmp_path: Path, document: dict,
                                                                         where: str) -> None:
    path = _write(tmp_path, document)
    with pytest.raises(ConfigError) as caught:
        load_sweep_file(path)
    assert str(path.name) in str(caught.value) and where in str(caught.value)


@pytest.mark.parametrize("overrides, where", [
    ({"shadow_trading": {"validation": {"min_score": 7}}}, "$.shadow_trading.validation.min_score: bad value 7"),
    ({"shadow_trading": {"validation": {"min_scor": 0.5}}}, "unknown key 'min_scor'"),
    ({"shadow_trading": {"ab_testing": {"a": "no_such_source"}}}, "no_such_source"),
])
def test_a_variant_whose_merged_profile_is_invalid_is_refused_before_anything_runs(tmp_path: Path, overrides: dict,
                                                                                   where: str) -> None:
    path = _write(tmp_path, {"variants": [{"name": "fine", "overrides": {}}, {"name": "bad", "overrides": overrides}]})
    with pytest.raises(ConfigError) as caught:
        plan_sweep(SweepRequest(sweep_file=path, replay=tmp_path, output_dir=tmp_path / "out"))
    message = str(caught.value)
    assert "sweep.json: $.variants[1]: variant 'bad'" in message and where in message
    assert not (tmp_path / "out").exists()


def test_a_grid_value_the_profile_schema_refuses_names_the_grid(tmp_path: Path) -> None:
    path = _write(tmp_path, {"grid": {"shadow_trading.execution.slippage_ticks": [1, -3]}})
    with pytest.raises(ConfigError) as caught:
        plan_sweep(SweepRequest(sweep_file=path, replay=tmp_path))
    assert "sweep.json: $.grid: variant 'slippage_ticks=-3'" in str(caught.value)


def test_a_grid_expands_to_every_combination_named_after_its_settings(tmp_path: Path) -> None:
    sweep = load_sweep_file(_write(tmp_path, {"id": "g", "grid": GRID}))
    variants = expand(sweep)
    assert [v.name for v in variants] == [
        "min_score=0.6+slippage_ticks=0", "min_score=0.6+slippage_ticks=1", "min_score=0.6+slippage_ticks=2",
        "min_score=0.85+slippage_ticks=0", "min_score=0.85+slippage_ticks=1", "min_score=0.85+slippage_ticks=2"]
    assert variants[4].overrides == {"shadow_trading": {"validation": {"min_score": 0.85},
                                                        "execution": {"slippage_ticks": 1}}}
    assert dict(variants[4].parameters) == {"shadow_trading.validation.min_score": 0.85,
                                            "shadow_trading.execution.slippage_ticks": 1}


def test_grid_settings_that_end_alike_are_named_by_their_whole_path(tmp_path: Path) -> None:
    sweep = load_sweep_file(_write(tmp_path, {"grid": {"shadow_trading.validation.min_score": [0.5],
                                                       "shadow_trading.other.min_score": [1]}}))
    assert [v.name for v in expand(sweep)] == \
        ["shadow_trading.validation.min_score=0.5+shadow_trading.other.min_score=1"]


def test_the_shipped_example_is_a_two_setting_grid_of_at_least_four_valid_variants(tmp_path: Path) -> None:
    plan = plan_sweep(SweepRequest(sweep_file=EXAMPLE, replay=tmp_path))
    assert len(plan.sweep.grid) == 2 and len(plan.variants) >= 4


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run_shadow_trading.py", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})


def test_the_command_line_exits_2_naming_the_sweep_file_and_path_before_running(tmp_path: Path) -> None:
    path = _write(tmp_path, {"grid": {"shadow_trading.validation.min_score": ["high"]}})
    done = _cli("--sweep", str(path), "--replay", str(tmp_path), "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "ConfigError" in done.stderr and "sweep.json: $.grid: variant 'min_score=high'" in done.stderr
    assert not (tmp_path / "out").exists()


def test_days_the_recording_cannot_give_stop_the_sweep_with_exit_2_before_any_run(small_recording: Path,
                                                                                  tmp_path: Path) -> None:
    from tasks.options_trading_system.analysis_engine.strategies.sweep import run_sweep
    path = _write(tmp_path, {"days": 400, "grid": {"shadow_trading.validation.min_score": [0.6, 0.85]}})
    with pytest.raises(OptionsSystemError) as caught:
        run_sweep(SweepRequest(sweep_file=path, replay=small_recording, output_dir=tmp_path / "out"))
    assert caught.value.exit_code == 2
    assert not (tmp_path / "out" / "runs").exists()


@pytest.mark.parametrize("extra, message", [
    (["--resume", "x"], "--resume cannot be used with it"),
    (["--run-id", "x"], "--run-id cannot be used with it"),
    (["--profile", "testing"], "the sweep file's `profile` is the base"),
    ([], "--sweep needs --replay DIR"),
])
def test_single_run_options_and_a_missing_replay_are_refused_with_a_sweep(tmp_path: Path, extra: list[str],
                                                                          message: str) -> None:
    replay = [] if not extra else ["--replay", str(tmp_path)]
    done = _cli("--sweep", str(EXAMPLE), *replay, *extra, "--output-dir", str(tmp_path / "out"))
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "out").exists()


def test_the_help_explains_sweeps() -> None:
    done = _cli("--help")
    assert done.returncode == 0 and "--sweep FILE" in done.stdout and "config/sweeps/example_grid.json" in done.stdout


def test_an_unknown_base_profile_is_refused_naming_the_profile_key(tmp_path: Path) -> None:
    path = _write(tmp_path, {"profile": "no_such_profile", "grid": {"shadow_trading.validation.min_score": [0.6]}})
    with pytest.raises(ConfigError, match=r"sweep.json: \$.profile: the base profile 'no_such_profile'"):
        plan_sweep(SweepRequest(sweep_file=path, replay=tmp_path))
