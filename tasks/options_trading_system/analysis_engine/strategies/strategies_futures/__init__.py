"""Futures strategies for tick execution, registered by name (the profile's
`tick_execution.strategies` object names the ones to run and their settings).

Adding one: a module here with a `FuturesStrategy` subclass whose docstring states its rule, and a
line in `STRATEGY_CLASSES`.
"""
from __future__ import annotations

from typing import Any, Mapping

from .base import Bar, FuturesStrategy, Intent, MarketState
from .mean_reversion import MeanReversion
from .momentum import Momentum
from .volatility_breakout import VolatilityBreakout
from .volatility_carry import VolatilityCarry

STRATEGY_CLASSES: dict[str, type[FuturesStrategy]] = {
    MeanReversion.name: MeanReversion,
    Momentum.name: Momentum,
    VolatilityBreakout.name: VolatilityBreakout,
    VolatilityCarry.name: VolatilityCarry,
}

__all__ = ["Bar", "FuturesStrategy", "Intent", "MarketState", "STRATEGY_CLASSES", "build_strategies"]


def build_strategies(settings: Mapping[str, Mapping[str, Any]]) -> list[FuturesStrategy]:
    """One strategy per entry of `{name: settings}`; an unknown name is refused listing the known."""
    out = []
    for name, values in settings.items():
        if name not in STRATEGY_CLASSES:
            raise ValueError(f"unknown futures strategy {name!r}: expected one of {', '.join(sorted(STRATEGY_CLASSES))}")
        out.append(STRATEGY_CLASSES[name].from_settings(values))
    return out
