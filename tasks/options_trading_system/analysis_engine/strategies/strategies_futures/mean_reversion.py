"""Mean reversion: RSI divergence far from VWAP, back to VWAP, stop at 2 x ATR.

Rule, on each closed bar of `period` (5m by default; 15m in the slower variant):
- the close is at least `vwap_atr_distance` ATRs below the session VWAP (above, for a SHORT);
- RSI divergence: the close is below the lowest close of the previous `lookback` bars (a new low),
  excluding the last `min_gap` bars, while RSI is above the RSI at that earlier low (a bullish
  divergence; mirrored for a SHORT: a new high with a lower RSI);
- then LONG (SHORT) with the target at the VWAP and the stop `stop_atr` (2) ATRs beyond the entry.
Confidence grows with the distance from VWAP in ATRs, capped at 1.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Mapping

from ..indicators.streaming import ATR, RSI
from .base import LONG, SHORT, Bar, FuturesStrategy, Intent, MarketState


@dataclass(frozen=True)
class MeanReversionSettings:
    period: str = "5m"
    rsi_period: int = 14
    atr_period: int = 14
    lookback: int = 20
    min_gap: int = 3
    vwap_atr_distance: float = 1.5
    stop_atr: float = 2.0


class MeanReversion(FuturesStrategy):
    name = "mean_reversion"

    def __init__(self, settings: MeanReversionSettings = MeanReversionSettings()) -> None:
        self.settings = settings
        self._rsi = RSI(settings.rsi_period)
        self._atr = ATR(settings.atr_period)
        self._history: deque[tuple[float, float]] = deque(maxlen=settings.lookback + settings.min_gap)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "MeanReversion":
        return cls(MeanReversionSettings(**settings))

    @property
    def periods(self) -> tuple[str, ...]:
        return (self.settings.period,)

    def on_bar(self, bar: Bar, market: MarketState) -> Intent | None:
        s = self.settings
        rsi = self._rsi.update(bar.close)
        atr = self._atr.update(bar.high, bar.low, bar.close)
        earlier = list(self._history)[: max(len(self._history) - s.min_gap, 0)]
        self._history.append((bar.close, rsi))
        if len(earlier) < s.lookback or not (math.isfinite(rsi) and math.isfinite(atr) and atr > 0
                                              and math.isfinite(market.vwap)):
            return None
        distance = (bar.close - market.vwap) / atr
        low_close, low_rsi = min(earlier, key=lambda item: item[0])
        high_close, high_rsi = max(earlier, key=lambda item: item[0])
        if distance <= -s.vwap_atr_distance and bar.close < low_close and rsi > low_rsi:
            direction, why = LONG, f"new low {bar.close:g} < {low_close:g} with RSI {rsi:.1f} > {low_rsi:.1f}"
        elif distance >= s.vwap_atr_distance and bar.close > high_close and rsi < high_rsi:
            direction, why = SHORT, f"new high {bar.close:g} > {high_close:g} with RSI {rsi:.1f} < {high_rsi:.1f}"
        else:
            return None
        sign = 1.0 if direction == LONG else -1.0
        return Intent(strategy=self.name, time_ns=bar.end_ns, direction=direction, entry_reference=bar.close,
                      stop=bar.close - sign * s.stop_atr * atr, target=market.vwap,
                      confidence=min(abs(distance) / (2 * s.vwap_atr_distance), 1.0),
                      reason=f"{why}; {abs(distance):.2f} ATR from VWAP {market.vwap:g}")
