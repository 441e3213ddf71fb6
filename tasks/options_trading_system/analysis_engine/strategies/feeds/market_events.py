"""Market events: what the orchestrator processes, one at a time, in replay and live alike.

A day is a sequence of events, each identified by (day, index) and so by a stable key:
- `chain`: a chain snapshot arrived (IFD v1.0 and EV read it);
- `mbo`: the IFD v3.0 engine emitted on the MBO stream at this time;
- `close`: the day's window closed (open positions are flattened, the day is summarized).
A feed yields a day's events (a replay from its recording, live from the sources on a cycle) and
loads what an event needs. Everything time-dependent comes from the event's simulated time.
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterator, Mapping

import numpy as np
import pandas as pd

from ....data_ingestion.canonical import OptionsChain
from .price_path import PricePath
from .snapshot_store import GreeksTable
from .trading_calendar import TradingDay

EVENT_CHAIN = "chain"
EVENT_MBO = "mbo"
EVENT_CLOSE = "close"
KIND_ORDER = {EVENT_CHAIN: 0, EVENT_MBO: 1, EVENT_CLOSE: 2}


@dataclass(frozen=True)
class MarketEvent:
    day: str
    index: int
    time: pd.Timestamp
    kind: str
    input: str = ""

    @property
    def key(self) -> str:
        return event_key(self.day, self.index)


def event_key(day: str, index: int) -> str:
    return f"{day}#{index:05d}"


@dataclass(frozen=True)
class EventData:
    """What one event brings: the chain (validated) or why there is none, the chain's greeks when
    the feed computed them (a replay's `SnapshotStore`: once per snapshot, shared by every source),
    the previous snapshot of the day, what IFD v3.0 emitted, data costs, and the wall time the load took."""

    chain: OptionsChain | None = None
    greeks: GreeksTable | None = None
    chain_error: str = ""
    previous: pd.DataFrame | None = None
    mbo_signals: pd.DataFrame | None = None
    cost_usd: float = 0.0
    cost_note: str = ""
    load_ms: float = float("nan")
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: computed ahead (a replay's phase A, `replay_days.py`): each source's ideas by source name, the
    #: milliseconds each took, and the chain's interval volume (None for the day's first snapshot);
    #: `ideas` None = generate them now
    ideas: Mapping[str, pd.DataFrame] | None = None
    idea_ms: Mapping[str, float] = field(default_factory=dict)
    interval_volume: np.ndarray | None = None


class MarketFeed(ABC):
    """Where a run's market data comes from."""

    mode: str

    @abstractmethod
    def events(self, day: TradingDay, start_index: int, stop: threading.Event) -> Iterator[MarketEvent]:
        """The day's events from `start_index` on, each yielded when it is due (the clock has
        reached its time); ends after the `close` event or when `stop` is set."""

    @abstractmethod
    def load(self, event: MarketEvent) -> EventData:
        """The data behind `event` (loaded, validated; errors become `chain_error`)."""

    @abstractmethod
    def latest_chain(self, at: pd.Timestamp) -> OptionsChain | None:
        """The newest chain snapshot at or before `at` (context for MBO events and option quotes)."""

    @abstractmethod
    def bars(self, day: TradingDay) -> PricePath:
        """The price path of `day` known so far."""

    def day_latency(self, day: TradingDay) -> dict[str, float]:
        """Wall-clock milliseconds of per-day work done outside events (e.g. a day's IFD v3.0 replay)."""
        return {}

    def day_notes(self, day: TradingDay) -> list[str]:
        """What the feed could not give for the day (e.g. a refused recording file); none by default."""
        return []

    def planned_events(self, day: TradingDay) -> int | None:
        """How many events the day has, when known in advance (replay), for progress bars."""
        return None

    def close(self) -> None:
        """Release files and connections."""
