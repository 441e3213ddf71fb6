"""The futures-strategy interface: bars (and the session's VWAP, and the options' term structure)
in, at most one trade intent out per bar.

Strategies decide on closed bars built from ticks (`indicators.bars`), so a replay that builds the
bars in one batch call and a live feed that builds them tick by tick hand every strategy the same
sequence of bars and make the same decisions. Each strategy owns its incremental indicators
(O(1) per bar); nothing here reads a clock, a file or a network.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

LONG = "LONG"
SHORT = "SHORT"


@dataclass(frozen=True)
class Bar:
    """One closed time bar of the future."""

    period: str          # '1m', '5m', '15m', '30m', '1h'
    end_ns: int          # bar end, ns since the epoch (UTC)
    open: float
    high: float
    low: float
    close: float
    volume: float
    trades: int


@dataclass(frozen=True)
class MarketState:
    """What a strategy may know besides its bars, as of the bar's end."""

    vwap: float = math.nan                 # session VWAP of the future's trades
    front_atm_iv: float = math.nan         # the options' ATM IV, front expiration
    next_atm_iv: float = math.nan          # ... next expiration
    term_structure_time_ns: int | None = None  # when that chain snapshot was taken


@dataclass(frozen=True)
class Intent:
    """A strategy's wish to trade: direction and levels, never a size (the sizer and the risk
    engine decide that)."""

    strategy: str
    time_ns: int
    direction: str
    entry_reference: float
    stop: float
    target: float
    confidence: float
    reason: str

    def __post_init__(self) -> None:
        sign = 1.0 if self.direction == LONG else -1.0
        if self.direction not in (LONG, SHORT):
            raise ValueError(f"{self.strategy}: direction must be LONG or SHORT, got {self.direction!r}")
        if not ((self.target - self.entry_reference) * sign > 0 and (self.entry_reference - self.stop) * sign > 0):
            raise ValueError(f"{self.strategy}: a {self.direction} needs stop < entry < target (or the reverse "
                             f"for a SHORT); got stop {self.stop}, entry {self.entry_reference}, target {self.target}")


class FuturesStrategy(ABC):
    """One trading rule. Subclasses state the rule in their docstring, take a frozen settings
    object built from the profile, and listen to the bar periods in `periods`."""

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "FuturesStrategy":
        """Build from the profile's `tick_execution.strategies.<name>` object (defaults filled)."""

    @property
    @abstractmethod
    def periods(self) -> tuple[str, ...]:
        """The bar periods this strategy reads."""

    @abstractmethod
    def on_bar(self, bar: Bar, market: MarketState) -> Intent | None:
        """A closed bar of one of `periods`: maybe an intent (at most one per bar)."""


def levels(direction: str, entry: float, stop_distance: float, target_distance: float) -> tuple[float, float]:
    """(stop, target) at the given distances from the entry on each side of the trade."""
    sign = 1.0 if direction == LONG else -1.0
    return entry - sign * stop_distance, entry + sign * target_distance
