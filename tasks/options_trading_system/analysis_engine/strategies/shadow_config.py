"""The `shadow_trading` profile section as frozen, typed settings.

The schema (`config/schema/shadow_trading.schema.json`) is the source of every default; the
dataclass defaults below repeat them only so a test can build a config by hand, and a test checks
the two never drift apart. `ShadowTradingConfig.from_profile` is the one way in from a profile.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from types import MappingProxyType
from typing import Any, Mapping

from ...config_manager import Profile
from ...errors import ConfigError
from ..pipeline import frozen_config
from .guards.config import InstrumentRiskConfig, RiskConfig

ALGORITHMS = ("ifd_v1", "ifd_v3", "ev")


@dataclass(frozen=True, kw_only=True)
class WindowConfig:
    """Daily signal window in local exchange-clock time (HH:MM) of `timezone`."""

    timezone: str = "America/New_York"
    start: str = "09:30"
    end: str = "16:00"

    @property
    def start_time(self) -> time:
        return _parse_hhmm(self.start, "shadow_trading.window.start")

    @property
    def end_time(self) -> time:
        return _parse_hhmm(self.end, "shadow_trading.window.end")


@dataclass(frozen=True, kw_only=True)
class LiveConfig:
    cycle_seconds: int = 60
    price_source: str = "chain_underlying"


@dataclass(frozen=True, kw_only=True)
class ReplayConfig:
    csv_timezone: str = "America/New_York"
    bar_seconds: int = 60
    speed: float = 0.0
    #: the replay's disk caches: parsed snapshots + greeks in <output_dir>/cache/snapshots, IFD v3.0
    #: day emissions in <output_dir>/cache/ifd_v3 (one switch: a new key would change every run's
    #: stored profile, and a run started before it could not be resumed)
    snapshot_cache: bool = True


@dataclass(frozen=True, kw_only=True)
class SignalSourceConfig:
    """One named signal source: an algorithm, whether it is traded, its setting overrides."""

    name: str
    algorithm: str
    trade: bool = True
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, kw_only=True)
class SignalsConfig:
    sources: tuple[SignalSourceConfig, ...] = (
        SignalSourceConfig(name="ifd_v1", algorithm="ifd_v1"),
        SignalSourceConfig(name="ifd_v3", algorithm="ifd_v3"),
        SignalSourceConfig(name="ev", algorithm="ev"),
    )
    cooldown_minutes: float = 30.0
    ev_top_n: int = 1
    ifd_v1_actionable_only: bool = True

    def source(self, name: str) -> SignalSourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)


@dataclass(frozen=True, kw_only=True)
class CriterionWeights:
    technical: float = 0.35
    market_context: float = 0.25
    time_of_day: float = 0.15
    history: float = 0.25


@dataclass(frozen=True, kw_only=True)
class MinConfidence:
    ifd_v1: float = 0.2
    ifd_v3: float = 0.5
    ev: float = 0.6


@dataclass(frozen=True, kw_only=True)
class ValidationConfig:
    weights: CriterionWeights = CriterionWeights()
    min_score: float = 0.6
    false_positive_below: float = 0.45
    min_reward_risk: float = 1.0
    max_risk_points: float = 150.0
    min_risk_pct: float = 0.0005
    min_confidence: MinConfidence = MinConfidence()
    max_spread_pct: float = 0.15
    near_money_pct: float = 0.01
    volume_concentration_low: float = 0.02
    volume_concentration_high: float = 0.2
    avoid_open_minutes: float = 15.0
    min_minutes_left: float = 30.0
    history_lookback: int = 20
    history_min_samples: int = 5


@dataclass(frozen=True, kw_only=True)
class PerInstrument:
    NQ: float
    MNQ: float
    option: float

    def of(self, instrument: str) -> float:
        return float(getattr(self, instrument))


@dataclass(frozen=True, kw_only=True)
class Commissions(PerInstrument):
    NQ: float = 2.25
    MNQ: float = 0.62
    option: float = 2.5


@dataclass(frozen=True, kw_only=True)
class Multipliers(PerInstrument):
    NQ: float = 20.0
    MNQ: float = 2.0
    option: float = 20.0


@dataclass(frozen=True, kw_only=True)
class ExecutionConfig:
    instrument: str = "MNQ"
    quantity: int = 1
    slippage_ticks: float = 1.0
    tick_size: float = 0.25
    commission_per_side_usd: Commissions = Commissions()
    multipliers: Multipliers = Multipliers()
    max_open_positions: int = 3
    max_open_per_source: int = 2
    same_bar_rule: str = "stop_first"

    @property
    def multiplier(self) -> float:
        return self.multipliers.of(self.instrument)

    @property
    def commission(self) -> float:
        return self.commission_per_side_usd.of(self.instrument)

    @property
    def slippage_points(self) -> float:
        return self.slippage_ticks * self.tick_size


@dataclass(frozen=True, kw_only=True)
class TargetsConfig:
    min_signals: int = 10
    min_accuracy: float = 0.5
    max_false_positive_rate: float = 0.45
    min_win_rate: float = 0.45
    min_profit_factor: float = 1.2
    max_drawdown_usd: float = 1000.0
    min_total_pnl_usd: float = 0.0


@dataclass(frozen=True, kw_only=True)
class AlertsConfig:
    max_price_staleness_s: float = 300.0
    max_quarantine_share: float = 0.05
    max_cycle_p95_ms: float = 2000.0
    max_daily_loss_usd: float = 500.0


@dataclass(frozen=True, kw_only=True)
class ABTestConfig:
    enabled: bool = True
    a: str = "ifd_v1"
    b: str = "ifd_v3"
    min_signals_per_arm: int = 20


@dataclass(frozen=True, kw_only=True)
class PerformanceConfig:
    process_sample_every: int = 20


@dataclass(frozen=True, kw_only=True)
class ShadowTradingConfig:
    """Everything a shadow run reads from its profile, frozen."""

    days: int = 5
    output_dir: str = "outputs/shadow_trading"
    window: WindowConfig = WindowConfig()
    live: LiveConfig = LiveConfig()
    replay: ReplayConfig = ReplayConfig()
    signals: SignalsConfig = SignalsConfig()
    validation: ValidationConfig = ValidationConfig()
    execution: ExecutionConfig = ExecutionConfig()
    targets: TargetsConfig = TargetsConfig()
    alerts: AlertsConfig = AlertsConfig()
    ab_testing: ABTestConfig = ABTestConfig()
    performance: PerformanceConfig = PerformanceConfig()
    #: the profile's `shadow_trading.risk` section; None = derived from the limits above (`risk_config`)
    risk: RiskConfig | None = None

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> "ShadowTradingConfig":
        """Build from a validated `shadow_trading` section (schema defaults already filled)."""
        plain = {k: v for k, v in section.items() if k not in ("signals", "risk")}
        config = frozen_config(cls, plain)
        if section.get("risk") is not None:
            config = _replace(config, risk=RiskConfig.from_dict(shadow_risk_defaults(thaw(section["risk"])),
                                                                where="shadow_trading.risk"))
        signals_section = dict(section.get("signals", {}))
        sources = tuple(SignalSourceConfig(name=str(s["name"]), algorithm=str(s["algorithm"]),
                                           trade=bool(s.get("trade", True)),
                                           settings=MappingProxyType(thaw(s.get("settings", {}))))
                        for s in signals_section.pop("sources", ()))
        signals = frozen_config(SignalsConfig, signals_section)
        if sources:
            signals = SignalsConfig(sources=sources, cooldown_minutes=signals.cooldown_minutes,
                                    ev_top_n=signals.ev_top_n,
                                    ifd_v1_actionable_only=signals.ifd_v1_actionable_only)
        config = _replace(config, signals=signals)
        config.check()
        return config

    @classmethod
    def from_profile(cls, profile: Profile) -> "ShadowTradingConfig":
        return cls.from_mapping(profile.section("shadow_trading"))

    def risk_config(self) -> RiskConfig:
        """The risk engine's settings for this run: the `risk` section when the profile has one,
        else today's shadow limits as guards: max_position = max_open_positions x quantity
        counted per signal (each paper position on its own: no netting across sources, no
        OPPOSITE_SIDE), max_daily_loss = alerts.max_daily_loss_usd, trading_window = the signal window; the risk
        to the stops, order rate and data-cost guards are off (the data sources keep their own
        budgets). Option trades are judged on the underlying's levels (instrument `option`,
        worst case at delta 1)."""
        if self.risk is not None:
            return self.risk
        from .guards.config import MaxDailyLossConfig, MaxPositionConfig, TradingWindowConfig, NETTING_PER_SIGNAL
        from .guards.config import CostPerSignalConfig, DataCostConfig, MaxTotalRiskConfig, OrderRateConfig
        execution = self.execution
        instruments = {name: InstrumentRiskConfig(multiplier=execution.multipliers.of(name),
                                                  tick_size=execution.tick_size,
                                                  commission_per_side_usd=execution.commission_per_side_usd.of(name))
                       for name in ("NQ", "MNQ", "option")}
        return RiskConfig(
            max_position=MaxPositionConfig(max_contracts=min(10, execution.max_open_positions * execution.quantity),
                                           netting=NETTING_PER_SIGNAL),
            max_daily_loss=MaxDailyLossConfig(limit_usd=self.alerts.max_daily_loss_usd),
            max_total_risk=MaxTotalRiskConfig(enabled=False), data_cost=DataCostConfig(enabled=False),
            cost_per_signal=CostPerSignalConfig(enabled=False), order_rate=OrderRateConfig(enabled=False),
            trading_window=TradingWindowConfig(timezone=self.window.timezone, start=self.window.start,
                                               end=self.window.end),
            slippage_ticks=execution.slippage_ticks, instruments=MappingProxyType(instruments))

    def check(self) -> None:
        """Cross-field checks the schema cannot express; `ConfigError` naming the keys."""
        names = [s.name for s in self.signals.sources]
        if len(set(names)) != len(names):
            raise ConfigError(f"`shadow_trading.signals.sources`: names must be unique, got {names}")
        if self.ab_testing.enabled:
            for arm in ("a", "b"):
                name = getattr(self.ab_testing, arm)
                if name not in names:
                    raise ConfigError(f"`shadow_trading.ab_testing.{arm}` = {name!r} is not a signal source "
                                      f"(expected one of: {', '.join(names)})")
            if self.ab_testing.a == self.ab_testing.b:
                raise ConfigError("`shadow_trading.ab_testing.a` and `.b` name the same source; an A/B test needs two")
        if self.window.start_time >= self.window.end_time:
            raise ConfigError(f"`shadow_trading.window`: start {self.window.start} is not before end {self.window.end}")
        if self.validation.false_positive_below > self.validation.min_score:
            raise ConfigError(f"`shadow_trading.validation.false_positive_below` ({self.validation.false_positive_below}) "
                              f"is above `min_score` ({self.validation.min_score}): a signal could pass and be flagged")
        if self.validation.volume_concentration_low >= self.validation.volume_concentration_high:
            raise ConfigError("`shadow_trading.validation.volume_concentration_low` must be below `volume_concentration_high`")
        weights = self.validation.weights
        if weights.technical + weights.market_context + weights.time_of_day + weights.history <= 0:
            raise ConfigError("`shadow_trading.validation.weights`: at least one weight must be positive")


def shadow_risk_defaults(section: dict[str, Any]) -> dict[str, Any]:
    """A `shadow_trading.risk` section with the shadow runs' own default under it: positions
    counted per signal (`max_position.netting: "per_signal"`), since a shadow run paper-trades
    independent signal sources side by side; the guards that model one real account (netting,
    OPPOSITE_SIDE) stay for limited live (`limited_live.risk`, netting "account")."""
    out = dict(section)
    out["max_position"] = {"netting": "per_signal", **dict(out.get("max_position") or {})}
    return out


def _parse_hhmm(text: str, where: str) -> time:
    try:
        hours, minutes = (int(part) for part in text.split(":"))
        return time(hours, minutes)
    except ValueError as exc:
        raise ConfigError(f"`{where}` = {text!r}: expected HH:MM (00:00..23:59)") from exc


def _replace(config: ShadowTradingConfig, **changes: Any) -> ShadowTradingConfig:
    import dataclasses
    return dataclasses.replace(config, **changes)


def thaw(node: Any) -> Any:
    """A plain, mutable copy (dicts and lists) of a frozen profile node (mappings and tuples)."""
    if isinstance(node, Mapping):
        return {k: thaw(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [thaw(v) for v in node]
    return node
