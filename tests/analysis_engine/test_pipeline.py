"""The four stages through the runner as a profile configures them: trace (rows in/out, reasons,
time), stage order, every shipped profile builds, and code defaults equal the schema defaults."""
from __future__ import annotations

import dataclasses
import json
import sys
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine import black76
from tasks.options_trading_system.analysis_engine.greeks import GreeksAnalysis
from tasks.options_trading_system.analysis_engine.pipeline import (STAGE_CLASSES, AnalysisContext, Pipeline,
                                                                   RunTables, _keep_and_count, stage_class)
from tasks.options_trading_system.analysis_engine.stage_tools import reason_series
from tasks.options_trading_system.expiry import years_to_settlement
from tasks.options_trading_system.analysis_engine.risk import RiskAnalysis
from tasks.options_trading_system.config_manager import SCHEMA_DIR, list_profiles, load_profile
from tasks.options_trading_system.daily_run import load_input_file
from tasks.options_trading_system.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root: `python3 tests/...` works too
from tests.conftest import make_chain  # noqa: E402

F, FRONT, YEARS = 20000.0, "2025-06-20", 0.05


def small_chain() -> Any:
    """Strikes 19800..20200 around F = 20000, priced at a flat 20%; one call trades 20x its OI."""
    rows = []
    for strike in (19800.0, 19900.0, 20100.0, 20200.0):
        for right in ("C", "P"):
            spike = strike == 20100.0 and right == "C"
            rows.append({"expiration": FRONT, "strike": strike, "right": right,
                         "last": float(black76.price(F, strike, YEARS, 0.2, right == "C")),
                         "open_interest": 50 if spike else 400, "volume": 1000 if spike else 40})
    return make_chain(rows, underlying=F)


def test_testing_profile_runs_the_four_stages_and_traces_each() -> None:
    ticks = count()
    pipeline = Pipeline.from_profile(load_profile("testing", env={}), clock=lambda: float(next(ticks)))
    chain = small_chain()
    result = pipeline.run(chain.frame, AnalysisContext.from_chain(chain))
    traces = {s.name: s.trace for s in result.stages}
    assert list(traces) == ["greeks", "risk", "expected_value", "volume_spike"]
    assert all(t.chain_rows == 8 for t in traces.values())
    assert all(t.seconds == 1.0 for t in traces.values())  # one tick of the injected clock per stage
    # greeks ranks nothing but fills every contract: all eight have time value at 20%
    assert (traces["greeks"].candidates_in, traces["greeks"].candidates_out) == (0, 0)
    assert result.chain["iv"].notna().sum() == 8
    np.testing.assert_allclose(result.chain["iv"], 0.2, atol=1e-10)
    # risk: one OTM side per strike, four zones, no dollar floor
    assert (traces["risk"].candidates_in, traces["risk"].candidates_out, traces["risk"].reasons) == (4, 4, {})
    assert result.stage("risk").summary["total_gex"] is not None  # gamma from the greeks stage
    # EV: 2 targets x 2 stops x 2 directions; the four with a stop 200 points away cannot pass on
    # risk, so they are pruned before scoring (counted in the summary, not in the trace)
    ev = traces["expected_value"]
    assert ev.candidates_in == 4
    assert result.stage("expected_value").summary["pairs_pruned"] == {"risk above max_risk_points (150 points)": 4}
    assert ev.candidates_out + sum(ev.reasons.values()) == 4
    # spike: only the 20100 call (1000 / 50 = 20, notional 1000 x 308 x 20 = $6.2M)
    spike = traces["volume_spike"]
    assert (spike.candidates_in, spike.candidates_out) == (8, 1)
    assert spike.reasons == {"volume/OI below min_vol_oi (10)": 7}
    assert result.stage("volume_spike").opportunities["strike"].tolist() == [20100.0]
    for stage in result.stages:
        json.dumps(stage.summary, allow_nan=False)
        json.dumps(stage.trace.to_dict(), allow_nan=False)


def test_a_stage_that_reads_gamma_cannot_run_before_greeks() -> None:
    with pytest.raises(ConfigError, match="'risk' needs \\['greeks'\\] to run before it"):
        Pipeline([RiskAnalysis(), GreeksAnalysis()])


def test_every_shipped_profile_builds_its_pipeline() -> None:
    for name, _ in list_profiles():
        profile = load_profile(name, env={})
        stages = Pipeline.from_profile(profile).stages
        assert [s.name for s in stages] == list(profile.section("pipeline")["stages"]), name


def test_profile_thresholds_reach_the_stage_configs() -> None:
    stages = {s.name: s for s in Pipeline.from_profile(load_profile("profiles/scalping", env={})).stages}
    assert stages["risk"].config.zone_distances.immediate == 5
    assert stages["expected_value"].config.max_risk_points == 50
    assert stages["volume_spike"].config.actionable_distance == 0.01


