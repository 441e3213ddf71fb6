"""The risk engine's settings as frozen, typed config: one section per guard, plus instruments.

The schema (`config/schema/risk.schema.json`) is the source of every default; the dataclass
defaults below repeat them only so a test can build a config by hand, and a test checks the two
never drift apart. The same object shape sits in a profile under `limited_live.risk` (and
`shadow_trading.risk`, so shadow runs use the same engine); `RiskConfig.from_dict` is the one way in.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ....config_manager import Profile, validate_document
from ....config_manager import _thaw as thaw  # the one thaw of frozen profile nodes
from ....errors import ConfigError

SCHEMA_FILE = "risk.schema.json"

NETTING_ACCOUNT = "account"
NETTING_PER_SIGNAL = "per_signal"

#: a futures contract code after its root: month letter + 1-2 digit year (MNQZ6, NQH24)
_CONTRACT_SUFFIX = re.compile(r"^[FGHJKMNQUVXZ][0-9]{1,2}$")


@dataclass(frozen=True, kw_only=True)
class InstrumentRiskConfig:
    """What one contract of an instrument is worth and costs."""

    multiplier: float
    tick_size: float = 0.25
    commission_per_side_usd: float = 0.0


def _default_instruments() -> Mapping[str, InstrumentRiskConfig]:
    return MappingProxyType({
        "NQ": InstrumentRiskConfig(multiplier=20.0, tick_size=0.25, commission_per_side_usd=2.25),
        "MNQ": InstrumentRiskConfig(multiplier=2.0, tick_size=0.25, commission_per_side_usd=0.62),
    })


@dataclass(frozen=True, kw_only=True)
class MaxPositionConfig:
    enabled: bool = True
    max_contracts: int = 1
    #: "account": netted per instrument over every source, OPPOSITE_SIDE on (one real account);
    #: "per_signal": each signal's paper position on its own, no netting, no OPPOSITE_SIDE (shadow books)
    netting: str = NETTING_ACCOUNT


@dataclass(frozen=True, kw_only=True)
class MaxDailyLossConfig:
    enabled: bool = True
    limit_usd: float = 50.0
    reduce_at_fraction: float = 0.8


@dataclass(frozen=True, kw_only=True)
class MaxTotalRiskConfig:
    enabled: bool = True
    limit_usd: float = 200.0


@dataclass(frozen=True, kw_only=True)
class DataCostConfig:
    enabled: bool = True
    daily_usd: float = 8.0
    monthly_usd: float = 200.0


@dataclass(frozen=True, kw_only=True)
class CostPerSignalConfig:
    enabled: bool = True
    target_usd: float = 5.0
    min_signals: int = 5


@dataclass(frozen=True, kw_only=True)
class OrderRateConfig:
    enabled: bool = True
    max_orders: int = 5
    per_seconds: float = 60.0


@dataclass(frozen=True, kw_only=True)
class TradingWindowConfig:
    enabled: bool = True
    timezone: str = "America/New_York"
    start: str = "09:30"
    end: str = "16:00"

    @property
    def start_time(self) -> time:
        return _parse_hhmm(self.start, "trading_window.start")

    @property
    def end_time(self) -> time:
        return _parse_hhmm(self.end, "trading_window.end")


@dataclass(frozen=True, kw_only=True)
class RiskConfig:
    """Every guard's settings (a section each, named as the guard), the slippage allowance the
    worst-case figures add, and the instruments' multipliers and commissions."""

    max_position: MaxPositionConfig = MaxPositionConfig()
    max_daily_loss: MaxDailyLossConfig = MaxDailyLossConfig()
    max_total_risk: MaxTotalRiskConfig = MaxTotalRiskConfig()
    data_cost: DataCostConfig = DataCostConfig()
    cost_per_signal: CostPerSignalConfig = CostPerSignalConfig()
    order_rate: OrderRateConfig = OrderRateConfig()
    trading_window: TradingWindowConfig = TradingWindowConfig()
    slippage_ticks: float = 1.0
    instruments: Mapping[str, InstrumentRiskConfig] = field(default_factory=_default_instruments)

    @classmethod
    def from_dict(cls, section: Mapping[str, Any] | None, *, where: str = "limited_live.risk") -> "RiskConfig":
        """Validate `section` against the schema (filling defaults), refuse non-finite numbers,
        and freeze it. `where` names the section in error messages (`ConfigError`, exit code 2)."""
        document = thaw(section or {})
        _refuse_non_finite(document, where)
        validate_document(document, SCHEMA_FILE, source=Path(where))
        values: dict[str, Any] = {}
        sections = {f.name: f for f in fields(cls)}
        for name, value in document.items():
            if name == "instruments":
                values[name] = MappingProxyType({
                    symbol: InstrumentRiskConfig(**_typed(InstrumentRiskConfig, spec)) for symbol, spec in value.items()})
            elif name == "slippage_ticks":
                values[name] = float(value)
            else:
                sub_cls = _SECTION_CLASSES[name]
                values[name] = sub_cls(**_typed(sub_cls, value))
        assert set(values) <= set(sections)
        config = cls(**values)
        config.check(where)
        return config

    @classmethod
    def from_profile(cls, profile: Profile, section: str = "limited_live") -> "RiskConfig":
        """The `risk` object of a profile section (`limited_live` or `shadow_trading`)."""
        return cls.from_dict(profile.section(section, "risk"), where=f"{section}.risk")

    def check(self, where: str = "limited_live.risk") -> None:
        """Cross-field checks the schema cannot express; `ConfigError` naming the keys."""
        window = self.trading_window
        if window.start_time >= window.end_time:
            raise ConfigError(f"`{where}.trading_window`: start {window.start} is not before end {window.end}")
        try:
            from zoneinfo import ZoneInfo
            ZoneInfo(window.timezone)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"`{where}.trading_window.timezone` = {window.timezone!r} is not an IANA time zone "
                              f"(e.g. America/New_York)") from exc
        if self.data_cost.daily_usd > self.data_cost.monthly_usd:
            raise ConfigError(f"`{where}.data_cost.daily_usd` ({self.data_cost.daily_usd}) is above "
                              f"`monthly_usd` ({self.data_cost.monthly_usd})")
        if not self.instruments:
            raise ConfigError(f"`{where}.instruments`: at least one instrument is needed (multiplier, commission)")

    def instrument(self, instrument: str) -> InstrumentRiskConfig | None:
        """The settings of `instrument`: its own entry, else its root's (`MNQZ6` -> `MNQ`)."""
        if instrument in self.instruments:
            return self.instruments[instrument]
        for root in sorted(self.instruments, key=len, reverse=True):
            if instrument.startswith(root) and _CONTRACT_SUFFIX.match(instrument[len(root):]):
                return self.instruments[root]
        return None

    def slippage_points(self, instrument: str) -> float:
        spec = self.instrument(instrument)
        return math.nan if spec is None else self.slippage_ticks * spec.tick_size

    def section(self, guard_name: str) -> Any:
        return getattr(self, guard_name)


_SECTION_CLASSES: dict[str, type] = {
    "max_position": MaxPositionConfig, "max_daily_loss": MaxDailyLossConfig,
    "max_total_risk": MaxTotalRiskConfig, "data_cost": DataCostConfig,
    "cost_per_signal": CostPerSignalConfig, "order_rate": OrderRateConfig,
    "trading_window": TradingWindowConfig,
}


def _typed(cls: type, mapping: Mapping[str, Any]) -> dict[str, Any]:
    """Cast JSON numbers to the dataclass field's declared type (an integer 50 -> 50.0 for floats)."""
    kinds = {f.name: f.type for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        kind = kinds[key]
        out[key] = float(value) if kind in ("float", float) and not isinstance(value, bool) else value
    return out


def _refuse_non_finite(node: Any, where: str) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _refuse_non_finite(value, f"{where}.{key}")
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            _refuse_non_finite(value, f"{where}[{index}]")
    elif isinstance(node, float) and not math.isfinite(node):
        raise ConfigError(f"`{where}` = {node!r}: expected a finite number")


def _parse_hhmm(text: str, where: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"`{where}` = {text!r}: expected HH:MM (00:00..23:59)") from exc
