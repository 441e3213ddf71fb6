"""Replay: a recorded market played through the orchestrator on a simulated clock.

Each day's events are planned from the recording (snapshots inside the signal window, the IFD
v3.0 emissions computed from the day's MBO files, the close), so the plan, and therefore every
event key, is the same on every run and after a resume. The clock is advanced to each event's
time before it is yielded: instantly at full speed, paced with `--speed`.
"""
from __future__ import annotations

import bisect
import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import pandas as pd

from ....data_ingestion.canonical import OptionsChain
from ....errors import InputFileError
from .clock import Clock
from .market_events import (EVENT_CHAIN, EVENT_CLOSE, EVENT_MBO, KIND_ORDER, EventData, MarketEvent,
                            MarketFeed)
from .price_path import PricePath
from .recording import Recording, SnapshotRef
from .snapshot_store import SnapshotStore
from .trading_calendar import TradingDay

log = logging.getLogger(__name__)

DAY_NS = 86_400 * 10**9

#: (day, MBO files) -> emissions with a tz-aware `time` and a `source` column
MboBatch = Callable[[TradingDay, Sequence[Path]], pd.DataFrame]


class ReplayFeed(MarketFeed):
    """Events and data from a `Recording`; `mbo_batch` runs IFD v3.0 over a day's MBO files;
    `snapshots` parses each snapshot file once (and computes its greeks, when it has settings for
    them); without one, a memory-only store without greeks."""

    mode = "replay"

    def __init__(self, recording: Recording, prices: PricePath, clock: Clock, *,
                 mbo_batch: MboBatch | None = None, snapshots: SnapshotStore | None = None) -> None:
        self.recording = recording
        self.prices = prices
        self.clock = clock
        self.mbo_batch = mbo_batch
        self.snapshots = snapshots if snapshots is not None else SnapshotStore()
        self._plans: dict[str, list[MarketEvent]] = {}
        self._timeline: tuple[list[tuple[int, str]], list[Path]] | None = None  # every snapshot, by time
        self._emissions: dict[str, pd.DataFrame] = {}
        self.mbo_batch_ms: dict[str, float] = {}
        self._day_refusals: dict[str, str] = {}

    # --- planning --------------------------------------------------------------------------

    def plan(self, day: TradingDay) -> list[MarketEvent]:
        """The day's events in processing order (cached)."""
        if day.label in self._plans:
            return self._plans[day.label]
        items: list[tuple[pd.Timestamp, int, str, str]] = []
        for ref in self._window_snapshots(day):
            items.append((ref.time, KIND_ORDER[EVENT_CHAIN], EVENT_CHAIN, ref.path.name))
        emissions = self._day_emissions(day)
        if not emissions.empty:
            inside = emissions[(emissions["time"] >= day.window_open) & (emissions["time"] < day.window_close)]
            for stamp in sorted(inside["time"].unique()):
                items.append((pd.Timestamp(stamp), KIND_ORDER[EVENT_MBO], EVENT_MBO,
                              ",".join(p.name for p in self.recording.mbo_of(day.session))))
        items.sort(key=lambda item: (item[0], item[1], item[3]))
        events = [MarketEvent(day=day.label, index=i, time=t, kind=kind, input=source)
                  for i, (t, _, kind, source) in enumerate(items)]
        events.append(MarketEvent(day=day.label, index=len(events), time=day.window_close, kind=EVENT_CLOSE))
        self._plans[day.label] = events
        return events

    def day_latency(self, day: TradingDay) -> dict[str, float]:
        ms = self.mbo_batch_ms.get(day.label)
        return {} if ms is None else {"algorithm:ifd_v3 (day replay)": ms}

    def day_notes(self, day: TradingDay) -> list[str]:
        """What the recording could not give for the day (a refused MBO file), for the ledger."""
        self._day_emissions(day)
        note = self._day_refusals.get(day.label)
        return [note] if note else []

    def planned_events(self, day: TradingDay) -> int | None:
        return len(self.plan(day))

    def events(self, day: TradingDay, start_index: int, stop: threading.Event) -> Iterator[MarketEvent]:
        for event in self.plan(day)[start_index:]:
            if stop.is_set() or not self.clock.sleep_until(event.time, stop):
                return
            yield event

    # --- data ------------------------------------------------------------------------------

    def load(self, event: MarketEvent) -> EventData:
        data = self._load(event)
        refusal = self._day_refusals.get(event.day) if event.index == 0 else None
        return dataclasses.replace(data, notes=(*data.notes, refusal)) if refusal else data

    def _load(self, event: MarketEvent) -> EventData:
        started = time.perf_counter()
        if event.kind == EVENT_MBO:
            emissions = self._emissions.get(event.day, pd.DataFrame())
            rows = emissions[emissions["time"] == event.time] if not emissions.empty else emissions
            return EventData(mbo_signals=rows.reset_index(drop=True), load_ms=_ms(started))
        if event.kind != EVENT_CHAIN:
            return EventData()
        refs = self._day_refs(event.day)
        position = next((i for i, ref in enumerate(refs) if ref.path.name == event.input and ref.time == event.time),
                        None)
        if position is None:  # the plan came from this recording: only a recording changed under a resume does this
            raise InputFileError(f"--replay {self.recording.root}: event {event.key} expects the snapshot "
                                 f"{event.day}/{event.input} taken at {event.time.isoformat()}, which the recording no "
                                 f"longer has; resume a replay with the recording it started with")
        parsed = self.snapshots.load(refs[position].path)
        load_ms = _ms(started)
        previous = None
        if position > 0:
            earlier = self.snapshots.load(refs[position - 1].path).chain
            previous = earlier.frame if earlier is not None else None
        if parsed.chain is None:
            return EventData(chain_error=parsed.error, previous=previous, load_ms=load_ms,
                             cost_note="replay: recorded data, nothing bought")
        return EventData(chain=parsed.chain, greeks=parsed.greeks, previous=previous, load_ms=load_ms,
                         cost_note="replay: recorded data, nothing bought")

    def latest_chain(self, at: pd.Timestamp) -> OptionsChain | None:
        """The newest snapshot at or before `at` and less than a day old (the latest name among
        equal times), found by bisection over every recorded snapshot: a lookup costs the same on
        the last day of a months-long recording as on the first."""
        if self._timeline is None:
            refs = sorted((ref.time.value, ref.path.name, ref.path)
                          for day_refs in self.recording.snapshots.values() for ref in day_refs)
            self._timeline = ([(t, name) for t, name, _ in refs], [path for _, _, path in refs])
        keys, paths = self._timeline
        at_ns = pd.Timestamp(at).value
        position = bisect.bisect_right(keys, (at_ns, "\U0010ffff")) - 1
        if position < 0 or at_ns - keys[position][0] >= DAY_NS:
            return None
        return self.snapshots.load(paths[position]).chain

    def bars(self, day: TradingDay) -> PricePath:
        return self.prices.between(day.session_open, day.session_close)

    # --- helpers ---------------------------------------------------------------------------

    def _window_snapshots(self, day: TradingDay) -> list[SnapshotRef]:
        return [ref for ref in self.recording.snapshots_of(day.session)
                if day.window_open <= ref.time < day.window_close]

    def _day_refs(self, label: str) -> list[SnapshotRef]:
        from datetime import date
        return list(self.recording.snapshots_of(date.fromisoformat(label)))

    def _day_emissions(self, day: TradingDay) -> pd.DataFrame:
        if day.label in self._emissions:
            return self._emissions[day.label]
        files = self.recording.mbo_of(day.session)
        emissions = pd.DataFrame()
        if self.mbo_batch is not None and files:
            started = time.perf_counter()
            try:
                emissions = self.mbo_batch(day, files)
            except InputFileError as exc:  # one bad day's MBO costs that day's IFD v3.0, not the run
                log.warning("replay %s: MBO of %s refused, no IFD v3.0 signal that day: %s",
                            self.recording.root, day.label, exc)
                self._day_refusals[day.label] = f"MBO of {day.label} refused (no IFD v3.0 signal that day): {exc}"
                emissions = pd.DataFrame()
            self.mbo_batch_ms[day.label] = _ms(started)
        self._emissions[day.label] = emissions
        return emissions

def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
