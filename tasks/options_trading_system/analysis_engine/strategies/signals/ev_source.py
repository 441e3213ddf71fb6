"""EV signals: the trader's expected-value setups (`analysis_engine/expected_value.py`) on each snapshot.

The greeks stage comes first (the EV stage's market probability needs the ATM IV), then the EV
stage ranks (target, stop) pairs taken from the strikes; the best `ev_top_n` setups become ideas.
Confidence = the model's probability of reaching the target first; expected value in points.
When the event brings the snapshot's greeks (a replay computes them once per snapshot, see
`feeds/snapshot_store.py`) with this source's greeks settings, they are used as they are; the
stage's summary, which no idea reads, is not computed.
"""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ....config_manager import Profile
from ...expected_value import ExpectedValueAnalysis, ExpectedValueConfig
from ...greeks import GreeksAnalysis, GreeksConfig
from ...pipeline import AnalysisContext, RunTables, rank
from ..feeds.market_events import EVENT_CHAIN
from ..shadow_config import SignalSourceConfig
from .base import SignalInput, SignalSource, empty_ideas, ideas_frame, stage_settings

EVIDENCE_COLUMNS = ("reward", "risk", "reward_risk", "probability", "ev_points", "ev_dollars", "oi_factor",
                    "volume_factor", "premium_factor", "distance_factor", "market_probability", "edge")


class EvSignalSource(SignalSource):
    """The top expected-value setups of each snapshot as trade ideas."""

    algorithm: ClassVar[str] = "ev"
    event_kind: ClassVar[str] = EVENT_CHAIN

    def __init__(self, name: str, greeks: GreeksConfig, config: ExpectedValueConfig, *, top_n: int = 1,
                 trade: bool = True, tick_size: float = 0.25) -> None:
        super().__init__(name, trade=trade)
        self.greeks = GreeksAnalysis(greeks)
        self.stage = ExpectedValueAnalysis(config)
        self.top_n = top_n
        self.tick_size = tick_size

    @property
    def greeks_config(self) -> GreeksConfig:
        return self.greeks.config

    def settings_identity(self) -> str | None:
        return repr((type(self).__name__, self.name, self.trade, self.greeks.config, self.stage.config,
                     self.stage.prune, self.top_n, self.tick_size))

    @classmethod
    def from_profile(cls, source: SignalSourceConfig, profile: Profile, shadow: Any) -> "EvSignalSource":
        greeks = stage_settings(profile, "greeks", "stage.greeks.schema.json",
                                SignalSourceConfig(name=source.name, algorithm="greeks"), GreeksConfig)
        config = stage_settings(profile, "expected_value", "stage.expected_value.schema.json", source,
                                ExpectedValueConfig)
        return cls(source.name, greeks, config, top_n=shadow.signals.ev_top_n, trade=source.trade,
                   tick_size=float(profile.section("instrument").get("tick_size", 0.25)))

    def generate(self, event: SignalInput) -> pd.DataFrame:
        if event.chain is None:
            return empty_ideas()
        ctx = AnalysisContext.from_chain(event.chain, tick_size=self.tick_size)
        base = dataclasses.replace(ctx, tables=RunTables(event.chain.frame))
        if event.greeks is not None and event.greeks.config == self.greeks.config:
            chain = event.greeks.frame
        else:
            chain = self.greeks.enrich(event.chain.frame, base)
        stage_ctx = dataclasses.replace(base, prepared=self.stage.prepare(chain, base))
        _, kept, _ = rank(self.stage, chain, stage_ctx)
        setups = kept.head(self.top_n)
        if setups.empty:
            return empty_ideas()
        as_of = event.chain.meta.as_of.isoformat()
        underlying = float(ctx.underlying_price)
        figures = {c: setups[c].tolist() for c in EVIDENCE_COLUMNS}
        missing = setups["missing_factors"].tolist()
        evidence = [{"snapshot_as_of": as_of, "chain_underlying": underlying,
                     **{c: (None if pd.isna(figures[c][i]) else float(figures[c][i])) for c in EVIDENCE_COLUMNS},
                     "missing_factors": str(missing[i])}
                    for i in range(len(setups))]
        return ideas_frame({
            "contract": [None] * len(setups),
            "strike": np.full(len(setups), np.nan),
            "option_right": [None] * len(setups),
            "direction": setups["direction"].to_numpy(),
            "target": setups["target"].to_numpy(dtype="float64"),
            "stop": setups["stop"].to_numpy(dtype="float64"),
            "confidence": setups["probability"].to_numpy(dtype="float64"),
            "tier": [None] * len(setups),
            "expected_value_points": setups["ev_points"].to_numpy(dtype="float64"),
            "evidence": evidence,
        })
