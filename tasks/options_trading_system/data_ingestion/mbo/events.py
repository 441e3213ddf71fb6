"""MBO events as the engine's kernel reads them: plain columns, one array per field.

Databento MBO facts this module encodes (see ../shared/data/README.md):
- `action`: A add, C cancel (removes `size` from the order), M modify (new price and size),
  T trade (aggressor print, no book change), F fill (resting side, no book change: CME sends the
  resulting cancel/modify), R clear the instrument's book, N none;
- `side` on a trade is the aggressor: B buy aggressor, A sell aggressor, N unknown;
- `flags`: F_LAST (128) closes a packet (the book is consistent only there), F_SNAPSHOT (32)
  marks snapshot records;
- prices are int64 units of 1e-9; UNDEF_PRICE (i64 max) means no price.

The engine's clock is `ts_recv` (when the event became known, monotonic in a file and on the wire).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

ACTION_ADD = ord("A")
ACTION_CANCEL = ord("C")
ACTION_MODIFY = ord("M")
ACTION_TRADE = ord("T")
ACTION_FILL = ord("F")
ACTION_CLEAR = ord("R")
ACTION_NONE = ord("N")

SIDE_BID = ord("B")   # on a trade: buy aggressor
SIDE_ASK = ord("A")   # on a trade: sell aggressor
SIDE_NONE = ord("N")

F_LAST = 1 << 7
F_TOB = 1 << 6
F_SNAPSHOT = 1 << 5
F_MBP = 1 << 4
F_BAD_TS_RECV = 1 << 3
F_MAYBE_BAD_BOOK = 1 << 2

PRICE_UNIT = 1e9  # fixed-point units per index point: price_points = raw / PRICE_UNIT
UNDEF_PRICE = np.iinfo(np.int64).max


@dataclass(frozen=True)
class EventColumns:
    """A batch of MBO events, column by column, with instrument ids already mapped to the
    engine's dense instrument index (`inst`)."""

    ts: NDArray[np.int64]
    inst: NDArray[np.int32]
    order_id: NDArray[np.uint64]
    price: NDArray[np.int64]
    size: NDArray[np.int64]
    flags: NDArray[np.uint8]
    action: NDArray[np.uint8]
    side: NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.ts)


def columns_from_ndarray(records: np.ndarray, inst: NDArray[np.int32]) -> EventColumns:
    """Contiguous columns of a DBN MBO structured array (DBNStore.to_ndarray(schema='mbo')); the
    streaming buffer has the same dtypes and layout, so both paths run one compiled kernel."""
    return EventColumns(
        ts=np.ascontiguousarray(records["ts_recv"], dtype=np.int64),
        inst=np.ascontiguousarray(inst, dtype=np.int32),
        order_id=np.ascontiguousarray(records["order_id"], dtype=np.uint64),
        price=np.ascontiguousarray(records["price"], dtype=np.int64),
        size=np.ascontiguousarray(records["size"], dtype=np.int64),
        flags=np.ascontiguousarray(records["flags"], dtype=np.uint8),
        action=np.ascontiguousarray(records["action"]).view(np.uint8),
        side=np.ascontiguousarray(records["side"]).view(np.uint8),
    )


def empty_columns(n: int) -> EventColumns:
    """Zeroed columns for `n` events (the streaming kernel's scratch space)."""
    return EventColumns(ts=np.zeros(n, np.int64), inst=np.zeros(n, np.int32), order_id=np.zeros(n, np.uint64),
                        price=np.zeros(n, np.int64), size=np.zeros(n, np.int64), flags=np.zeros(n, np.uint8),
                        action=np.zeros(n, np.uint8), side=np.zeros(n, np.uint8))


@dataclass(frozen=True)
class Gap:
    """A stretch of the live stream that was lost (disconnect to reconnect)."""

    start: pd.Timestamp
    end: pd.Timestamp

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "seconds": round(self.seconds, 6)}
