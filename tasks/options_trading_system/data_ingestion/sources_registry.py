"""Data sources by name, and the loader that tries them in the profile's priority order.

A source is a small class with one job: `fetch(request) -> OptionsChain` (canonical, not yet
validated) or raise `DataSourceError`. Adding one is a new sub-package plus a line in
`SOURCE_CLASSES`. The loader validates what a source returns, records every attempt (source,
outcome, reason code, latency, cost, retries, breaker state) and moves on when a source fails,
so one dead vendor never stops the day's run.

Network sources (`DataSource.network`) are guarded (`SourceGuard`, attached by `build_sources`
from the profile's `data_sources` section): `ChainLoader.load` does, for each source in order,

1. skip it when its circuit breaker is open (outcome "skipped", with the reset time);
2. give it a time limit (`Deadline`) for the whole attempt, retries included;
3. call `fetch`, retrying transient failures with backoff and jitter (`retry.retry_call`);
4. pass the chain through the data-quality gate (`validate_chain`);
5. record the attempt (outcome `cached`, code CACHE, when the source answered from its own cache
   instead of asking the vendor: `DataSource.last_cache_reason`) and tell the breaker (a failure or a rejected chain counts, a source that
   is not set up or refuses on purpose does not). Any other exception a source raises (a bug, an
   answer its parser did not expect) is logged with its traceback and recorded as a failure
   (code UNEXPECTED), so the next source still serves; only a `ConfigError` stops the run.
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
import random
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping, Sequence

import pandas as pd

from ..config_manager import PROJECT_ROOT, Profile
from ..errors import (ChainValidationError, ConfigError, DataSourceError, DataUnavailableError,
                      SourceNotAvailableError, SourceRefusedError)
from .breaker import BreakerBoard, BreakerConfig, CircuitBreaker
from .canonical import DEFAULT_BOUNDS, ChainBounds, OptionsChain, validate_chain
from .market_hours import is_past_date, present_session
from .retry import Deadline, RetryOutcome, RetryPolicy, retry_call

log = logging.getLogger(__name__)

# name -> "module:Class"; a name listed in the profile schema but absent here is "not available".
SOURCE_CLASSES: dict[str, str] = {
    "barchart": "tasks.options_trading_system.data_ingestion.barchart.source:BarchartSource",
    "databento": "tasks.options_trading_system.data_ingestion.databento.source:DatabentoSource",
    "polygon": "tasks.options_trading_system.data_ingestion.polygon.source:PolygonSource",
    "saved": "tasks.options_trading_system.data_ingestion.saved.saved_source:SavedSource",
}

OUTCOME_SERVED = "served"
OUTCOME_CACHED = "cached"            # served, from the source's own cache (no request to the vendor)
SERVING_OUTCOMES = (OUTCOME_SERVED, OUTCOME_CACHED)  # the attempt whose chain was analysed
OUTCOME_FAILED = "failed"
OUTCOME_REJECTED = "rejected"        # the source answered, the chain failed validation
OUTCOME_UNAVAILABLE = "unavailable"  # not in this version / not configured
OUTCOME_SKIPPED = "skipped"          # e.g. circuit breaker open
OUTCOME_REFUSED = "refused"          # credentials rejected, no entitlement, budget would be broken
DEFAULT_REQUEST_TIMEOUT_S = 10.0
CAPTURE_SUBDIR = "api_data"


def refuse_past_date(source: str, request: "ChainRequest", calendar_name: str, what: str) -> None:
    """Refuse (code PAST_DATE) a trade date before the present session, for a source that can only
    serve the present (`what` says why): it would file today's market under another day."""
    if is_past_date(calendar_name, request.trade_date, request.now):
        present = present_session(calendar_name, request.now)
        raise SourceRefusedError(
            f"{source}: {what}, so it cannot serve the past date {request.trade_date} (the present session is "
            f"{present}); a past date is served by databento (historical) or saved captures of that day",
            code="PAST_DATE")


def capture_folder(output_root: Path, trade_date: date) -> Path:
    """`<output root>/YYYYMMDD/api_data/`: where a source saves what it fetched (the saved source replays it)."""
    return Path(output_root) / trade_date.strftime("%Y%m%d") / CAPTURE_SUBDIR


