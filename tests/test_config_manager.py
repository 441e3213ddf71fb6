"""Profiles: layering, environment substitution, validation messages that name file, path, value."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tasks.options_trading_system.config_manager import (MASK, PROJECT_ROOT, list_profiles, load_environment,
                                                          load_profile)
from tasks.options_trading_system.errors import ConfigError


def write_profile(folder: Path, name: str, body: dict) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(body))
    return path


def error_of(path: Path, env: dict | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_profile(path, env=env or {})
    return str(caught.value)


def test_every_shipped_profile_loads_and_names_its_layers() -> None:
    names = [name for name, _ in list_profiles()]
    assert {"barchart_only", "databento_only", "polygon_only", "all_sources", "testing",
            "profiles/conservative", "profiles/aggressive", "profiles/technical", "profiles/scalping"} <= set(names)
    for name in names:
        profile = load_profile(name, env={})
        assert profile.description, name
        assert profile.layers[-1] == profile.path


def test_child_overrides_one_nested_value_and_keeps_the_parents_siblings(tmp_path: Path) -> None:
    write_profile(tmp_path, "base", {"description": "base", "extends": "barchart_only",
                                     "pipeline": {"expected_value": {"min_probability": 0.7, "min_ev_points": 30}}})
    child = write_profile(tmp_path, "child", {"description": "child", "extends": "base",
                                              "pipeline": {"expected_value": {"min_ev_points": 12}}})
    ev = load_profile(child, env={}).section("pipeline", "expected_value")
    assert ev["min_ev_points"] == 12          # child wins
    assert ev["min_probability"] == 0.7       # parent's sibling kept
    assert ev["max_risk_points"] == 150       # schema default filled


def test_conservative_strategy_is_risk_first_and_stricter_than_default() -> None:
    default = load_profile("barchart_only", env={})
    conservative = load_profile("profiles/conservative", env={})
    aggressive = load_profile("profiles/aggressive", env={})
    assert conservative.section("pipeline")["stages"][1] == "risk"
    assert aggressive.section("pipeline")["stages"][1] == "expected_value"
    assert conservative.section("pipeline", "expected_value")["min_probability"] > \
        default.section("pipeline", "expected_value")["min_probability"]


def test_env_vars_fill_values_from_environment_then_dotenv_then_default(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "p", {"description": "x", "extends": "barchart_only",
                                         "data_sources": {"timeout_s": "${NQ_TIMEOUT}"},
                                         "outputs": {"base_dir": "${NQ_OUT:-fallback_dir}"}})
    profile = load_profile(path, env={"NQ_TIMEOUT": "7.5"})
    assert profile.section("data_sources")["timeout_s"] == 7.5   # whole-string number becomes a number
    assert profile.section("outputs")["base_dir"] == "fallback_dir"
    dotenv = tmp_path / ".env"
    dotenv.write_text("NQ_OUT=from_dotenv\n")
    env = load_environment(dotenv)
    assert env["NQ_OUT"] == "from_dotenv"
    assert load_profile(path, env={**env, "NQ_TIMEOUT": "3"}).section("outputs")["base_dir"] == "from_dotenv"


def test_an_env_value_with_leading_zeros_stays_a_string(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "p", {"description": "x", "extends": "barchart_only",
                                         "data_sources": {"tradovate": {"account": "${NQ_ACCOUNT}", "cid": "${NQ_CID}"}}})
    tradovate = load_profile(path, env={"NQ_ACCOUNT": "00123", "NQ_CID": "0"}).section("data_sources", "tradovate")
    assert tradovate["account"] == "00123"    # an identifier, not the number 123 (nor a JSON error)
    assert tradovate["cid"] == 0


def test_unknown_key_names_file_path_and_the_allowed_keys(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "bad", {"description": "x", "extends": "barchart_only",
                                           "pipeline": {"risk": {"top_zonez": 3}}})
    message = error_of(path)
    assert "bad.json" in message
    assert "$.pipeline.risk.top_zonez" in message
    assert "unknown key 'top_zonez'" in message and "top_zones" in message


def test_wrong_type_names_the_bad_value_and_what_was_expected(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "bad", {"description": "x", "extends": "barchart_only",
                                           "pipeline": {"expected_value": {"min_probability": "high"}}})
    message = error_of(path)
    assert "$.pipeline.expected_value.min_probability" in message
    assert "'high'" in message and "expected number" in message


def test_error_in_a_parent_names_the_parent_file(tmp_path: Path) -> None:
    write_profile(tmp_path, "parent", {"description": "x", "extends": "barchart_only",
                                       "data_sources": {"timeout_s": -1}})
    child = write_profile(tmp_path, "child", {"description": "child", "extends": "parent"})
    message = error_of(child)
    assert "parent.json" in message and "$.data_sources.timeout_s" in message and "-1" in message


def test_missing_parent_is_named(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "orphan", {"description": "x", "extends": "no_such_parent"})
    message = error_of(path)
    assert "orphan.json" in message and "$.extends" in message and "no_such_parent" in message


def test_extends_cycle_is_refused(tmp_path: Path) -> None:
    write_profile(tmp_path, "a", {"description": "a", "extends": "b"})
    b = write_profile(tmp_path, "b", {"description": "b", "extends": "a"})
    assert "cycle" in error_of(b)


def test_unset_env_var_is_named_with_how_to_fix_it(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "p", {"description": "x", "extends": "barchart_only",
                                         "data_sources": {"timeout_s": "${NQ_TIMEOUT_UNSET}"}})
    message = error_of(path)
    assert "NQ_TIMEOUT_UNSET is not set" in message and "$.data_sources.timeout_s" in message and ".env" in message


def test_env_var_with_a_value_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "p", {"description": "x", "extends": "barchart_only",
                                         "data_sources": {"timeout_s": "${NQ_TIMEOUT}"}})
    message = error_of(path, env={"NQ_TIMEOUT": "soon"})
    assert "'soon'" in message and "expected number" in message


def test_invalid_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"description": "x",\n "extends": }')
    message = error_of(path)
    assert "broken.json" in message and "line 2" in message


def test_secrets_from_env_are_masked_in_the_shown_config(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "p", {"description": "x", "extends": "barchart_only",
                                         "outputs": {"base_dir": "${NQ_SECRET_TOKEN}"}})
    profile = load_profile(path, env={"NQ_SECRET_TOKEN": "s3cr3t-value"})
    assert profile.section("outputs")["base_dir"] == "s3cr3t-value"
    shown = json.dumps(profile.masked())
    assert "s3cr3t-value" not in shown and MASK in shown


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("body, expected", [
    ({"description": "x", "extends": "barchart_only", "colour": "red"}, "unknown key 'colour'"),
    ({"description": "x", "extends": "barchart_only", "pipeline": {"stages": ["greeks", "gredks"]}}, "'gredks'"),
    ({"description": "x", "extends": "missing_parent"}, "missing_parent"),
    ({"description": "x", "extends": "barchart_only", "data_sources": {"timeout_s": "${NQ_UNSET_VAR}"}},
     "NQ_UNSET_VAR is not set"),
])
def test_bad_profile_exits_2_before_anything_runs(tmp_path: Path, body: dict, expected: str) -> None:
    path = write_profile(tmp_path, "bad", body)
    out = tmp_path / "out"
    result = run_cli("--profile", str(path), "--output-dir", str(out), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("ConfigError: ") and expected in result.stderr
    assert not out.exists()  # nothing ran, nothing written


def test_list_profiles_and_show_config_from_the_command_line(tmp_path: Path) -> None:
    listed = run_cli("--list-profiles", cwd=tmp_path)
    assert listed.returncode == 0
    assert any(line.startswith("profiles/conservative ") and "Risk first" in line
               for line in listed.stdout.splitlines())
    shown = run_cli("--profile", "testing", "--show-config", cwd=tmp_path)
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["data_sources"]["priority"] == ["saved"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e309", "-1e400"])
def test_non_finite_numbers_are_refused_at_load_naming_file_and_json_path(tmp_path: Path, literal: str) -> None:
    # a NaN budget used to switch the cap off (NaN compares false with every bound) and run with exit 0
    path = tmp_path / "bad.json"
    path.write_text('{"description": "x", "extends": "databento_only",\n'
                    f' "data_sources": {{"databento": {{"daily_budget_usd": {literal}}}}}}}')
    message = error_of(path)
    assert "bad.json" in message and "$.data_sources.databento.daily_budget_usd" in message
    assert literal in message and "finite number" in message


def test_a_non_finite_number_from_the_environment_is_refused(tmp_path: Path) -> None:
    path = write_profile(tmp_path, "p", {"description": "x", "extends": "databento_only",
                                         "data_sources": {"databento": {"daily_budget_usd": "${NQ_BUDGET}"}}})
    message = error_of(path, env={"NQ_BUDGET": "1e999"})
    assert "$.data_sources.databento.daily_budget_usd" in message and "finite number" in message


@pytest.mark.parametrize("setting, value", [
    (("data_sources", "databento", "daily_budget_usd"), 1e12),
    (("data_sources", "databento", "monthly_budget_usd"), 1e9),
    (("data_sources", "timeout_s"), 86400 * 365),
    (("data_sources", "polygon", "max_pages"), 10 ** 9),
])
def test_budgets_timeouts_and_sizes_have_sane_maximums(tmp_path: Path, setting: tuple, value: float) -> None:
    body: dict = {"description": "x", "extends": "all_sources"}
    node = body
    for key in setting[:-1]:
        node = node.setdefault(key, {})
    node[setting[-1]] = value
    message = error_of(write_profile(tmp_path, "big", body))
    assert "$." + ".".join(setting) in message and "expected maximum" in message


@pytest.mark.parametrize("literal", ["NaN", "1e309"])
def test_a_non_finite_budget_exits_2_before_anything_runs(tmp_path: Path, literal: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"description": "x", "extends": "testing", '
                    f'"data_sources": {{"databento": {{"daily_budget_usd": {literal}}}}}}}')
    out = tmp_path / "out"
    result = run_cli("--profile", str(path), "--output-dir", str(out), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "$.data_sources.databento.daily_budget_usd" in result.stderr and not out.exists()
