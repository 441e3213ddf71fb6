"""EV signals are the expected-value stage's best setups, carried over unchanged."""
from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.expected_value import ExpectedValueAnalysis, ExpectedValueConfig
from tasks.options_trading_system.analysis_engine.greeks import GreeksAnalysis, GreeksConfig
from tasks.options_trading_system.analysis_engine.pipeline import AnalysisContext, Pipeline
from tasks.options_trading_system.analysis_engine.strategies.feeds.snapshot_store import greeks_table
from tasks.options_trading_system.analysis_engine.strategies.signals import SignalInput
from tasks.options_trading_system.analysis_engine.strategies.signals.ev_source import EvSignalSource
from tasks.options_trading_system.data_ingestion.canonical import validate_chain
from tasks.options_trading_system.sample_data.chain import generate_chain


def test_the_best_setups_become_ideas_with_probability_as_confidence() -> None:
    chain = validate_chain(generate_chain(400))
    source = EvSignalSource("ev", GreeksConfig(), ExpectedValueConfig(), top_n=2)
    ideas = source.generate(SignalInput(time=chain.meta.as_of, price=chain.meta.underlying_price, chain=chain))
    reference = Pipeline([GreeksAnalysis(GreeksConfig()), ExpectedValueAnalysis(ExpectedValueConfig())]).run(
        chain.frame, AnalysisContext.from_chain(chain)).stage("expected_value").opportunities.head(2)
    assert len(ideas) == len(reference) == 2
    assert ideas["direction"].tolist() == reference["direction"].tolist()
    assert ideas["target"].tolist() == reference["target"].tolist()
    assert ideas["stop"].tolist() == reference["stop"].tolist()
    assert ideas["confidence"].tolist() == pytest.approx(reference["probability"].tolist())
    assert ideas["expected_value_points"].tolist() == pytest.approx(reference["ev_points"].tolist())
    assert ideas["contract"].isna().all()
    assert ideas["evidence"].iloc[0]["market_probability"] == pytest.approx(reference["market_probability"].iloc[0])


def test_greeks_computed_once_by_the_feed_give_the_same_ideas_and_other_settings_are_not_reused() -> None:
    chain = validate_chain(generate_chain(400))
    source = EvSignalSource("ev", GreeksConfig(), ExpectedValueConfig(), top_n=3)
    plain = SignalInput(time=chain.meta.as_of, price=chain.meta.underlying_price, chain=chain)
    shared = SignalInput(time=chain.meta.as_of, price=chain.meta.underlying_price, chain=chain,
                         greeks=greeks_table(chain, GreeksConfig()))
    pd.testing.assert_frame_equal(source.generate(shared), source.generate(plain))
    # the shared greeks are what the source reads (no ATM IV there: other ideas)...
    blind = greeks_table(chain, GreeksConfig())
    blind = dataclasses.replace(blind, frame=blind.frame.assign(iv=float("nan"), atm_iv=float("nan")))
    used = source.generate(dataclasses.replace(shared, greeks=blind))
    assert not used.equals(source.generate(plain))
    # ...unless they were computed with other settings: then the source computes its own
    other = dataclasses.replace(shared, greeks=dataclasses.replace(blind, config=GreeksConfig(risk_free_rate=0.5)))
    pd.testing.assert_frame_equal(source.generate(other), source.generate(plain))
    assert source.greeks_config == GreeksConfig()


def test_no_chain_no_ideas() -> None:
    source = EvSignalSource("ev", GreeksConfig(), ExpectedValueConfig())
    assert source.generate(SignalInput(time=pd.Timestamp("2025-06-02", tz="UTC"), price=21500.0)).empty


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
