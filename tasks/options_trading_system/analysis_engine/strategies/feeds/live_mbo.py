"""IFD v3.0 live: the options' MBO stream into the engine's one-record path, read once per cycle.

For each IFD v3.0 signal source a `LiveMboChannel` opens a live MBO session when the day's window
opens (`data_ingestion/mbo/live_client.LiveMBOFeed`, in its own thread, every record through
`IFDv3Engine.on_record`: the same kernel the replay runs in batch) and closes it at the close.
Each cycle `take(now)` hands over what the engine emitted up to `now`, once; the orchestrator
turns it into an `mbo` event of that cycle. Baselines come from the store the IFD v3.0 tools keep
(the profile's `ifd_v3.baseline_db`), read for the day when it opens.
"""
from __future__ import annotations

import logging
import threading
from datetime import date
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ...ifd_v3.baselines import BaselineStore
from ...ifd_v3.engine import IFDv3Engine
from ...ifd_v3.replay import baselines_for
from .trading_calendar import TradingDay

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 10.0

#: (sink, on_gap) -> an object with run(timeout_s=...) and stop(): a LiveMBOFeed
FeedFactory = Callable[[Callable[[Any], Any], Callable[[pd.Timestamp, pd.Timestamp], None]], Any]


class LiveMboChannel:
    """One IFD v3.0 source on a live MBO stream (see the module docstring)."""

    def __init__(self, source: Any, make_feed: FeedFactory, *, baseline_db: Path | None = None) -> None:
        self.source = source
        self.make_feed = make_feed
        self.baseline_db = baseline_db
        self.engine: IFDv3Engine | None = None
        self.note = ""
        self._lock = threading.Lock()
        self._taken = 0
        self._held = pd.DataFrame()
        self._feed: Any = None
        self._thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return str(self.source.name)

    def open(self, day: TradingDay, seconds: float) -> None:
        """Start the day's session (for at most `seconds`) with a fresh engine."""
        self.close()
        engine = IFDv3Engine(self.source.config, baselines=self._baselines(day.session))
        self.engine = engine
        self._taken, self._held = 0, pd.DataFrame()

        def sink(record: Any) -> None:  # bound to this day's engine: a late record of an old session goes nowhere
            with self._lock:
                engine.on_record(record)

        self._feed = self.make_feed(sink, engine.note_gap)
        # the thread gets its own feed: a close() racing its start cannot hand it None
        self._thread = threading.Thread(target=self._run, args=(self._feed, seconds), name=f"mbo-{self.name}",
                                        daemon=True)
        self._thread.start()
        log.info("IFD v3.0 %s: live MBO session open for %s", self.name, day.label)

    def take(self, now: pd.Timestamp) -> pd.DataFrame:
        """Emissions up to `now` not handed over yet (later ones wait for their cycle)."""
        if self.engine is None:
            return pd.DataFrame()
        with self._lock:
            fresh = self.engine.signals(since=self._taken)
            self._taken += len(fresh)
        pool = pd.concat([f for f in (self._held, fresh) if not f.empty], ignore_index=True) \
            if not (self._held.empty and fresh.empty) else pd.DataFrame()
        if pool.empty:
            return pool
        due = pd.to_datetime(pool["time"], utc=True) <= now
        self._held = pool[~due].reset_index(drop=True)
        return pool[due].assign(source=self.name).reset_index(drop=True)

    def close(self) -> None:
        if self._feed is not None:
            try:
                self._feed.stop()
            except Exception as exc:  # a session that already ended may refuse to stop; nothing is lost
                log.info("IFD v3.0 %s: stopping the live session: %s", self.name, exc)
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT_S)
        self._feed, self._thread = None, None

    def _run(self, feed: Any, seconds: float) -> None:
        try:
            feed.run(timeout_s=seconds)
        except Exception as exc:  # the session failing must not stop the shadow run: it is noted instead
            self.note = f"IFD v3.0 {self.name}: live MBO session ended: {exc}"
            log.error(self.note)

    def _baselines(self, day: date) -> pd.DataFrame | None:
        if self.baseline_db is None or not Path(self.baseline_db).is_file():
            return None
        with BaselineStore(self.baseline_db) as store:
            return baselines_for(store, day, self.source.config)
