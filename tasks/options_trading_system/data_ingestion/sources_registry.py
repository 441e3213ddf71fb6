"""Data sources by name, and the loader that tries them in the profile's priority order.

A source is a small class with one job: `fetch(request) -> OptionsChain` (canonical, not yet
validated) or raise `DataSourceError`. Adding one is a new sub-package plus a line in
`SOURCE_CLASSES`. The loader validates what a source returns, records every attempt (source,
outcome, reason, latency, cost) and moves on when a source fails, so one dead vendor never stops
the day's run.
"""
from __future__ import annotations

import importlib
import logging
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

import pandas as pd

from ..config_manager import PROJECT_ROOT, Profile
from ..errors import ChainValidationError, DataSourceError, DataUnavailableError, SourceNotAvailableError
from .canonical import OptionsChain, validate_chain

log = logging.getLogger(__name__)

# name -> "module:Class"; a name listed in the profile schema but absent here is "not available".
SOURCE_CLASSES: dict[str, str] = {
    "saved": "tasks.options_trading_system.data_ingestion.saved.saved_source:SavedSource",
}

OUTCOME_SERVED = "served"
OUTCOME_FAILED = "failed"
OUTCOME_REJECTED = "rejected"        # the source answered, the chain failed validation
OUTCOME_UNAVAILABLE = "unavailable"  # not in this version / not configured
OUTCOME_SKIPPED = "skipped"          # e.g. circuit breaker open


@dataclass(frozen=True)
class ChainRequest:
    """What the run asks every source for."""

    trade_date: date
    now: pd.Timestamp
    symbol: str = "NQ"
    multiplier: float = 20.0
    timeout_s: float = 20.0


@dataclass(frozen=True)
class SourceContext:
    """What a source may need to build itself: the profile, where outputs go, the environment."""

    profile: Profile
    output_root: Path
    env: Mapping[str, str] = field(default_factory=dict)
    project_root: Path = PROJECT_ROOT


@dataclass(frozen=True)
class SourceAttempt:
    """One try at one source, as reported."""

    source: str
    outcome: str
    reason: str
    latency_ms: float
    cost_usd: float = 0.0
    contracts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DataSource(ABC):
    """A provider of canonical chains."""

    name: ClassVar[str]

    @classmethod
    def from_context(cls, context: SourceContext) -> "DataSource":
        """Build the source from its profile section. Override when it has settings."""
        return cls()

    @abstractmethod
    def fetch(self, request: ChainRequest) -> OptionsChain:
        """Return the chain (unvalidated) or raise `DataSourceError` saying why not."""


class UnavailableSource(DataSource):
    """Stands in for a source this version does not have: it always fails over, with the reason."""

    name = "unavailable"

    def __init__(self, name: str, reason: str = "not available in this version") -> None:
        self.name = name  # type: ignore[misc]
        self.reason = reason

    def fetch(self, request: ChainRequest) -> OptionsChain:
        raise SourceNotAvailableError(self.reason)


@dataclass(frozen=True)
class LoadResult:
    chain: OptionsChain
    attempts: tuple[SourceAttempt, ...]


def source_class(name: str) -> type[DataSource] | None:
    """The class registered for `name`, or None when this version has none."""
    target = SOURCE_CLASSES.get(name)
    if target is None:
        return None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_sources(names: Sequence[str], context: SourceContext) -> list[DataSource]:
    """Instantiate the sources in priority order; unknown ones become `UnavailableSource`."""
    sources: list[DataSource] = []
    for name in names:
        cls = source_class(name)
        sources.append(cls.from_context(context) if cls else UnavailableSource(name))
    return sources


class ChainLoader:
    """Tries sources in order; the first valid chain wins. `clock` returns seconds (monotonic)."""

    def __init__(self, sources: Sequence[DataSource], *,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.sources = list(sources)
        self.clock = clock

    def load(self, request: ChainRequest) -> LoadResult:
        attempts: list[SourceAttempt] = []
        for source in self.sources:
            started = self.clock()
            try:
                chain = validate_chain(source.fetch(request))
            except SourceNotAvailableError as exc:
                attempts.append(self._attempt(source, OUTCOME_UNAVAILABLE, str(exc), started, exc.cost_usd))
            except DataSourceError as exc:
                attempts.append(self._attempt(source, OUTCOME_FAILED, str(exc), started, exc.cost_usd))
            except ChainValidationError as exc:
                attempts.append(self._attempt(source, OUTCOME_REJECTED, str(exc), started))
            else:
                attempts.append(self._attempt(source, OUTCOME_SERVED, "ok", started, contracts=len(chain.frame)))
                return LoadResult(chain=chain, attempts=tuple(attempts))
            log.warning("source %s: %s (%s); trying the next source", source.name,
                        attempts[-1].outcome, attempts[-1].reason)
        summary = "; ".join(f"{a.source}: {a.reason}" for a in attempts)
        raise DataUnavailableError(f"no source could serve a chain ({summary})", attempts)

    def _attempt(self, source: DataSource, outcome: str, reason: str, started: float,
                 cost: float = 0.0, contracts: int = 0) -> SourceAttempt:
        latency = (self.clock() - started) * 1000.0
        if outcome != OUTCOME_SERVED:
            log.info("source %s %s after %.0f ms: %s", source.name, outcome, latency, reason)
        return SourceAttempt(source=source.name, outcome=outcome, reason=reason,
                             latency_ms=round(latency, 3), cost_usd=cost, contracts=contracts)