@dataclass(frozen=True)
class ChainRequest:
    """What the run asks every source for."""

    trade_date: date
    now: pd.Timestamp
    symbol: str = "NQ"
    multiplier: float = 20.0
    timeout_s: float = 20.0
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    deadline: Deadline | None = None  # set by the loader per source: the end of this attempt

    @classmethod
    def from_profile(cls, profile: Profile, *, trade_date: date, now: pd.Timestamp) -> "ChainRequest":
        """The request of a run of `profile`: its instrument and its `data_sources` time limits."""
        instrument, sources = profile.section("instrument"), profile.section("data_sources")
        return cls(trade_date=trade_date, now=now, symbol=str(instrument.get("symbol", "NQ")),
                   multiplier=float(instrument.get("multiplier", 20.0)),
                   timeout_s=float(sources.get("timeout_s", 20.0)),
                   request_timeout_s=float(sources.get("request_timeout_s", DEFAULT_REQUEST_TIMEOUT_S)))

    def request_timeout(self) -> float:
        """Seconds one HTTP request may wait: the per-request cap, or what is left of the deadline."""
        if self.deadline is None:
            return min(self.request_timeout_s, self.timeout_s)
        return self.deadline.request_timeout(self.request_timeout_s)


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
    code: str = ""       # short reason code: OK, TIMEOUT, CONNECTION, HTTP_500, AUTH, BUDGET, ...
    retries: int = 0     # retries made after the first try
    breaker: str = ""    # the source's circuit breaker after the attempt: closed/open/half_open

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DataSource(ABC):
    """A provider of canonical chains.

    `network` sources are guarded by the loader (time limit, retries, circuit breaker); a paid
    source sets `last_cost_usd` after each successful fetch (failed ones carry it in the error); a
    source that answered from its own cache instead of the vendor says how in `last_cache_reason`
    (the loader resets both before each fetch).
    """

    name: ClassVar[str]
    network: ClassVar[bool] = False
    guard: "SourceGuard | None" = None
    last_cost_usd: float = 0.0
    last_cache_reason: str = ""

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


@dataclass(frozen=True)
class SourceGuard:
    """How the loader protects one source: its time limit, its retries, its circuit breaker.

    `timeout_s` bounds the whole attempt (retries included), `request_timeout_s` each request in
    it; `breakers` is None for sources that are never skipped (saved data). `sleep` and `rng`
    (the jitter) are injectable for tests.
    """

    timeout_s: float | None = None
    request_timeout_s: float | None = None
    retry: RetryPolicy = RetryPolicy(attempts=1)
    breakers: BreakerBoard | None = None
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    monotonic: Callable[[], float] = time.monotonic

    @classmethod
    def from_context(cls, name: str, context: SourceContext, *, now: Callable[[], float] = time.time,
                     sleep: Callable[[float], None] = time.sleep,
                     rng: random.Random | None = None) -> "SourceGuard":
        """The guard of a network source from `data_sources` (a vendor's own timeouts win)."""
        section = context.profile.section("data_sources")
        vendor = section.get(name, {}) or {}
        timeout = vendor.get("timeout_s") or section.get("timeout_s")
        request_timeout = vendor.get("request_timeout_s") or section.get("request_timeout_s")
        return cls(timeout_s=float(timeout) if timeout else None,
                   request_timeout_s=float(request_timeout) if request_timeout else None,
                   retry=RetryPolicy.from_mapping(section.get("retry")),
                   breakers=BreakerBoard(context.output_root, BreakerConfig.from_mapping(section.get("breaker")),
                                         now=now),
                   sleep=sleep, rng=rng or random.Random())

    def breaker(self, name: str, trade_date: date) -> CircuitBreaker | None:
        return self.breakers.breaker(name, trade_date) if self.breakers is not None else None

    def scoped(self, request: ChainRequest) -> ChainRequest:
        """The request as this source sees it: its own time limit, its deadline starting now."""
        timeout = self.timeout_s if self.timeout_s is not None else request.timeout_s
        request_timeout = self.request_timeout_s if self.request_timeout_s is not None else request.request_timeout_s
        return dataclasses.replace(request, timeout_s=timeout, request_timeout_s=min(request_timeout, timeout),
                                   deadline=Deadline(timeout, clock=self.monotonic))


UNGUARDED = SourceGuard()


def build_sources(names: Sequence[str], context: SourceContext, *, now: Callable[[], float] = time.time,
                  sleep: Callable[[float], None] = time.sleep) -> list[DataSource]:
    """Instantiate the sources in priority order; unknown ones become `UnavailableSource`.

    Network sources get a `SourceGuard` from the profile (`now` is the breakers' wall clock).
    """
    sources: list[DataSource] = []
    for name in names:
        cls = source_class(name)
        source = cls.from_context(context) if cls else UnavailableSource(name)
        if source.network:
            source.guard = SourceGuard.from_context(name, context, now=now, sleep=sleep)
        sources.append(source)
    return sources