def schema_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """Every property's default, nested objects expanded from their own properties."""
    out = {}
    for key, sub in schema["properties"].items():
        out[key] = schema_defaults(sub) if sub.get("type") == "object" and "properties" in sub else sub["default"]
    return out


def config_defaults(config: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out[f.name] = config_defaults(value) if dataclasses.is_dataclass(value) else value
    return out


def as_lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: as_lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_lists(v) for v in value]
    return value


@pytest.mark.parametrize("name", sorted(STAGE_CLASSES))
def test_stage_config_defaults_equal_the_schema_defaults(name: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"stage.{name}.schema.json").read_text())
    klass = stage_class(name)
    assert as_lists(config_defaults(klass.config_class())) == as_lists(schema_defaults(schema))


@pytest.mark.parametrize("name", sorted(STAGE_CLASSES))
def test_every_stage_setting_has_a_description_and_a_default(name: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"stage.{name}.schema.json").read_text())

    def walk(node: dict[str, Any], path: str) -> list[str]:
        missing = []
        for key, sub in node.get("properties", {}).items():
            if "description" not in sub or "default" not in sub:
                missing.append(f"{path}.{key}")
            missing += walk(sub, f"{path}.{key}")
        return missing

    assert walk(schema, name) == []


@pytest.mark.parametrize("profile", ["barchart_only", "profiles/seed_ev"])
def test_each_stage_keeps_and_counts_on_a_real_capture_what_its_steps_give(shared_data: Path, profile: str) -> None:
    # the runner asks each stage to `select` (a stage may build only the rows it keeps); every
    # candidate table, filtered step by step, must give the same kept rows, count and reasons
    for path in sorted((shared_data / "barchart").glob("barchart_api_*[0-9].json")):
        chain = load_input_file(path)
        ctx = AnalysisContext.from_chain(chain)
        result = Pipeline.from_profile(load_profile(profile, env={})).run(chain.frame, ctx)
        for stage in Pipeline.from_profile(load_profile(profile, env={})).stages[1:]:
            candidates = stage.candidates(result.chain, ctx)
            keep, dropped = _keep_and_count(stage.filter_reasons(candidates, ctx))
            kept = stage.sort(candidates[keep], ctx).reset_index(drop=True)
            trace = result.stage(stage.name).trace
            assert (trace.candidates_in, trace.candidates_out, dict(trace.reasons)) == \
                (len(candidates), len(kept), dropped), (path.name, stage.name)
            pd.testing.assert_frame_equal(kept, result.stage(stage.name).opportunities, check_exact=True)


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_run_tables_give_each_row_the_same_year_fraction_as_the_settlement_clock() -> None:
    # the runner's fast path (Python datetimes for a few expirations) must equal expiry.years_to_settlement
    # to the bit, across daylight-saving changes and for an expiration already settled
    dates = ["2025-03-07", "2025-03-10", "2025-06-02", "2025-11-03", "2025-12-19", "2026-03-20"]
    chain = make_chain([{"expiration": d, "strike": 20000.0, "right": "C", "last": 10.0} for d in dates], underlying=F,
                       as_of="2025-06-02T18:15:53.123456Z")
    ctx = AnalysisContext.from_chain(chain)
    fast = RunTables(chain.frame).years_to_expiry(ctx)
    slow = years_to_settlement(chain.frame["expiration"], ctx.as_of)
    assert np.array_equal(fast, slow) and fast[0] == 0.0 and fast[2] > 0


def test_filter_reasons_as_strings_or_categories_are_counted_alike() -> None:
    reasons = ["", "too small", "", "too far", "too small"]
    for series in (pd.Series(reasons, dtype=object), reason_series([0, 1, 0, 2, 1], ["", "too small", "too far"],
                                                                    pd.RangeIndex(5))):
        keep, dropped = _keep_and_count(series)
        assert keep.tolist() == [True, False, True, False, False]
        assert dropped == {"too small": 2, "too far": 1}


def test_a_stage_called_on_its_own_gives_the_runners_figures() -> None:
    # the runner hands each step the stage's prepared tables; without the runner they are built on demand
    chain = small_chain()
    ctx = AnalysisContext.from_chain(chain)
    result = Pipeline.from_profile(load_profile("testing", env={})).run(chain.frame, ctx)
    for stage in Pipeline.from_profile(load_profile("testing", env={})).stages[1:]:
        candidates = stage.candidates(result.chain, ctx)
        keep = (stage.filter_reasons(candidates, ctx).astype(str) == "").to_numpy()
        kept = stage.sort(candidates[keep], ctx).reset_index(drop=True)
        alone = stage.summarize(result.chain, kept, ctx)
        assert json.dumps(alone, sort_keys=True) == json.dumps(result.stage(stage.name).summary, sort_keys=True)
        assert kept.equals(result.stage(stage.name).opportunities)
