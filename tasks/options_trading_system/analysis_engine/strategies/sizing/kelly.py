"""Kelly: the growth-optimal fraction from the ledger's realised outcomes, capped.

f* = W - (1 - W) / R with W the realised win rate and R the payoff (average win / average loss);
the fraction used is min(f* x `kelly_multiplier` (0.5, "half Kelly"), `max_fraction` (0.05)); zero
below `min_outcomes` (30) realised trades or when f* <= 0 (no edge: do not trade).
contracts = floor(equity x fraction / risk per contract), at most `max_contracts`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from .base import SizeDecision, Sizer, SizingContext, whole_contracts


@dataclass(frozen=True)
class KellySettings:
    min_outcomes: int = 30
    kelly_multiplier: float = 0.5
    max_fraction: float = 0.05
    max_contracts: int = 10


class Kelly(Sizer):
    name = "kelly"

    def __init__(self, settings: KellySettings = KellySettings()) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "Kelly":
        return cls(KellySettings(**settings))

    def size(self, context: SizingContext) -> SizeDecision:
        s, o = self.settings, context.outcomes
        if o.trades < s.min_outcomes:
            return SizeDecision(0, f"kelly: {o.trades} realised outcomes, need {s.min_outcomes}")
        w, r = o.win_rate, o.payoff
        if not math.isfinite(r):
            return SizeDecision(0, "kelly: payoff unknown (no wins or no losses yet)")
        f = w - (1 - w) / r
        if f <= 0:
            return SizeDecision(0, f"kelly: no edge (win rate {w:.1%}, payoff {r:.2f}, f* {f:.3f})")
        fraction = min(f * s.kelly_multiplier, s.max_fraction)
        per = context.risk_per_contract_usd
        n = whole_contracts(context.equity_usd * fraction, per, s.max_contracts)
        return SizeDecision(n, f"kelly: win rate {w:.1%}, payoff {r:.2f}, f* {f:.3f}, used {fraction:.3f} of "
                               f"${context.equity_usd:,.2f} / ${per:,.2f} per contract -> {n}")
