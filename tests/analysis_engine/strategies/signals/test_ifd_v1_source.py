"""IFD v1.0 signals from a hand-made chain: only interval spikes out of the money and actionable."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.signals import SignalInput
from tasks.options_trading_system.analysis_engine.strategies.signals.ifd_v1_source import IfdV1SignalSource
from tasks.options_trading_system.analysis_engine.strategies.signals.interval_volume import with_interval_volume
from tasks.options_trading_system.analysis_engine.volume_spike import VolumeSpikeConfig
from tasks.options_trading_system.data_ingestion.canonical import ChainMeta, OptionsChain, build_chain_frame

AS_OF = pd.Timestamp("2025-06-02 15:00", tz="UTC")


def _chain(volume: list[float]) -> OptionsChain:
    # underlying 21,500; calls at 21,550 and 21,450 (ITM), a put at 21,450; all with last 100
    frame = build_chain_frame({
        "contract": ["C21550", "C21450", "P21450", "C22500"], "root": ["NQ"] * 4,
        "expiration": ["2025-06-06"] * 4, "strike": [21550.0, 21450.0, 21450.0, 22500.0],
        "right": ["C", "C", "P", "C"], "bid": [99.0] * 4, "ask": [101.0] * 4, "last": [100.0] * 4,
        "volume": volume, "open_interest": [100.0, 100.0, 100.0, 100.0]})
    meta = ChainMeta(underlying_symbol="NQM25", source="test", as_of=AS_OF, multiplier=20.0, underlying_price=21500.0)
    return OptionsChain(frame=frame, meta=meta)


def test_interval_spikes_become_ideas_with_the_stage_levels_and_a_scaled_confidence() -> None:
    before = _chain([200.0, 200.0, 200.0, 200.0]).frame
    now = _chain([2700.0, 2700.0, 1300.0, 6000.0])
    source = IfdV1SignalSource("ifd_v1", VolumeSpikeConfig())
    ideas = source.generate(SignalInput(time=AS_OF, price=21500.0, chain=now,
                                        interval_chain=with_interval_volume(now.frame, before)))
    # interval volumes: 2,500 / 2,500 / 1,100 / 5,800 over OI 100: ratios 25, 25, 11, 58
    # C21450 is in the money (no target); C22500 is 4.7% away (not actionable, max 2%)
    assert ideas["contract"].tolist() == ["C21550", "P21450"]
    call, put = ideas.iloc[0], ideas.iloc[1]
    assert (call["direction"], call["target"], call["stop"]) == ("LONG", 21550.0, 21475.0)   # half of 50 below
    assert (put["direction"], put["target"], put["stop"]) == ("SHORT", 21450.0, 21525.0)
    assert call["confidence"] == pytest.approx(25 / 50) and put["confidence"] == pytest.approx(11 / 50)
    assert call["tier"] == "HIGH" and np.isnan(call["expected_value_points"])
    assert call["evidence"]["interval_volume"] == 2500.0


def test_cumulative_volume_alone_does_not_fire_again() -> None:
    spiked = _chain([2700.0, 200.0, 200.0, 200.0])
    later = _chain([2750.0, 250.0, 250.0, 250.0])   # 50 more each: ordinary flow
    source = IfdV1SignalSource("ifd_v1", VolumeSpikeConfig())
    ideas = source.generate(SignalInput(time=AS_OF, price=21500.0, chain=later,
                                        interval_chain=with_interval_volume(later.frame, spiked.frame)))
    assert ideas.empty


def test_actionable_only_can_be_switched_off() -> None:
    now = _chain([200.0, 200.0, 200.0, 6000.0])
    source = IfdV1SignalSource("ifd_v1", dataclasses.replace(VolumeSpikeConfig()), actionable_only=False)
    ideas = source.generate(SignalInput(time=AS_OF, price=21500.0, chain=now, interval_chain=now.frame))
    assert "C22500" in ideas["contract"].tolist()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
