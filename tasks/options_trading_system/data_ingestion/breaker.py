"""Circuit breakers: a source that keeps failing is skipped quickly until its reset time.

One breaker per source, a small state machine whose state is kept in a JSON file in the day's
output folder (`outputs/YYYYMMDD/state/circuit_breakers.json`), so the runs of one day share it
and a new day starts with every source closed:

- CLOSED: the source is tried; each failure counts, a success resets the count; after
  `failure_threshold` consecutive failures the breaker OPENs;
- OPEN: the source is skipped (the attempt is recorded as "skipped" with the reason and the
  reset time) until `reset_after_s` have passed since it opened;
- HALF_OPEN: after the reset time one try is let through; success closes the breaker, failure
  opens it again for another `reset_after_s`.

The wall clock (epoch seconds) is passed in, so tests step time instead of sleeping.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Mapping

from ..state.atomic import atomic_write_text

log = logging.getLogger(__name__)

STATE_FILE = Path("state") / "circuit_breakers.json"


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, kw_only=True)
class BreakerConfig:
    """When a breaker opens and for how long (profile: `data_sources.breaker`)."""

    failure_threshold: int = 3    # consecutive failures that open the breaker
    reset_after_s: float = 300.0  # how long an open breaker skips the source before one new try

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> "BreakerConfig":
        mapping = mapping or {}
        return cls(**{k: mapping[k] for k in ("failure_threshold", "reset_after_s") if k in mapping})


@dataclass(frozen=True)
class BreakerRecord:
    """What is stored per source."""

    state: str = BreakerState.CLOSED.value
    consecutive_failures: int = 0
    opened_at: float | None = None
    last_reason: str = ""


class BreakerStore:
    """The breakers' records for one day, in one JSON file (read before and written after each change)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def for_day(cls, output_root: Path, trade_date: date) -> "BreakerStore":
        return cls(Path(output_root) / trade_date.strftime("%Y%m%d") / STATE_FILE)

    def load(self) -> dict[str, BreakerRecord]:
        if not self.path.is_file():
            return {}
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {name: BreakerRecord(**value) for name, value in raw.items()}
        except (OSError, ValueError, TypeError) as exc:
            log.warning("circuit breaker state %s unreadable (%s); starting with every source closed", self.path, exc)
            return {}

    def get(self, name: str) -> BreakerRecord:
        return self.load().get(name, BreakerRecord())

    def put(self, name: str, record: BreakerRecord) -> None:
        records = self.load()
        records[name] = record
        atomic_write_text(self.path, json.dumps({k: asdict(v) for k, v in sorted(records.items())}, indent=2))


class CircuitBreaker:
    """The breaker of one source. `now` returns epoch seconds."""

    def __init__(self, name: str, config: BreakerConfig, store: BreakerStore, *,
                 now: Callable[[], float] = time.time) -> None:
        self.name = name
        self.config = config
        self.store = store
        self.now = now

    def state(self) -> BreakerState:
        record = self.store.get(self.name)
        if record.state == BreakerState.OPEN.value:
            if record.opened_at is not None and self.now() >= record.opened_at + self.config.reset_after_s:
                return BreakerState.HALF_OPEN
            return BreakerState.OPEN
        return BreakerState(record.state)

    def allows(self) -> bool:
        """False while the breaker is open (the source is skipped)."""
        return self.state() is not BreakerState.OPEN

    def reopens_at(self) -> float | None:
        record = self.store.get(self.name)
        return None if record.opened_at is None else record.opened_at + self.config.reset_after_s

    def skip_reason(self) -> str:
        """Why the source is skipped, for the attempts table."""
        record = self.store.get(self.name)
        until = self.reopens_at()
        when = datetime.fromtimestamp(until, tz=timezone.utc).strftime("%H:%M:%S UTC") if until else "?"
        last = f"; last failure: {record.last_reason}" if record.last_reason else ""
        return (f"circuit breaker open after {record.consecutive_failures} consecutive failures; "
                f"skipped until {when}{last}")

    def record_success(self) -> BreakerState:
        previous = self.store.get(self.name)
        if previous.state != BreakerState.CLOSED.value:
            log.info("circuit breaker %s: closed again after a success", self.name)
        self.store.put(self.name, BreakerRecord())
        return BreakerState.CLOSED

    def record_failure(self, reason: str) -> BreakerState:
        state = self.state()
        record = self.store.get(self.name)
        failures = record.consecutive_failures + 1
        if state is BreakerState.HALF_OPEN or failures >= self.config.failure_threshold:
            if state is not BreakerState.OPEN:
                log.warning("circuit breaker %s: OPEN after %d consecutive failures (%s); skipping it for %g s",
                            self.name, failures, reason, self.config.reset_after_s)
            new = BreakerRecord(state=BreakerState.OPEN.value, consecutive_failures=failures,
                                opened_at=self.now(), last_reason=reason)
        else:
            new = replace(record, state=BreakerState.CLOSED.value, consecutive_failures=failures, last_reason=reason)
        self.store.put(self.name, new)
        return BreakerState(new.state)


class BreakerBoard:
    """Hands out the breaker of a source for a trading day (state under that day's folder)."""

    def __init__(self, output_root: Path, config: BreakerConfig, *, now: Callable[[], float] = time.time) -> None:
        self.output_root = Path(output_root)
        self.config = config
        self.now = now

    def breaker(self, name: str, trade_date: date) -> CircuitBreaker:
        return CircuitBreaker(name, self.config, BreakerStore.for_day(self.output_root, trade_date), now=self.now)
