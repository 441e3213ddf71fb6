"""Live: the chain from the profile's data sources every cycle, in real time.

Each cycle is one `chain` event: the loader tries the sources in the profile's order (failover,
retries, attempts with their costs), the chain is validated, and the underlying price it carries
becomes a point of the day's price path at the chain's own time (a quote's time, so staleness
shows). IFD v3.0 sources read a live MBO stream (`live_mbo.py`); what their engines emitted by a
cycle's time becomes an `mbo` event right after that cycle's `chain` event. Every chain and the
price points are saved under the run's `recording/` folder in the replay layout, so a live run can
be resumed after a restart (the previous snapshot of the day is read back) and replayed later
through the very same code.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import date
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from ....data_ingestion.canonical import OptionsChain, validate_chain
from ....data_ingestion.saved.formats import read_capture
from ....data_ingestion.saved.snapshot_format import write_snapshot
from ....data_ingestion.sources_registry import SERVING_OUTCOMES, ChainLoader, ChainRequest
from ....errors import ChainValidationError, DataUnavailableError, InputFileError
from ....state.atomic import atomic_write_text
from .clock import Clock
from .cycle_timer import CycleTimer
from .live_mbo import LiveMboChannel
from .market_events import EVENT_CHAIN, EVENT_CLOSE, EVENT_MBO, EventData, MarketEvent, MarketFeed
from .price_path import PricePath
from .recording import CHAIN_DIR, PRICE_DIR
from .trading_calendar import TradingDay

log = logging.getLogger(__name__)

LIVE_PRICES = "live_prices.csv"


class LiveFeed(MarketFeed):
    """One `chain` event per cycle inside the window, then the `close` event."""

    mode = "live"

    def __init__(self, loader: ChainLoader, request: Callable[[date, pd.Timestamp], ChainRequest], clock: Clock,
                 timer: CycleTimer, recording_dir: Path, *, mbo_channels: Sequence[LiveMboChannel] = (),
                 notes: Sequence[str] = ()) -> None:
        self.loader = loader
        self.request = request
        self.clock = clock
        self.timer = timer
        self.recording_dir = Path(recording_dir)
        self.mbo_channels = list(mbo_channels)
        self.notes = tuple(notes)
        self._prices = self._read_prices()
        self._latest: OptionsChain | None = None
        self._emitted: dict[str, pd.DataFrame] = {}

    def events(self, day: TradingDay, start_index: int, stop: threading.Event) -> Iterator[MarketEvent]:
        if self.clock.now() < day.window_open:
            log.info("live: waiting for the window of %s to open at %s", day.label, day.window_open)
            if not self.clock.sleep_until(day.window_open, stop):
                return
        for channel in self.mbo_channels:
            channel.open(day, max((day.window_close - self.clock.now()).total_seconds(), 0.0))
        try:
            index = start_index
            while not stop.is_set() and self.clock.now() < day.window_close:
                now = self.clock.now()
                yield MarketEvent(day=day.label, index=index, time=now, kind=EVENT_CHAIN, input="live")
                index += 1
                emitted = self._take(now)
                if not emitted.empty:
                    event = MarketEvent(day=day.label, index=index, time=now, kind=EVENT_MBO, input="live MBO")
                    self._emitted[event.key] = emitted
                    yield event
                    index += 1
                if not self.timer.wait_next(stop):
                    return
            if stop.is_set() or not self.clock.sleep_until(day.window_close, stop):
                return
            yield MarketEvent(day=day.label, index=index, time=day.window_close, kind=EVENT_CLOSE)
        finally:
            for channel in self.mbo_channels:
                channel.close()

    def _take(self, now: pd.Timestamp) -> pd.DataFrame:
        frames = [channel.take(now) for channel in self.mbo_channels]
        frames = [f for f in frames if not f.empty]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def load(self, event: MarketEvent) -> EventData:
        if event.kind == EVENT_MBO:
            return EventData(mbo_signals=self._emitted.pop(event.key, pd.DataFrame()), load_ms=0.0)
        started = time.perf_counter()
        session = date.fromisoformat(event.day)
        previous = self._previous_frame(session, event.time)
        try:
            result = self.loader.load(self.request(session, event.time))
        except DataUnavailableError as exc:
            cost = sum(a.cost_usd for a in exc.attempts)
            return EventData(chain_error=str(exc), previous=previous, cost_usd=cost,
                             cost_note="data sources tried this cycle", load_ms=_ms(started))
        chain = result.chain
        load_ms = _ms(started)
        cost = float(sum(a.cost_usd for a in result.attempts))
        served = next((a.source for a in result.attempts if a.outcome in SERVING_OUTCOMES), "")
        if chain.meta.is_sample:  # the last-resort sample is for first runs, never for live trading
            log.error("live cycle %s: no live source served (only %s's sample data); nothing is traded on it",
                      event.key, served or "the saved source")
            return EventData(chain_error=f"{SAMPLE_REFUSED} ({served or 'saved'} served the bundled sample)",
                             previous=previous, cost_usd=cost, cost_note="data sources tried this cycle",
                             load_ms=load_ms, notes=self.notes)
        self._save(session, event.time, chain)
        self._latest = chain
        notes = tuple(f"source {a.source}: {a.outcome} ({a.reason})" for a in result.attempts if a.outcome != "served")
        notes += self.notes + tuple(c.note for c in self.mbo_channels if c.note)
        return EventData(chain=chain, previous=previous, cost_usd=cost, load_ms=load_ms,
                         cost_note=f"served by {served}", notes=notes)

    def latest_chain(self, at: pd.Timestamp) -> OptionsChain | None:
        if self._latest is not None and self._latest.meta.as_of <= at:
            return self._latest
        refs = self._saved(at.tz_convert("UTC").date(), at)
        if not refs:
            return None
        try:
            return validate_chain(read_capture(refs[-1]))
        except (ChainValidationError, InputFileError):
            return None

    def bars(self, day: TradingDay) -> PricePath:
        return self._prices.between(day.session_open, day.session_close)

    # --- the run's own recording -----------------------------------------------------------

    def _save(self, session: date, at: pd.Timestamp, chain: OptionsChain) -> None:
        folder = self.recording_dir / CHAIN_DIR / session.isoformat()
        write_snapshot(chain, folder / f"{at.tz_convert('UTC').strftime('%H%M%S')}.json")
        price = chain.meta.underlying_price
        if np.isfinite(price):
            stamp = chain.meta.as_of if chain.meta.as_of <= at else at
            point = pd.DataFrame({"start": [stamp], "open": [price], "high": [price], "low": [price],
                                  "close": [price], "volume": [np.nan]})
            self._prices = self._prices.append(PricePath.from_frame(point, bar_seconds=0, source="live"))
            self._write_prices()

    def _write_prices(self) -> None:
        """The observed prices as a bar CSV (`timestamp` with its UTC offset), replayable later."""
        frame = self._prices.to_frame()
        out = frame.assign(timestamp=frame["start"].map(lambda t: t.isoformat()))
        text = out[["timestamp", "open", "high", "low", "close", "volume"]].to_csv(index=False)
        atomic_write_text(self.recording_dir / PRICE_DIR / LIVE_PRICES, text)

    def _read_prices(self) -> PricePath:
        path = self.recording_dir / PRICE_DIR / LIVE_PRICES
        if not path.is_file():
            return PricePath.empty("live")
        frame = pd.read_csv(path)
        frame["start"] = pd.to_datetime(frame["timestamp"], utc=True)
        return PricePath.from_frame(frame, bar_seconds=0, source="live")

    def _saved(self, session: date, before: pd.Timestamp) -> list[Path]:
        folder = self.recording_dir / CHAIN_DIR / session.isoformat()
        if not folder.is_dir():
            return []
        limit = before.tz_convert("UTC").strftime("%H%M%S")
        return sorted(p for p in folder.glob("*.json") if p.stem < limit)

    def _previous_frame(self, session: date, at: pd.Timestamp) -> pd.DataFrame | None:
        refs = self._saved(session, at)
        if not refs:
            return None
        try:
            return read_capture(refs[-1]).frame
        except InputFileError:
            return None


SAMPLE_REFUSED = "live mode never trades sample data: no live source served this cycle"


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
