"""The guards by name: the profile's section names are these keys, in the order guards are asked."""
from __future__ import annotations

from .base import Guard, GuardServices
from .config import RiskConfig
from .cost_per_signal import CostPerSignal
from .data_cost import DataCost
from .max_daily_loss import MaxDailyLoss
from .max_position import MaxPosition
from .max_total_risk import MaxTotalRisk
from .order_rate import OrderRate
from .trading_window import TradingWindow

#: name -> class, in the order the engine asks them (cheap and decisive first)
GUARD_CLASSES: dict[str, type[Guard]] = {cls.name: cls for cls in (
    MaxPosition, MaxDailyLoss, MaxTotalRisk, DataCost, CostPerSignal, OrderRate, TradingWindow)}


def build_guards(config: RiskConfig, services: GuardServices) -> list[Guard]:
    """One instance of every guard whose config section is enabled, in registry order."""
    return [cls(config, services) for name, cls in GUARD_CLASSES.items() if config.section(name).enabled]
