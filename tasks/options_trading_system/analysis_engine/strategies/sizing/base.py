"""The position-sizing interface: how many contracts an intent deserves, before the guards.

A sizer answers a whole number of contracts (0 = do not trade) and why. Its answer is a wish: the
risk engine's guards see every order afterwards and may refuse it (1 contract in limited live).
Everything a sizer reads comes in `SizingContext`, so sizing is a pure function of its inputs.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping


@dataclass(frozen=True)
class OutcomeStats:
    """Realised outcomes of past trades (from the ledger): counts and average win / loss in USD."""

    trades: int = 0
    wins: int = 0
    average_win_usd: float = math.nan
    average_loss_usd: float = math.nan   # a positive number: the average size of a loss

    @property
    def win_rate(self) -> float:
        return self.wins / self.trades if self.trades else math.nan

    @property
    def payoff(self) -> float:
        """Average win / average loss (NaN when either is unknown or the loss is 0)."""
        if not (math.isfinite(self.average_win_usd) and math.isfinite(self.average_loss_usd)) \
                or self.average_loss_usd <= 0:
            return math.nan
        return self.average_win_usd / self.average_loss_usd


@dataclass(frozen=True)
class SizingContext:
    equity_usd: float            # account equity (broker snapshot, or the profile's paper equity)
    multiplier: float            # USD per point of the traded future (NQ 20, MNQ 2)
    entry: float
    stop: float
    atr_points: float = math.nan
    outcomes: OutcomeStats = OutcomeStats()

    @property
    def risk_per_contract_usd(self) -> float:
        return abs(self.entry - self.stop) * self.multiplier


@dataclass(frozen=True)
class SizeDecision:
    contracts: int
    reason: str


class Sizer(ABC):
    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "Sizer":
        """Build from the profile's `sizing` object (defaults filled)."""

    @abstractmethod
    def size(self, context: SizingContext) -> SizeDecision:
        """Contracts for one intent (0 = skip), with the numbers behind it."""


def whole_contracts(budget_usd: float, per_contract_usd: float, cap: int) -> int:
    """floor(budget / per contract), clamped to [0, cap]; 0 when either is not a positive number.
    A ratio within 1e-9 of a whole number counts as that number (0.6 - 0.4 / 2 is 0.19999...)."""
    if not (math.isfinite(budget_usd) and math.isfinite(per_contract_usd)) or budget_usd <= 0 or per_contract_usd <= 0:
        return 0
    return int(max(0, min(cap, math.floor(budget_usd / per_contract_usd + 1e-9))))
