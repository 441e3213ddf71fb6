"""IFD v1.0 signals: the volume-spike stage run on each chain snapshot's *interval* volume.

The chain's volume is cumulative for the day, so a spike here means unusual flow since the
previous snapshot of the day (the first snapshot of a day compares with nothing: its volume is
the day's so far). The stage (`analysis_engine/volume_spike.py`) decides what spikes, the
direction (calls LONG, puts SHORT), the target (the strike) and the stop (half the distance on the
other side); this source keeps the spikes with a target (out of the money) and, by default, only
the actionable ones (strike within the stage's `actionable_distance`).

Confidence = volume/OI over the EXTREME tier threshold, capped at 1 (the tier is kept beside it).
IFD v1.0 has no expected value: that column stays NaN.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ....config_manager import Profile
from ...pipeline import AnalysisContext
from ...volume_spike import VolumeSpikeAnalysis, VolumeSpikeConfig
from ..feeds.market_events import EVENT_CHAIN
from ..shadow_config import SignalSourceConfig
from .base import SignalInput, SignalSource, empty_ideas, ideas_frame, stage_settings


#: (evidence key, spike column) of the figures each idea carries, in the evidence's order
EVIDENCE_FIGURES = (("interval_volume", "volume"), ("open_interest", "open_interest"), ("vol_oi", "vol_oi"),
                    ("notional_usd", "notional"), ("last", "last"), ("distance_pct", "distance_pct"))


class IfdV1SignalSource(SignalSource):
    """Volume spikes in the interval since the previous snapshot, as trade ideas."""

    algorithm: ClassVar[str] = "ifd_v1"
    event_kind: ClassVar[str] = EVENT_CHAIN

    def __init__(self, name: str, config: VolumeSpikeConfig, *, actionable_only: bool = True,
                 trade: bool = True, tick_size: float = 0.25) -> None:
        super().__init__(name, trade=trade)
        self.stage = VolumeSpikeAnalysis(config)
        self.actionable_only = actionable_only
        self.tick_size = tick_size

    def settings_identity(self) -> str | None:
        return repr((type(self).__name__, self.name, self.trade, self.stage.config, self.actionable_only,
                     self.tick_size))

    @classmethod
    def from_profile(cls, source: SignalSourceConfig, profile: Profile, shadow: Any) -> "IfdV1SignalSource":
        config = stage_settings(profile, "volume_spike", "stage.volume_spike.schema.json", source, VolumeSpikeConfig)
        return cls(source.name, config, actionable_only=shadow.signals.ifd_v1_actionable_only, trade=source.trade,
                   tick_size=float(profile.section("instrument").get("tick_size", 0.25)))

    def generate(self, event: SignalInput) -> pd.DataFrame:
        if event.chain is None or event.interval_chain is None:
            return empty_ideas()
        ctx = AnalysisContext.from_chain(event.chain, tick_size=self.tick_size)
        candidates = self.stage.candidates(event.interval_chain, ctx)
        keep = (self.stage.filter_reasons(candidates, ctx) == "").to_numpy() & candidates["target"].notna().to_numpy()
        if self.actionable_only:
            keep &= candidates["actionable"].to_numpy(dtype=bool)
        spikes = self.stage.sort(candidates[keep], ctx)
        if spikes.empty:
            return empty_ideas()
        extreme = self.stage.config.tiers.EXTREME
        as_of = event.chain.meta.as_of.isoformat()
        underlying = float(ctx.underlying_price)
        figures = {name: spikes[column].to_numpy(dtype="float64").tolist() for name, column in EVIDENCE_FIGURES}
        expirations = [str(pd.Timestamp(e).date()) for e in spikes["expiration"].tolist()]
        evidence = [{"snapshot_as_of": as_of, "chain_underlying": underlying,
                     **{name: figures[name][i] for name, _ in EVIDENCE_FIGURES}, "expiration": expirations[i]}
                    for i in range(len(spikes))]
        return ideas_frame({
            "contract": spikes["contract"].astype("str").to_numpy(),
            "strike": spikes["strike"].to_numpy(dtype="float64"),
            "option_right": spikes["right"].to_numpy(),
            "direction": spikes["direction"].to_numpy(),
            "target": spikes["target"].to_numpy(dtype="float64"),
            "stop": _to_tick(spikes["stop"].to_numpy(dtype="float64"), self.tick_size),
            "confidence": np.minimum(spikes["vol_oi"].to_numpy(dtype="float64") / extreme, 1.0),
            "tier": spikes["tier"].to_numpy(),
            "expected_value_points": np.full(len(spikes), np.nan),
            "evidence": evidence,
        })


def _to_tick(values: np.ndarray, tick: float) -> np.ndarray:
    """Stops rounded to the futures tick (a resting stop order sits on a tick)."""
    return np.round(values / tick) * tick
