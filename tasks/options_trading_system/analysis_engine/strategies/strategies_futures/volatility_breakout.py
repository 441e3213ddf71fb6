"""Volatility breakout: realised volatility 2 sigma above its own mean, in the bar's direction.

Rule, on each closed bar of `period` (5m by default):
- realised volatility = sample std of the last `vol_period` (20) log returns of closes;
- its own mean and std over the last `baseline_period` (100) values;
- a breakout when realised volatility > mean + `sigma` (2) x std and the bar moved at least
  `min_move_atr` (0.5) ATR from its open: LONG on an up bar, SHORT on a down bar;
- stop `stop_atr` (2) ATRs behind, target `target_atr` (4) ATRs ahead; at most one intent per
  `cooldown_bars` (12) bars.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..indicators.streaming import ATR, RealisedVol, RollingStats
from .base import LONG, SHORT, Bar, FuturesStrategy, Intent, MarketState, levels


@dataclass(frozen=True)
class VolatilityBreakoutSettings:
    period: str = "5m"
    vol_period: int = 20
    baseline_period: int = 100
    sigma: float = 2.0
    atr_period: int = 14
    min_move_atr: float = 0.5
    stop_atr: float = 2.0
    target_atr: float = 4.0
    cooldown_bars: int = 12


class VolatilityBreakout(FuturesStrategy):
    name = "volatility_breakout"

    def __init__(self, settings: VolatilityBreakoutSettings = VolatilityBreakoutSettings()) -> None:
        self.settings = settings
        self._vol = RealisedVol(settings.vol_period)
        self._baseline = RollingStats(settings.baseline_period)
        self._atr = ATR(settings.atr_period)
        self._since_last = settings.cooldown_bars

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "VolatilityBreakout":
        return cls(VolatilityBreakoutSettings(**settings))

    @property
    def periods(self) -> tuple[str, ...]:
        return (self.settings.period,)

    def on_bar(self, bar: Bar, market: MarketState) -> Intent | None:
        s = self.settings
        mean, std = self._baseline.mean, self._baseline.std  # baseline before this bar
        vol = self._vol.update(bar.close)
        atr = self._atr.update(bar.high, bar.low, bar.close)
        if math.isfinite(vol):
            self._baseline.update(vol)
        self._since_last += 1
        if not (math.isfinite(vol) and math.isfinite(mean) and math.isfinite(std) and std > 0
                and math.isfinite(atr) and atr > 0) or self._since_last < s.cooldown_bars:
            return None
        z = (vol - mean) / std
        move = bar.close - bar.open
        if z <= s.sigma or abs(move) < s.min_move_atr * atr:
            return None
        self._since_last = 0
        direction = LONG if move > 0 else SHORT
        stop, target = levels(direction, bar.close, s.stop_atr * atr, s.target_atr * atr)
        return Intent(strategy=self.name, time_ns=bar.end_ns, direction=direction, entry_reference=bar.close,
                      stop=stop, target=target, confidence=min((z - s.sigma) / s.sigma + 0.5, 1.0),
                      reason=f"realised vol {vol:.2e} is {z:.1f} sigma above its mean {mean:.2e}; bar moved "
                             f"{move:+g} ({abs(move) / atr:.2f} ATR)")
