"""Volatility-targeted: a fixed dollar swing per trade measured in ATRs.

contracts = floor(`target_risk_usd` (500) / (ATR x `atr_multiple` (1) x multiplier)), at most
`max_contracts`; zero while the ATR is unknown.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from .base import SizeDecision, Sizer, SizingContext, whole_contracts


@dataclass(frozen=True)
class VolatilityTargetSettings:
    target_risk_usd: float = 500.0
    atr_multiple: float = 1.0
    max_contracts: int = 10


class VolatilityTarget(Sizer):
    name = "volatility_target"

    def __init__(self, settings: VolatilityTargetSettings = VolatilityTargetSettings()) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "VolatilityTarget":
        return cls(VolatilityTargetSettings(**settings))

    def size(self, context: SizingContext) -> SizeDecision:
        s = self.settings
        if not (math.isfinite(context.atr_points) and context.atr_points > 0):
            return SizeDecision(0, "volatility_target: ATR not known yet")
        per = context.atr_points * s.atr_multiple * context.multiplier
        n = whole_contracts(s.target_risk_usd, per, s.max_contracts)
        return SizeDecision(n, f"volatility_target: ${s.target_risk_usd:,.2f} / (ATR {context.atr_points:.2f} x "
                               f"{s.atr_multiple:g} x ${context.multiplier:g}) -> {n}")
