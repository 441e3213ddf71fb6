"""The shadow_trading profile section: schema defaults equal the frozen config's, cross-field checks."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tasks.options_trading_system.analysis_engine.strategies.shadow_config import ShadowTradingConfig
from tasks.options_trading_system.config_manager import load_profile, validate_document
from tasks.options_trading_system.errors import ConfigError


def _defaults() -> dict:
    document: dict = {}
    validate_document(document, "shadow_trading.schema.json", source=Path("test"))
    return document


def test_the_schema_defaults_are_the_dataclass_defaults() -> None:
    assert ShadowTradingConfig.from_mapping(_defaults()) == ShadowTradingConfig()


def test_the_shadow_trading_profile_loads_and_trades_mnq() -> None:
    config = ShadowTradingConfig.from_profile(load_profile("shadow_trading"))
    assert config.execution.instrument == "MNQ" and config.execution.multiplier == 2
    assert [s.name for s in config.signals.sources] == ["ifd_v1", "ifd_v3", "ev"]
    assert (config.window.start, config.window.end, config.window.timezone) == ("09:30", "16:00", "America/New_York")


def test_an_ab_arm_that_is_not_a_source_is_refused_by_name() -> None:
    section = _defaults()
    section["ab_testing"]["b"] = "ifd_v9"
    with pytest.raises(ConfigError, match=r"`shadow_trading.ab_testing.b` = 'ifd_v9' is not a signal source"):
        ShadowTradingConfig.from_mapping(section)


def test_a_false_positive_threshold_above_the_pass_score_is_refused() -> None:
    section = _defaults()
    section["validation"]["false_positive_below"] = 0.9
    with pytest.raises(ConfigError, match="false_positive_below"):
        ShadowTradingConfig.from_mapping(section)


def test_duplicate_source_names_are_refused() -> None:
    section = _defaults()
    section["signals"]["sources"] = [copy.deepcopy(section["signals"]["sources"][0])] * 2
    with pytest.raises(ConfigError, match="must be unique"):
        ShadowTradingConfig.from_mapping(section)


def test_the_schema_rejects_more_than_seven_days() -> None:
    with pytest.raises(ConfigError, match="days"):
        validate_document({"days": 8}, "shadow_trading.schema.json", source=Path("test"))


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_shadow_runs_count_positions_per_signal_and_limited_live_nets_them() -> None:
    """The OPPOSITE_SIDE decision: a shadow run's independent sources are separate paper books
    (no netting, no OPPOSITE_SIDE), with or without a `shadow_trading.risk` section; limited live
    trades one real account and refuses per-signal netting."""
    from tasks.options_trading_system.analysis_engine.strategies.limited_live_trading_orchestrator import \
        limited_live_risk
    derived = ShadowTradingConfig.from_profile(load_profile("shadow_trading")).risk_config()
    assert (derived.max_position.netting, derived.max_position.max_contracts) == ("per_signal", 3)
    given = ShadowTradingConfig.from_mapping({**_defaults(), "risk": {"max_position": {"max_contracts": 2}}})
    assert given.risk_config().max_position.netting == "per_signal"
    assert limited_live_risk(load_profile("limited_live")).max_position.netting == "account"
    with pytest.raises(ConfigError, match="limited_live.risk.max_position.netting"):
        limited_live_risk(load_profile("limited_live", overrides={
            "limited_live": {"risk": {"max_position": {"netting": "per_signal"}}}}))
