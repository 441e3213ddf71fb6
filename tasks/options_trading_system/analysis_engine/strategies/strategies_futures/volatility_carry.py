"""Volatility carry: the options' ATM implied-volatility term structure sets the bias.

Rule, on each closed bar of `period` (30m by default), with the latest chain snapshot's ATM IVs
(front and next expiration, from the pipeline's greeks stage) no older than `max_age_minutes`:
- contango: next - front >= `min_spread` (0.01 = 1 vol point): calm markets carry upward -> LONG;
- backwardation: front - next >= `min_spread`: near-term stress -> SHORT;
- one intent per regime change (a new contango or backwardation episode), stop `stop_atr` (2)
  ATRs behind, target `target_atr` (2) ahead.
Without a fresh term structure it does nothing (and says nothing: no data, no trade). The intent's
reason names the chain snapshot it read. In a tick run the term structure comes from a chain
recording (`tick_execution.term_structure.chains`, `feeds/term_structure_source.py`): each bar sees
the latest snapshot taken at or before its end.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from dataclasses import dataclass
from typing import Any, Mapping

from ..indicators.streaming import ATR
from .base import LONG, SHORT, Bar, FuturesStrategy, Intent, MarketState, levels

NS_PER_MINUTE = 60_000_000_000


def _utc(ns: int | None) -> str:
    """`ns` since the epoch as ISO-8601 UTC to the second (the snapshot time an intent names)."""
    if ns is None:
        return "unknown time"
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class VolatilityCarrySettings:
    period: str = "30m"
    min_spread: float = 0.01
    max_age_minutes: float = 60.0
    atr_period: int = 14
    stop_atr: float = 2.0
    target_atr: float = 2.0


class VolatilityCarry(FuturesStrategy):
    name = "volatility_carry"

    def __init__(self, settings: VolatilityCarrySettings = VolatilityCarrySettings()) -> None:
        self.settings = settings
        self._atr = ATR(settings.atr_period)
        self._regime = 0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "VolatilityCarry":
        return cls(VolatilityCarrySettings(**settings))

    @property
    def periods(self) -> tuple[str, ...]:
        return (self.settings.period,)

    def on_bar(self, bar: Bar, market: MarketState) -> Intent | None:
        s = self.settings
        atr = self._atr.update(bar.high, bar.low, bar.close)
        fresh = (market.term_structure_time_ns is not None
                 and bar.end_ns - market.term_structure_time_ns <= s.max_age_minutes * NS_PER_MINUTE)
        if not (fresh and math.isfinite(market.front_atm_iv) and math.isfinite(market.next_atm_iv)):
            return None
        spread = market.next_atm_iv - market.front_atm_iv
        regime = 1 if spread >= s.min_spread else -1 if -spread >= s.min_spread else 0
        changed = regime != self._regime
        self._regime = regime
        if regime == 0 or not changed or not (math.isfinite(atr) and atr > 0):
            return None
        direction = LONG if regime > 0 else SHORT
        stop, target = levels(direction, bar.close, s.stop_atr * atr, s.target_atr * atr)
        return Intent(strategy=self.name, time_ns=bar.end_ns, direction=direction, entry_reference=bar.close,
                      stop=stop, target=target, confidence=min(abs(spread) / (3 * s.min_spread), 1.0),
                      reason=f"{'contango' if regime > 0 else 'backwardation'}: next ATM IV "
                             f"{market.next_atm_iv:.2%} vs front {market.front_atm_iv:.2%} (chain snapshot of "
                             f"{_utc(market.term_structure_time_ns)})")
