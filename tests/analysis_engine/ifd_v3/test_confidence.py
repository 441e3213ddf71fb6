"""The confidence components and tiers, worked by hand, and the settings that keep 1.0 reachable."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.options_trading_system.analysis_engine.ifd_v3 import confidence as K
from tasks.options_trading_system.analysis_engine.ifd_v3.config import (ConfidenceConfig, IFDv3Config,
                                                                        MarketMakingConfig, TiersConfig, WeightsConfig,
                                                                        WindowConfig, ifd_config_from_mapping)
from tasks.options_trading_system.errors import ConfigError


def test_significance_maps_balanced_to_zero_and_full_pressure_to_one() -> None:
    assert K.significance(0.5, 0.85) == 0.0
    assert K.significance(0.675, 0.85) == pytest.approx(0.5)
    assert K.significance(0.85, 0.85) == 1.0
    assert K.significance(1.0, 0.85) == 1.0


def test_persistence_trend_concentration() -> None:
    assert K.persistence(3, 6) == 0.5
    assert K.trend(30.0, 60.0) == 0.5           # half the net flow came in the recent slices
    assert K.trend(-10.0, 60.0) == 0.0          # the recent flow went the other way
    assert K.trend(5.0, 0.0) == 0.0
    assert K.concentration(50.0, 400.0, 0.25) == 0.5   # 12.5% of the market, full at 25%
    assert K.concentration(50.0, 0.0, 0.25) == 0.0


def test_anomaly_needs_history_and_is_scaled_by_its_quality() -> None:
    # z 2 of full 4 -> 0.5; percentile 0.95 with floor 0.5 -> 0.9; mean 0.7, quality 0.5 -> 0.35
    assert K.anomaly(2.0, 0.95, 0.5, 4.0, 0.5) == pytest.approx(0.35)
    assert K.anomaly(np.nan, np.nan, 0.0, 4.0, 0.5) == 0.0
    assert K.anomaly(10.0, 1.0, 1.0, 4.0, 0.5) == 1.0


def test_weighted_sum_reaches_exactly_one_with_every_component_at_one() -> None:
    params = K.confidence_params(IFDv3Config())
    assert K.combine(params, 1.0, 1.0, 1.0, 1.0, 1.0) == pytest.approx(1.0, abs=1e-12)
    # default weights: 0.25 sig + 0.15 per + 0.10 trend + 0.15 conc + 0.35 anomaly
    assert K.combine(params, 1.0, 0.5, 1.0, 1.0, 0.0) == pytest.approx(0.575)


def test_tiers_by_threshold() -> None:
    tiers = TiersConfig()
    assert K.tier_of(np.array([1.0, 0.9, 0.85, 0.7, 0.65, 0.2]), tiers).tolist() == \
        ["EXTREME", "EXTREME", "VERY_HIGH", "HIGH", "MODERATE", "LOW"]


def test_weights_must_add_up_to_one() -> None:
    with pytest.raises(ConfigError, match="add up to 1"):
        WeightsConfig(significance=0.5, persistence=0.5, trend=0.5, concentration=0.0, anomaly=0.0)


def test_tiers_must_descend() -> None:
    with pytest.raises(ConfigError, match="descend"):
        TiersConfig(extreme=0.7, very_high=0.8)


def test_windows_are_whole_slices_and_components_fit_the_window() -> None:
    with pytest.raises(ConfigError, match="whole number"):
        WindowConfig(window_s=305, slice_s=10)
    with pytest.raises(ConfigError, match="persistence_slices"):
        IFDv3Config(window=WindowConfig(window_s=60, slice_s=10), market_making=MarketMakingConfig(interval_s=60),
                    confidence=ConfidenceConfig(persistence_slices=7, trend_slices=3))
    with pytest.raises(ConfigError, match="market_making.interval_s"):
        ifd_config_from_mapping({"market_making": {"interval_s": 305}})


def test_profile_mapping_becomes_the_frozen_config() -> None:
    config = ifd_config_from_mapping({"signals": {"min_confidence": 0.7, "tiers": {"extreme": 0.95}},
                                      "live": {"symbols": ["NQ.OPT", "Q1A.OPT"]}})
    assert config.signals.min_confidence == 0.7 and config.signals.tiers.extreme == 0.95
    assert config.live.symbols == ("NQ.OPT", "Q1A.OPT")
    assert config.window.window_s == 300


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
