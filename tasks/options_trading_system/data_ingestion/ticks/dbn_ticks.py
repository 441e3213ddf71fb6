"""The trades of one future from a Databento DBN recording, as arrays for tick execution.

Reads `trades` files (every record is a trade), and `mbp-1`, `tbbo` and `mbo` files (the records
whose action is `T`). Prices are int64 in units of 1e-9 (Databento's fixed point); a record whose
price is undefined (i64 max) or whose size is 0 is quarantined and counted, not used. Times are
the exchange's `ts_event`, ns since the epoch (UTC). Gaps longer than `gap_seconds` between
successive trades are listed, so a report can say where the recording was silent.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import databento as db
import numpy as np

from ...errors import InputFileError

log = logging.getLogger(__name__)

UNDEF_PRICE = np.iinfo(np.int64).max
PRICE_UNITS = 1e9  # fixed-point units per point (divide: 3702750000000 / 1e9 is exactly 3702.75)
TRADE_SCHEMAS = ("trades", "tbbo", "mbp-1", "mbo")


@dataclass(frozen=True)
class Ticks:
    """One instrument's trades in time order."""

    symbol: str
    instrument_id: int
    ts_ns: np.ndarray      # int64, exchange time
    price: np.ndarray      # float64, index points
    size: np.ndarray       # float64, contracts
    side: np.ndarray       # S1: aggressor side B / A / N
    quarantined: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (from_ns, to_ns) silences

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])


def read_ticks(path: Path | str, *, symbol: str | None = None, gap_seconds: float = 300.0) -> Ticks:
    """The trades of `symbol` (a raw symbol such as `NQM5`; the file's only or first symbol when
    None) from a DBN file. Raises `InputFileError` naming the file when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"tick file {path}: no such file")
    try:
        store = db.DBNStore.from_file(path)
        schema = str(store.schema) if store.schema is not None else None
        if schema is not None and schema not in TRADE_SCHEMAS:
            raise InputFileError(f"tick file {path}: holds {schema} records, expected one of "
                                 f"{', '.join(TRADE_SCHEMAS)}")
        records = store.to_ndarray() if schema is not None else store.to_ndarray(schema="trades")
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(f"tick file {path}: not a readable DBN file ({exc})") from exc
    mappings = {raw: int(intervals[0]["symbol"]) for raw, intervals in (store.mappings or {}).items() if intervals}
    named = list(getattr(store, "symbols", None) or [])
    if symbol is None:
        symbol = next(iter(mappings), named[0] if len(named) == 1 else "")
    if symbol and symbol in mappings:
        instrument_id = mappings[symbol]
    elif symbol and (mappings or named):
        if symbol not in named or len(named) != 1:
            raise InputFileError(f"tick file {path}: no symbol {symbol!r}; it holds "
                                 f"{', '.join(sorted(mappings) or named)}")
        instrument_id = _only_instrument(records, path)
    else:
        instrument_id = _only_instrument(records, path)
    mine = records[records["instrument_id"] == instrument_id]
    if schema != "trades":
        mine = mine[mine["action"] == b"T"]
    usable = (mine["price"] != UNDEF_PRICE) & (mine["size"] > 0)
    quarantined = int((~usable).sum())
    if quarantined:
        log.warning("tick file %s: %d trade record(s) without a price or size quarantined", path, quarantined)
    mine = mine[usable]
    ts = mine["ts_event"].astype(np.int64)
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    gaps = _gaps(ts, gap_seconds)
    return Ticks(symbol=symbol, instrument_id=instrument_id, ts_ns=ts,
                 price=mine["price"][order].astype(np.float64) / PRICE_UNITS,
                 size=mine["size"][order].astype(np.float64), side=mine["side"][order],
                 quarantined=quarantined, gaps=gaps)


def _only_instrument(records: np.ndarray, path: Path) -> int:
    ids = np.unique(records["instrument_id"]) if len(records) else np.array([0])
    if len(ids) > 1:
        raise InputFileError(f"tick file {path}: {len(ids)} instruments and no symbol mapping; name one")
    return int(ids[0])


def _gaps(ts: np.ndarray, gap_seconds: float) -> list[tuple[int, int]]:
    if ts.size < 2:
        return []
    jumps = np.flatnonzero(np.diff(ts) > gap_seconds * 1e9)
    return [(int(ts[i]), int(ts[i + 1])) for i in jumps]
