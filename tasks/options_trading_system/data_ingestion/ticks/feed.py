"""Tick feeds behind one interface: the trades of the traded future, one `Tick` at a time.

A `TickFeed` is iterated for `Tick(ts_ns, price, size, side)` records in exchange-time order (a
record older than the last one delivered, or without a price or size, is quarantined and counted,
never delivered). While it runs it records `gaps` (stretches of exchange time it has no ticks
for: a silence in a recording, a dropped connection) and `reconnects` (when and why it came back),
so a report can say what the decisions did not see. `close()` ends it; iteration then stops.

Feeds: `ReplayTickFeed` (DBN files of a folder, day by day, through `read_ticks`; here),
`DatabentoLiveTickFeed` (`databento.Live` trades, `databento_live.py`) and
`TradovateQuoteTickFeed` (Tradovate's market-data WebSocket, `tradovate_quotes.py`).
"""
from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import databento as db

from ...errors import InputFileError
from .dbn_ticks import TRADE_SCHEMAS, Ticks, read_ticks

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade: exchange time (ns since the epoch, UTC), price (index points), size
    (contracts) and aggressor side (`B` buyer, `A` seller, `N` unknown)."""

    ts_ns: int
    price: float
    size: float
    side: str


@dataclass(frozen=True)
class FeedGap:
    """Exchange time the feed has no ticks for: from `start_ns` (the last exchange time seen before
    it) to `end_ns` (the first after it). `missed_size` is the volume traded meanwhile when the
    vendor says (Tradovate's cumulative volume), else None."""

    start_ns: int
    end_ns: int
    reason: str
    missed_size: float | None = None

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def to_dict(self) -> dict[str, Any]:
        return {"start_ns": self.start_ns, "end_ns": self.end_ns, "seconds": self.seconds, "reason": self.reason,
                "missed_size": self.missed_size}


@dataclass(frozen=True)
class Reconnect:
    """The feed came back after losing its connection: when (the feed's clock, ns UTC) and why it
    had been lost."""

    at_ns: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"at_ns": self.at_ns, "reason": self.reason}


class TickFeed(ABC):
    """Ticks of one future in exchange-time order, with the gaps and reconnects met on the way."""

    name: str = "feed"

    def __init__(self) -> None:
        self.gaps: list[FeedGap] = []
        self.reconnects: list[Reconnect] = []
        self.delivered = 0
        self.quarantined = 0
        self._last_ns: int | None = None

    @abstractmethod
    def __iter__(self) -> Iterator[Tick]:
        """The ticks, in exchange-time order, until the feed ends or is closed."""

    @abstractmethod
    def close(self) -> None:
        """Stop: release connections and files; iteration ends."""

    def __enter__(self) -> "TickFeed":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> dict[str, Any]:
        """What the feed did: ticks delivered and quarantined, its gaps and reconnects."""
        return {"feed": self.name, "ticks": self.delivered, "quarantined": self.quarantined,
                "gaps": [g.to_dict() for g in self.gaps], "reconnects": [r.to_dict() for r in self.reconnects]}

    def _accept(self, ts_ns: int, price: float, size: float, side: str) -> Tick | None:
        """The tick to deliver, or None (quarantined: no usable price or size, or older than the
        last tick delivered, which a bar built on exchange time cannot take back)."""
        if not (math.isfinite(price) and price > 0 and math.isfinite(size) and size > 0) or \
                (self._last_ns is not None and ts_ns < self._last_ns):
            self.quarantined += 1
            if self.quarantined <= 10 or self.quarantined % 10_000 == 0:
                log.warning("%s: quarantined a trade at %d (price %r, size %r, last delivered %s); %d so far",
                            self.name, ts_ns, price, size, self._last_ns, self.quarantined)
            return None
        self._last_ns = ts_ns
        self.delivered += 1
        return Tick(ts_ns, price, size, side)


@dataclass(frozen=True)
class TickDay:
    """One recording file's ticks, as arrays (for `TickDecisionEngine.replay`) and as `Tick`s."""

    path: Path
    ticks: Ticks

    def __iter__(self) -> Iterator[Tick]:
        t = self.ticks
        sides = [s.decode() if isinstance(s, bytes) else str(s) for s in t.side.tolist()]
        for ts, price, size, side in zip(t.ts_ns.tolist(), t.price.tolist(), t.size.tolist(), sides):
            yield Tick(ts, price, size, side)


class ReplayTickFeed(TickFeed):
    """The DBN trade recordings (`trades`, `mbp-1`, `tbbo`, `mbo`) of a folder, one file per day,
    in time order. Files of other schemas (definitions, bars) are skipped and listed in
    `skipped`; a day that starts before the previous one ended is an `InputFileError` naming both
    files. Silences longer than `gap_seconds` within a day are the feed's gaps."""

    name = "replay"

    def __init__(self, folder: Path | str, *, symbol: str | None = None, pattern: str = "*.dbn*",
                 gap_seconds: float = 300.0) -> None:
        super().__init__()
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise InputFileError(f"tick replay folder {self.folder}: no such folder")
        self.paths = sorted(p for p in self.folder.glob(pattern) if p.is_file())
        if not self.paths:
            raise InputFileError(f"tick replay folder {self.folder}: no files matching {pattern!r}")
        self.symbol = symbol
        self.gap_seconds = gap_seconds
        self.skipped: list[tuple[Path, str]] = []
        self._counted: set[Path] = set()   # days whose gaps and quarantine are already recorded
        self._closed = False

    def days(self) -> Iterator[TickDay]:
        """Each file's ticks in turn (read one at a time, so memory holds one day)."""
        previous: TickDay | None = None
        for path in self.paths:
            if self._closed:
                return
            schema = _schema(path)
            if schema is not None and schema not in TRADE_SCHEMAS:
                if (path, schema) not in self.skipped:
                    log.info("tick replay: skipping %s (%s records, not trades)", path.name, schema)
                    self.skipped.append((path, schema))
                continue
            ticks = read_ticks(path, symbol=self.symbol, gap_seconds=self.gap_seconds)
            if not len(ticks):
                log.warning("tick replay: %s holds no trades", path.name)
                continue
            if previous is not None and int(ticks.ts_ns[0]) < int(previous.ticks.ts_ns[-1]):
                raise InputFileError(f"tick replay folder {self.folder}: {path.name} starts before "
                                     f"{previous.path.name} ends; one file per day, in order, is expected")
            if path not in self._counted:
                self._counted.add(path)
                self.quarantined += ticks.quarantined
                self.gaps.extend(FeedGap(a, b, f"silence in {path.name}") for a, b in ticks.gaps)
            previous = TickDay(path, ticks)
            yield previous

    def __iter__(self) -> Iterator[Tick]:
        for day in self.days():
            for tick in day:
                if self._closed:
                    return
                self.delivered += 1
                yield tick

    def close(self) -> None:
        self._closed = True


def _schema(path: Path) -> str | None:
    """The file's schema from its metadata (None when it mixes schemas)."""
    try:
        store = db.DBNStore.from_file(path)
    except Exception as exc:
        raise InputFileError(f"tick file {path}: not a readable DBN file ({exc})") from exc
    return str(store.schema) if store.schema is not None else None
