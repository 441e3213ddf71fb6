"""Fixed-fractional: risk `risk_fraction` (1%) of equity to the stop.

contracts = floor(equity x risk_fraction / (|entry - stop| x multiplier)), at most `max_contracts`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .base import SizeDecision, Sizer, SizingContext, whole_contracts


@dataclass(frozen=True)
class FixedFractionalSettings:
    risk_fraction: float = 0.01
    max_contracts: int = 10


class FixedFractional(Sizer):
    name = "fixed_fractional"

    def __init__(self, settings: FixedFractionalSettings = FixedFractionalSettings()) -> None:
        if not 0 < settings.risk_fraction <= 1:
            raise ValueError(f"fixed_fractional sizing: risk_fraction must be in (0, 1], got {settings.risk_fraction}")
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "FixedFractional":
        return cls(FixedFractionalSettings(**settings))

    def size(self, context: SizingContext) -> SizeDecision:
        budget = context.equity_usd * self.settings.risk_fraction
        per = context.risk_per_contract_usd
        n = whole_contracts(budget, per, self.settings.max_contracts)
        return SizeDecision(n, f"fixed_fractional: {self.settings.risk_fraction:.2%} of ${context.equity_usd:,.2f} "
                               f"= ${budget:,.2f} / ${per:,.2f} risk per contract -> {n}")
