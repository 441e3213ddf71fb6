"""The Tradovate stand-in's market data: a tape of trades released by its simulated clock, and the
`md/subscribeQuote` quotes Tradovate's market-data WebSocket would send for them.

The tape is given tick arrays (`ts_ns`, `price`, `size`, `side` B/A/N), or built from the
stand-in's 1-minute bars: open, then the extreme on the far side of the close, the other extreme,
then the close, at 0, 15, 30 and 45 s into the bar, each a quarter of the bar's volume (1 contract
when the bars carry none): a stand-in's path, not market data. Times are kept to the millisecond,
as Tradovate's quote timestamps are.

Each trade becomes one quote whose entries are those Tradovate documents: `Trade {price, size}`,
`TotalTradeVolume {size}` (cumulative), `Bid`/`Offer` one tick apart with the trade at the side it
hit (a buyer lifts the offer, a seller hits the bid), and `HighPrice`/`LowPrice`/`OpeningPrice`
of the session so far. `snapshot` is the quote a new subscription gets first: the state as of the
clock (no `Trade` before the first trade).
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

TICK_SIZE = 0.25
MS = 1_000_000


class QuoteTape:
    """Trades in time order, released up to the simulated clock."""

    def __init__(self, ts_ns: np.ndarray, price: np.ndarray, size: np.ndarray, side: np.ndarray | None = None) -> None:
        ts = np.asarray(ts_ns, np.int64)
        if ts.size and np.any(np.diff(ts) < 0):
            raise ValueError("quote tape: trade times must not go backwards")
        self.ts_ns = ts // MS * MS
        self.price = np.asarray(price, float)
        self.size = np.asarray(size, float)
        sides = np.full(ts.shape, "N") if side is None else np.array(
            [s.decode() if isinstance(s, bytes) else str(s) for s in np.asarray(side).tolist()])
        self.side = sides
        self.volume = np.cumsum(self.size)
        self.high = np.maximum.accumulate(self.price) if ts.size else self.price
        self.low = np.minimum.accumulate(self.price) if ts.size else self.price
        self.released = 0                   # trades at or before the clock
        self.lock = threading.Lock()

    @classmethod
    def from_bars(cls, bars: pd.DataFrame) -> "QuoteTape":
        """Four trades a bar (see the module's docstring)."""
        start = bars["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        o, h, l, c = (bars[k].to_numpy(float) for k in ("open", "high", "low", "close"))
        volume = bars["volume"].to_numpy(float) if "volume" in bars else np.full(len(bars), 4.0)
        up = c >= o
        path = np.column_stack([o, np.where(up, l, h), np.where(up, h, l), c])
        offsets = np.array([0, 15, 30, 45]) * 1_000_000_000
        ts = (start[:, None] + offsets[None, :]).ravel()
        size = np.maximum(1.0, np.floor(np.repeat(volume / 4.0, 4)))
        price = path.ravel()
        side = np.where(np.diff(np.r_[price[0], price]) >= 0, "B", "A")
        return cls(ts, price, size, side)

    def release(self, until_ns: int) -> tuple[int, int]:
        """Move the clock to `until_ns`: the index range of the trades it releases."""
        with self.lock:
            first = self.released
            self.released = max(first, int(np.searchsorted(self.ts_ns, until_ns, side="right")))
            return first, self.released

    def quote(self, i: int, contract_id: int) -> dict[str, Any]:
        """Trade `i` as Tradovate's quote of `contract_id`."""
        price, side = float(self.price[i]), self.side[i]
        bid, offer = (price - TICK_SIZE, price) if side == "B" else \
            (price, price + TICK_SIZE) if side == "A" else (price - TICK_SIZE, price + TICK_SIZE)
        return {"timestamp": _iso_ms(int(self.ts_ns[i])), "contractId": contract_id,
                "entries": {"Bid": {"price": bid, "size": 5.0}, "Offer": {"price": offer, "size": 5.0},
                            "Trade": {"price": price, "size": float(self.size[i])},
                            "TotalTradeVolume": {"size": float(self.volume[i])},
                            "OpeningPrice": {"price": float(self.price[0])},
                            "HighPrice": {"price": float(self.high[i])},
                            "LowPrice": {"price": float(self.low[i])}}}

    def snapshot(self, contract_id: int, now_ns: int) -> dict[str, Any]:
        """The quote a subscription starts with: the last released trade's, or an empty book."""
        with self.lock:
            last = self.released - 1
        if last >= 0:
            return self.quote(last, contract_id)
        return {"timestamp": _iso_ms(now_ns), "contractId": contract_id, "entries": {"TotalTradeVolume": {"size": 0.0}}}


def _iso_ms(ts_ns: int) -> str:
    return pd.Timestamp(ts_ns, unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