class ChainLoader:
    """Tries sources in order; the first valid chain wins. `clock` returns seconds (monotonic)."""

    def __init__(self, sources: Sequence[DataSource], *,
                 clock: Callable[[], float] = time.perf_counter, bounds: ChainBounds = DEFAULT_BOUNDS) -> None:
        self.sources = list(sources)
        self.clock = clock
        self.bounds = bounds  # the chain gate's bounds (profile: data_sources.validation)

    def load(self, request: ChainRequest) -> LoadResult:
        attempts: list[SourceAttempt] = []
        for source in self.sources:
            attempt, chain = self._try(source, request)
            attempts.append(attempt)
            if chain is not None:
                return LoadResult(chain=chain, attempts=tuple(attempts))
            log.warning("source %s: %s (%s); trying the next source", source.name, attempt.outcome, attempt.reason)
        summary = "; ".join(f"{a.source}: {a.reason}" for a in attempts)
        raise DataUnavailableError(f"no source could serve a chain ({summary})", attempts)

    def _try(self, source: DataSource, request: ChainRequest) -> tuple[SourceAttempt, OptionsChain | None]:
        """One guarded attempt at one source (see the module docstring for the steps)."""
        guard = source.guard or UNGUARDED
        breaker = guard.breaker(source.name, request.trade_date)
        started = self.clock()
        if breaker is not None and not breaker.allows():
            return self._attempt(source, OUTCOME_SKIPPED, breaker.skip_reason(), started, code="BREAKER_OPEN",
                                 breaker=breaker.state().value), None
        scoped = guard.scoped(request) if source.guard is not None else request
        seen = RetryOutcome()
        source.last_cost_usd = 0.0
        source.last_cache_reason = ""
        chain: OptionsChain | None = None
        try:
            chain = validate_chain(retry_call(lambda: source.fetch(scoped), policy=guard.retry,
                                              deadline=scoped.deadline, sleep=guard.sleep, rng=guard.rng,
                                              outcome=seen, label=f"source {source.name}"), self.bounds)
        except SourceNotAvailableError as exc:
            outcome, reason, code, counts = OUTCOME_UNAVAILABLE, str(exc), exc.code or "NOT_AVAILABLE", False
        except SourceRefusedError as exc:
            outcome, reason, code, counts = OUTCOME_REFUSED, str(exc), exc.code or "REFUSED", False
        except DataSourceError as exc:
            outcome, reason, code, counts = OUTCOME_FAILED, str(exc), exc.code or "FAILED", True
        except ChainValidationError as exc:
            outcome, reason, code, counts = OUTCOME_REJECTED, str(exc), "VALIDATION", True
        except ConfigError:
            raise  # the profile is wrong: stop the run (exit 2) rather than fail over
        except Exception as exc:  # a source's own bug (an answer its parser did not expect): fail over, loudly
            log.exception("source %s raised an unexpected %s; recorded as a failure, trying the next source",
                          source.name, type(exc).__name__)
            outcome, reason, code, counts = (OUTCOME_FAILED, f"unexpected {type(exc).__name__}: {exc} "
                                             "(a bug in this source's code; the traceback is in the run's log)",
                                             "UNEXPECTED", True)
        else:
            outcome, reason, code, counts = OUTCOME_SERVED, "ok", "OK", False
            if source.last_cache_reason:
                outcome, reason, code = OUTCOME_CACHED, source.last_cache_reason, "CACHE"
        # failed tries carry their cost in the error; a fetch that returned (served or rejected) sets last_cost_usd
        cost = seen.failed_cost_usd + source.last_cost_usd
        state = ""
        if breaker is not None:
            if outcome in SERVING_OUTCOMES:
                state = breaker.record_success().value
            elif counts:
                state = breaker.record_failure(f"{code}: {reason}").value
            else:
                state = breaker.state().value
        attempt = self._attempt(source, outcome, reason, started, cost=cost,
                                contracts=len(chain.frame) if chain is not None else 0,
                                code=code, retries=seen.retries, breaker=state)
        return attempt, chain

    def _attempt(self, source: DataSource, outcome: str, reason: str, started: float, *,
                 cost: float = 0.0, contracts: int = 0, code: str = "", retries: int = 0,
                 breaker: str = "") -> SourceAttempt:
        latency = (self.clock() - started) * 1000.0
        extra = f", {retries} retries" if retries else ""
        extra += f", ${cost:.4f}" if cost else ""
        extra += f", breaker {breaker}" if breaker else ""
        if outcome == OUTCOME_SERVED:
            log.info("source %s served %d contracts in %.0f ms%s", source.name, contracts, latency, extra)
        elif outcome == OUTCOME_CACHED:
            log.info("source %s served %d contracts from its cache in %.0f ms%s: %s", source.name, contracts,
                     latency, extra, reason)
        else:
            log.info("source %s %s [%s] after %.0f ms%s: %s", source.name, outcome, code, latency, extra, reason)
        return SourceAttempt(source=source.name, outcome=outcome, reason=reason, latency_ms=round(latency, 3),
                             cost_usd=round(float(cost), 6), contracts=contracts, code=code, retries=retries,
                             breaker=breaker)
