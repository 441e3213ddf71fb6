"""Phase B of a replay: the orchestrator's feed over phase-A day results (`replay_days.py`).

The driver plays each day's events from its `DayResult` (computed in this process or on a
cluster, `day_executors.py`), in day order, on the run's simulated clock; the orchestrator then
validates against the ledger's history, trades and writes, exactly as for any feed. A day whose
phase A failed plays only its `close` event: the day closes with no signal, and its summary (and
the console) says why.
"""
from __future__ import annotations

import logging
import threading
from typing import Iterator

import pandas as pd

from ...data_ingestion.canonical import OptionsChain
from .day_executors import OutcomeStream
from .feeds.clock import Clock
from .feeds.market_events import EVENT_CLOSE, EventData, MarketEvent, MarketFeed
from .feeds.price_path import PricePath
from .feeds.trading_calendar import TradingDay
from .replay_days import DayResult

log = logging.getLogger(__name__)


class PhasedReplayFeed(MarketFeed):
    """Events and data of `run_key`'s days from `stream` (see the module docstring)."""

    mode = "replay"

    def __init__(self, stream: OutcomeStream, run_key: str, prices: PricePath, clock: Clock) -> None:
        self.stream = stream
        self.run_key = run_key
        self.prices = prices
        self.clock = clock
        self.failures: dict[str, str] = {}
        self._current: DayResult | None = None

    def result(self, day: TradingDay) -> DayResult:
        """The day's phase-A result (waits for it); only the current day is kept."""
        if self._current is not None and self._current.label == day.label:
            return self._current
        outcome = self.stream.take(f"{self.run_key}/{day.label}")
        if outcome.failed:
            self.failures[day.label] = outcome.error
            log.error("replay of %s failed: %s; the day closes with no signal, the run goes on", day.label,
                      outcome.error)
            self._current = failed_day(day, outcome.error)
        else:
            self._current = outcome.value
        return self._current

    def events(self, day: TradingDay, start_index: int, stop: threading.Event) -> Iterator[MarketEvent]:
        for event in self.result(day).events[start_index:]:
            if stop.is_set() or not self.clock.sleep_until(event.time, stop):
                return
            yield event

    def load(self, event: MarketEvent) -> EventData:
        current = self._day_of(event.day)
        return current.data.get(event.index, EventData())

    def latest_chain(self, at: pd.Timestamp) -> OptionsChain | None:
        current = self._current
        if current is None or at not in current.latest:
            raise KeyError(f"no chain context computed for {at.isoformat()}: phase A records it at every event time")
        return current.latest[at]

    def bars(self, day: TradingDay) -> PricePath:
        return self.prices.between(day.session_open, day.session_close)

    def day_latency(self, day: TradingDay) -> dict[str, float]:
        return dict(self.result(day).latency)

    def day_notes(self, day: TradingDay) -> list[str]:
        return list(self.result(day).notes)

    def close(self) -> None:
        self.stream.close()

    def _day_of(self, label: str) -> DayResult:
        if self._current is None or self._current.label != label:
            raise KeyError(f"event of {label} asked for while the replay is on "
                           f"{self._current.label if self._current else 'no day'}")
        return self._current


def failed_day(day: TradingDay, error: str) -> DayResult:
    """A day whose phase A failed: its close event only, and the note that says why."""
    note = (f"replay of {day.label} failed ({error}); none of the day's events were replayed, so it has no "
            f"signal: fix the recording and replay the day again in a new run")
    return DayResult(label=day.label, events=(MarketEvent(day=day.label, index=0, time=day.window_close,
                                                          kind=EVENT_CLOSE),),
                     data={}, latest={}, notes=(note,))
