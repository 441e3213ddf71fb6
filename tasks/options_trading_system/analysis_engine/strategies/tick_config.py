"""The `tick_execution` profile section as frozen, typed settings.

The schema (`config/schema/tick_execution.schema.json`) is the source of every default and checks
the shape; `TickExecutionConfig.from_profile` is the one way in, and also builds every strategy and
the sizer once, so a setting a strategy does not know (or a value it refuses) stops the run before
anything is created, with a `ConfigError` naming the key (exit 2).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd

from ...config_manager import Profile
from ...errors import ConfigError
from .guards.config import RiskConfig
from .indicators.bars import period_seconds
from .shadow_config import ExecutionConfig, ShadowTradingConfig, _parse_hhmm, thaw
from .sizing import build_sizer
from .strategies_futures import build_strategies
from .strategies_futures.aggregator import AggregatorSettings

SECTION = "tick_execution"


@dataclass(frozen=True, kw_only=True)
class SessionConfig:
    """The trading session in exchange-clock time (`timezone`, HH:MM start and end)."""

    timezone: str = "America/New_York"
    start: str = "09:30"
    end: str = "16:00"

    def bounds(self, day: str) -> tuple[int, int]:
        """(start, end) of `day`'s session, ns since the epoch (UTC)."""
        return (pd.Timestamp(f"{day} {self.start}", tz=self.timezone).value,
                pd.Timestamp(f"{day} {self.end}", tz=self.timezone).value)

    def day_of(self, ts_ns: int) -> str:
        """The session day (exchange-clock date) a tick at `ts_ns` belongs to."""
        return pd.Timestamp(ts_ns, tz="UTC").tz_convert(self.timezone).date().isoformat()


@dataclass(frozen=True, kw_only=True)
class TickExecutionConfig:
    """Everything a tick-execution run reads from its profile, frozen."""

    output_dir: str = "outputs/tick_execution"
    instrument: str = "MNQ"
    session: SessionConfig = SessionConfig()
    feed: str = "replay"
    feed_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    strategies: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    aggregator: AggregatorSettings = AggregatorSettings()
    sizer: str = "fixed"
    sizer_settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    equity_usd: float = 100_000.0
    atr_bar: str = "5m"
    trail_points: float = 0.0
    #: the chain recording the volatility carry's term structure comes from ("auto", "none" or a folder)
    term_structure_chains: str = "auto"
    in_sample_share: float = 0.6
    candidates: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=lambda: MappingProxyType({}))
    risk: RiskConfig = RiskConfig()
    #: the futures' costs (multiplier, commission, slippage) from `shadow_trading.execution`
    execution: ExecutionConfig = ExecutionConfig()

    @classmethod
    def from_profile(cls, profile: Profile) -> "TickExecutionConfig":
        section = thaw(profile.section(SECTION))
        shadow = ShadowTradingConfig.from_profile(profile)
        return cls.from_mapping(section, shadow.execution)

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any], execution: ExecutionConfig = ExecutionConfig()
                     ) -> "TickExecutionConfig":
        """Build from a validated `tick_execution` section (schema defaults filled)."""
        section = thaw(section)
        session = SessionConfig(**section.get("session", {}))
        start, end = (_parse_hhmm(getattr(session, key), f"{SECTION}.session.{key}") for key in ("start", "end"))
        if start >= end:
            raise ConfigError(f"`{SECTION}.session`: start {session.start} is not before end {session.end}")
        feed = dict(section.get("feed", {}))
        sizing = dict(section.get("sizing", {}))
        walk = dict(section.get("walk_forward", {}))
        strategies = {name: dict(values) for name, values in section.get("strategies", {}).items()}
        candidates = {name: tuple({**strategies.get(name, {}), **c} for c in values)
                      for name, values in walk.get("candidates", {}).items()}
        instrument = str(section.get("instrument", "MNQ"))
        config = cls(
            output_dir=str(section.get("output_dir", cls.output_dir)), instrument=instrument, session=session,
            feed=str(feed.get("name", "replay")),
            feed_settings=MappingProxyType({k: MappingProxyType(dict(v)) for k, v in feed.items()
                                            if k != "name" and isinstance(v, Mapping)}),
            strategies=MappingProxyType(strategies),
            aggregator=AggregatorSettings(**section.get("aggregator", {})),
            sizer=str(sizing.get("name", "fixed")), sizer_settings=MappingProxyType(dict(sizing.get("settings", {}))),
            equity_usd=float(sizing.get("equity_usd", 100_000.0)), atr_bar=str(sizing.get("atr_bar", "5m")),
            trail_points=float(section.get("exits", {}).get("trail_points", 0.0)),
            term_structure_chains=str(section.get("term_structure", {}).get("chains", "auto")),
            in_sample_share=float(walk.get("in_sample_share", 0.6)), candidates=MappingProxyType(candidates),
            risk=RiskConfig.from_dict(section.get("risk") or {}, where=f"{SECTION}.risk"),
            execution=dataclasses.replace(execution, instrument=instrument))
        config.check()
        return config

    def check(self) -> None:
        """Build every strategy, every walk-forward candidate and the sizer once: a bad setting is a
        `ConfigError` naming its key, before a run starts."""
        for name, settings in self.strategies.items():
            _build(lambda: build_strategies({name: settings}), f"{SECTION}.strategies.{name}")
        for name, candidates in self.candidates.items():
            if name not in self.strategies:
                raise ConfigError(f"`{SECTION}.walk_forward.candidates.{name}`: {name} is not one of the strategies "
                                  f"run ({', '.join(self.strategies)})")
            for i, settings in enumerate(candidates):
                _build(lambda: build_strategies({name: settings}), f"{SECTION}.walk_forward.candidates.{name}[{i}]")
        _build(lambda: build_sizer(self.sizer, self.sizer_settings), f"{SECTION}.sizing.settings")

    @property
    def multiplier(self) -> float:
        return self.execution.multiplier

    @property
    def commission(self) -> float:
        return self.execution.commission

    @property
    def slippage_points(self) -> float:
        return self.execution.slippage_points


def _build(make: Any, where: str) -> None:
    """Build what `make` makes (and check a strategy's bar periods); a ConfigError naming `where`."""
    try:
        built = make()
        for strategy in built if isinstance(built, list) else ():
            for period in strategy.periods:
                period_seconds(period)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"`{where}`: {exc}") from exc

