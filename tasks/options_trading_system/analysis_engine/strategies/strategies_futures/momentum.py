"""Momentum: an EMA crossover with enough trend strength, volume and duration, on 30m/1h bars.

Rule, on each closed bar of `period` (30m by default; 1h in the slower variant):
- the fast EMA (`fast`, 9) is above the slow EMA (`slow`, 21) for a LONG (below for a SHORT),
  and has been on that side for at least `min_bars` consecutive bars since the cross (duration);
- trend strength |fast - slow| / ATR is at least `min_strength` (0.5);
- the bar's volume is at least `volume_ratio` (1.0) times the mean volume of the last
  `volume_period` (20) bars;
- one entry per crossover: after an intent, the next needs a new cross; a trend already under
  way when the strategy starts (no cross seen) is not entered.
Stop `stop_atr` (2) ATRs behind the entry, target `target_atr` (3) ATRs ahead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..indicators.streaming import ATR, EMA, RollingStats
from .base import LONG, SHORT, Bar, FuturesStrategy, Intent, MarketState, levels


@dataclass(frozen=True)
class MomentumSettings:
    period: str = "30m"
    fast: int = 9
    slow: int = 21
    atr_period: int = 14
    min_strength: float = 0.5
    min_bars: int = 2
    volume_period: int = 20
    volume_ratio: float = 1.0
    stop_atr: float = 2.0
    target_atr: float = 3.0


class Momentum(FuturesStrategy):
    name = "momentum"

    def __init__(self, settings: MomentumSettings = MomentumSettings()) -> None:
        if settings.fast >= settings.slow:
            raise ValueError(f"momentum: fast EMA ({settings.fast}) must be shorter than slow ({settings.slow})")
        self.settings = settings
        self._fast = EMA(settings.fast)
        self._slow = EMA(settings.slow)
        self._atr = ATR(settings.atr_period)
        self._volume = RollingStats(settings.volume_period)
        self._side = 0        # +1 fast above slow, -1 below, 0 unknown
        self._bars_on_side = 0
        self._traded_this_cross = False
        self._seen = 0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "Momentum":
        return cls(MomentumSettings(**settings))

    @property
    def periods(self) -> tuple[str, ...]:
        return (self.settings.period,)

    def on_bar(self, bar: Bar, market: MarketState) -> Intent | None:
        s = self.settings
        average_volume = self._volume.mean  # of the bars before this one
        fast, slow = self._fast.update(bar.close), self._slow.update(bar.close)
        atr = self._atr.update(bar.high, bar.low, bar.close)
        self._volume.update(bar.volume)
        self._seen += 1
        side = 1 if fast > slow else -1 if fast < slow else 0
        if side != self._side:
            # only a real cross (from the other side) opens an entry; the first side seen does not
            self._traded_this_cross = self._side == 0
            self._side, self._bars_on_side = side, 1
        else:
            self._bars_on_side += 1
        if (side == 0 or self._traded_this_cross or self._seen < s.slow or self._bars_on_side < s.min_bars
                or not (math.isfinite(atr) and atr > 0 and math.isfinite(average_volume))):
            return None
        strength = abs(fast - slow) / atr
        if strength < s.min_strength or bar.volume < s.volume_ratio * average_volume:
            return None
        self._traded_this_cross = True
        direction = LONG if side > 0 else SHORT
        stop, target = levels(direction, bar.close, s.stop_atr * atr, s.target_atr * atr)
        return Intent(strategy=self.name, time_ns=bar.end_ns, direction=direction, entry_reference=bar.close,
                      stop=stop, target=target, confidence=min(strength / (2 * s.min_strength), 1.0),
                      reason=f"EMA{s.fast} {fast:.2f} {'>' if side > 0 else '<'} EMA{s.slow} {slow:.2f} for "
                             f"{self._bars_on_side} bars, strength {strength:.2f} ATR, volume "
                             f"{bar.volume:g} vs mean {average_volume:.0f}")
