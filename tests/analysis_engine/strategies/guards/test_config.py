"""The risk section of a profile: schema defaults equal the frozen config's; bad values exit 2."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from tasks.options_trading_system.analysis_engine.strategies.guards import GUARD_CLASSES, RiskConfig
from tasks.options_trading_system.config_manager import SCHEMA_DIR, load_json_file, validate_document
from tasks.options_trading_system.errors import ConfigError


def test_the_schema_defaults_are_the_dataclass_defaults() -> None:
    document: dict = {}
    validate_document(document, "risk.schema.json", source=Path("test"))
    assert RiskConfig.from_dict(document) == RiskConfig()
    assert RiskConfig.from_dict({}) == RiskConfig()


def test_the_limited_live_defaults_are_the_documented_caps() -> None:
    risk = RiskConfig()
    assert risk.max_position.max_contracts == 1
    assert risk.max_daily_loss.limit_usd == 50
    assert risk.max_total_risk.limit_usd == 200
    assert (risk.data_cost.daily_usd, risk.data_cost.monthly_usd) == (8, 200)
    assert risk.cost_per_signal.target_usd == 5


def test_every_guard_has_a_schema_section_and_every_property_a_description_and_default() -> None:
    schema = load_json_file(SCHEMA_DIR / "risk.schema.json")
    assert set(GUARD_CLASSES) <= set(schema["properties"])

    def walk(node: dict, path: str) -> None:
        for key, sub in node.get("properties", {}).items():
            assert sub.get("description"), f"{path}.{key} has no description"
            assert "default" in sub, f"{path}.{key} has no default"
            walk(sub, f"{path}.{key}")
    walk(schema, "$")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_limit_is_refused_naming_the_key(value: float) -> None:
    with pytest.raises(ConfigError, match=r"`limited_live.risk.max_daily_loss.limit_usd` = .*expected a finite"):
        RiskConfig.from_dict({"max_daily_loss": {"limit_usd": value}})


def test_a_cap_above_its_sane_maximum_is_refused() -> None:
    with pytest.raises(ConfigError, match="max_contracts"):
        RiskConfig.from_dict({"max_position": {"max_contracts": 50}})


def test_an_unknown_setting_is_refused_listing_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown key 'max_loss'.*max_daily_loss"):
        RiskConfig.from_dict({"max_loss": {}})


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ConfigError, match="trading_window"):
        RiskConfig.from_dict({"trading_window": {"start": "16:00", "end": "09:30"}})


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ConfigError, match="IANA"):
        RiskConfig.from_dict({"trading_window": {"timezone": "Mars/Olympus"}})


def test_a_daily_data_cap_above_the_monthly_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="daily_usd"):
        RiskConfig.from_dict({"data_cost": {"daily_usd": 300, "monthly_usd": 200}})


def test_a_front_month_contract_takes_its_roots_specification() -> None:
    risk = RiskConfig()
    assert risk.instrument("MNQZ6").multiplier == 2
    assert risk.instrument("NQH24").multiplier == 20
    assert risk.instrument("ES") is None and risk.instrument("MNQX") is None


def test_a_frozen_profile_section_is_read_as_is() -> None:
    from types import MappingProxyType

    from tasks.options_trading_system.config_manager import Profile

    frozen = MappingProxyType({"limited_live": MappingProxyType({"risk": MappingProxyType({
        "max_daily_loss": MappingProxyType({"limit_usd": 30})})})})
    profile = Profile(name="test", path=Path("test.json"), layers=(), data=frozen)
    assert RiskConfig.from_profile(profile).max_daily_loss.limit_usd == 30.0
    assert RiskConfig.from_profile(profile, "shadow_trading") == RiskConfig()
    with pytest.raises(ConfigError, match="shadow_trading.risk"):
        RiskConfig.from_dict({"max_position": {"max_contracts": 0}}, where="shadow_trading.risk")
