"""The options' ATM implied-volatility term structure of one chain snapshot: front and next expiration.

What the volatility carry strategy reads. The IVs are the greeks stage's own (`GreeksAnalysis`:
Black-76 implied volatility at the snapshot's forward, `atm_iv` per expiration from the smile),
so a snapshot's term structure is exactly what the pipeline reports for it; nothing here solves
an IV a second way.

Front = the nearest expiration still before its settlement at the snapshot's time and with an ATM
IV; next = the one after it with an ATM IV. The result is stamped with the snapshot's `as_of`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data_ingestion.canonical import OptionsChain
from .greeks import GreeksAnalysis, GreeksConfig
from .pipeline import AnalysisContext


@dataclass(frozen=True)
class TermStructure:
    """Front and next expiration ATM IV of one snapshot (NaN and a note when it cannot be had)."""

    as_of_ns: int                      # the snapshot's time, ns since the epoch (UTC)
    front_expiration: pd.Timestamp | None
    front_atm_iv: float
    next_expiration: pd.Timestamp | None
    next_atm_iv: float
    note: str = ""

    @property
    def complete(self) -> bool:
        return math.isfinite(self.front_atm_iv) and math.isfinite(self.next_atm_iv)

    @property
    def spread(self) -> float:
        """next - front: > 0 contango, < 0 backwardation."""
        return self.next_atm_iv - self.front_atm_iv


def term_structure(chain: OptionsChain, config: GreeksConfig = GreeksConfig(),
                   enriched: pd.DataFrame | None = None) -> TermStructure:
    """The snapshot's front and next expiration ATM IV, by the pipeline's greeks stage (`enriched`:
    the greeks stage's frame of this chain when already computed, e.g. by a replay's snapshot store)."""
    as_of = pd.Timestamp(chain.meta.as_of)
    as_of = as_of.tz_localize("UTC") if as_of.tzinfo is None else as_of.tz_convert("UTC")
    if chain.frame.empty:
        return TermStructure(as_of.value, None, math.nan, None, math.nan, "the snapshot has no contracts")
    ctx = AnalysisContext.from_chain(chain)
    if enriched is None:
        enriched = GreeksAnalysis(config).enrich(chain.frame, ctx)
    live = enriched[(enriched["years_to_expiry"].to_numpy(dtype=np.float64) > 0)
                    & np.isfinite(enriched["atm_iv"].to_numpy(dtype=np.float64))]
    per_expiration = live.groupby("expiration", sort=True)["atm_iv"].first()
    points = [(pd.Timestamp(e), float(v)) for e, v in per_expiration.items()]
    if len(points) < 2:
        note = (f"{len(points)} expiration(s) with an ATM implied volatility at the forward "
                f"{ctx.underlying_price:g}; a term structure needs two")
        front = points[0] if points else (None, math.nan)
        return TermStructure(as_of.value, front[0], front[1], None, math.nan, note)
    (front_exp, front_iv), (next_exp, next_iv) = points[0], points[1]
    return TermStructure(as_of.value, front_exp, front_iv, next_exp, next_iv)
