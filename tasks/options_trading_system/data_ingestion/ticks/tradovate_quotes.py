"""Live ticks from Tradovate's market-data WebSocket (`md/subscribeQuote`).

The socket (`md_url`, default wss://md.tradovateapi.com/v1/websocket) speaks Tradovate's WebSocket
protocol (`data_ingestion/tradovate/socket.py`): `o`, `authorize` with the login's
`mdAccessToken` (passed in as `md_token`, e.g. `TradovateRest.md_token`: credentials stay in the
environment or `.env` and no token is ever logged), `h`/`[]` heartbeats. The feed subscribes to
`md/subscribeQuote {symbol}` (the traded contract, e.g. `NQZ6`; the broker's `front_month` names
the front one) and receives `{e: "md", d: {quotes: [...]}}` events.

What a tick is, from a quote stream: Tradovate sends a quote (the contract's entries: `Bid`,
`Offer`, `Trade`, `TotalTradeVolume`, ...) whenever any entry changes, and `Trade` is the *last*
trade, repeated by quotes that only moved the book. So:
- a quote makes a tick when `TotalTradeVolume` grew since the previous quote (without that
  entry: when its `Trade` differs from the previous quote's);
- the tick's price and size are the `Trade` entry's; when the volume grew by more than that size
  (several trades merged into one update), the size is the volume's growth, so volume-weighted
  figures stay right, and the merge is counted (`coalesced`);
- its time is the quote's `timestamp` (exchange time, to the millisecond);
- its side: `B` when the trade is at or above the quote's offer, `A` at or below its bid, else `N`;
- a quote without a `Trade` makes no tick (`quotes` counts every quote);
- the first quote of every subscription is the current state, not news: it sets the baseline and
  makes no tick.

On a dropped connection (or a `c` frame, or no frame for `server_timeout_s`), the session
reconnects with backoff, authorizes and subscribes again (`reconnect_attempts` at most). The
trades in between are lost (Tradovate does not replay quotes): a `FeedGap` runs from the last
quote's time before the drop to the first quote's after the resubscription, with the volume traded
meanwhile (`missed_size`, from `TotalTradeVolume`), and a `Reconnect` is recorded at the feed's
clock. An unknown symbol stops the feed with a `DataSourceError`; so does giving up.
"""
from __future__ import annotations

import logging
import math
import queue
import time
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping

from websockets.sync.client import connect as ws_connect

from ...errors import ConfigError, DataSourceError
from ..tradovate import SessionRefused, SocketSettings, TradovateSession, request
from .feed import FeedGap, Reconnect, Tick, TickFeed

log = logging.getLogger(__name__)

MD_URL = "wss://md.tradovateapi.com/v1/websocket"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
_END = object()


@dataclass(frozen=True)
class TradovateQuoteConfig:
    """Where Tradovate's market data is and how patiently to keep it (every field a setting)."""

    symbol: str                          # the traded contract, e.g. NQZ6 or MNQZ6
    md_url: str = MD_URL
    heartbeat_s: float = 2.5             # the client's `[]` heartbeat
    server_timeout_s: float = 10.0       # no frame this long = a dead socket
    reconnect_wait_s: float = 0.5        # first reconnect wait, doubled each failure
    reconnect_max_wait_s: float = 30.0
    reconnect_attempts: int = 20         # consecutive failed reconnects before giving up
    queue_size: int = 100_000            # ticks waiting for the consumer before the socket waits

    def __post_init__(self) -> None:
        if not self.symbol.strip():
            raise ConfigError("tradovate quote ticks: `symbol` is empty; name the contract (e.g. NQZ6)")
        if not self.md_url.startswith(("ws://", "wss://")):
            raise ConfigError(f"tradovate quote ticks: `md_url` must be a ws:// or wss:// URL, got {self.md_url!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ConfigError(f"tradovate quote ticks: `{f.name}` must not be negative, got {value}")

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> "TradovateQuoteConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(f"tradovate quote ticks: unknown setting(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")
        return cls(**dict(section))

    def socket_settings(self) -> SocketSettings:
        return SocketSettings(url=self.md_url, heartbeat_s=self.heartbeat_s, server_timeout_s=self.server_timeout_s,
                              reconnect_wait_s=self.reconnect_wait_s, reconnect_max_wait_s=self.reconnect_max_wait_s,
                              reconnect_attempts=self.reconnect_attempts)


class TradovateQuoteTickFeed(TickFeed):
    """Ticks of one contract from Tradovate's quotes (see the module's docstring for the rules).
    `md_token` gives the market-data token, `renew` renews it after a refused authorization;
    `clock` (ns UTC) dates the reconnects; `connect` opens the WebSocket."""

    name = "tradovate_quotes"

    def __init__(self, config: TradovateQuoteConfig, *, md_token: Callable[[], str],
                 renew: Callable[[], None] = lambda: None, clock: Callable[[], int] = time.time_ns,
                 connect: Callable[..., Any] = ws_connect) -> None:
        super().__init__()
        self.config = config
        self.clock = clock
        self.quotes = 0
        self.coalesced = 0
        self.bad_quotes = 0
        self.notes: list[str] = []
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, config.queue_size))
        self._session = _QuoteSession(self, config.socket_settings(), token=md_token, renew=renew,
                                      on_connection=self._on_connection, connect=connect)
        self._started = False
        self._closed = False
        # quote state (the session's thread)
        self._fresh = True
        self._volume: float | None = None
        self._trade: tuple[float, float] | None = None
        self._last_quote_ns: int | None = None
        self._gap_from: int | None = None
        self._gap_volume: float | None = None
        self._lost_reason = ""

    # --- consumer -------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect and subscribe (iteration starts it too)."""
        if not self._started:
            self._started = True
            self._session.start()

    def __iter__(self) -> Iterator[Tick]:
        self.start()
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    break
                yield item
        except GeneratorExit:  # the consumer stopped iterating: end the session too
            self.close()
            raise
        if self._session.refusal is not None:
            raise DataSourceError(f"{self._where()}: refused: {self._session.refusal}")
        if self._session.failed:
            raise DataSourceError(f"{self._where()}: gave up after {self.config.reconnect_attempts} failed "
                                  f"reconnects", transient=True)

    def poll(self, timeout_s: float) -> Tick | None:
        """The next tick within `timeout_s` seconds, or None (also once the feed has ended)."""
        self.start()
        try:
            item = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None
        if item is _END:
            self._queue.put(_END)  # the end stays visible to the next call and to iteration
            return None
        return item

    @property
    def subscribed(self) -> bool:
        """A session is subscribed and streaming."""
        return self._session.ready.is_set()

    def close(self) -> None:
        self._closed = True
        self._session.stop()
        self._end()

    def _end(self) -> None:
        while True:
            try:
                self._queue.put(_END, timeout=0.1)
                return
            except queue.Full:  # the consumer is gone: make room for the end
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass

    # --- the session's thread -------------------------------------------------------------------

    def _on_connection(self, note: str) -> None:
        self.notes.append(note)
        if note.startswith("disconnected"):
            if self._gap_from is None and self._last_quote_ns is not None:
                self._gap_from, self._gap_volume = self._last_quote_ns, self._volume
            self._lost_reason = self._lost_reason or note.removeprefix("disconnected: ")
        elif note.startswith(("gave up", "refused")):
            self._end()

    def _subscribing(self) -> None:
        self._fresh = True

    def _resubscribed(self) -> None:
        self.reconnects.append(Reconnect(self.clock(), self._lost_reason or "connection lost"))
        log.warning("%s: reconnected and subscribed again after: %s", self._where(), self._lost_reason)
        self._lost_reason = ""

    def _on_quote(self, quote: Mapping[str, Any]) -> None:
        self.quotes += 1
        try:
            ts = _ns(str(quote["timestamp"]))
            entries = quote.get("entries") or {}
            volume = _number(entries.get("TotalTradeVolume"), "size")
            trade = entries.get("Trade")
            trade_key = (_number(trade, "price"), _number(trade, "size")) if isinstance(trade, Mapping) else None
        except (KeyError, TypeError, ValueError) as exc:
            self.bad_quotes += 1
            log.warning("%s: quarantined a malformed quote (%s); %d so far", self._where(), exc, self.bad_quotes)
            return
        if self._fresh:  # the subscription's first quote: the state as it is, the baseline
            self._fresh = False
            if self._gap_from is not None:
                missed = volume - self._gap_volume if volume is not None and self._gap_volume is not None else None
                gap = FeedGap(self._gap_from, max(ts, self._gap_from), "connection lost; resubscribed (no replay)",
                              missed)
                self.gaps.append(gap)
                log.warning("%s: no ticks for %.3f s of exchange time (%s contracts traded meanwhile)",
                            self._where(), gap.seconds, "unknown" if missed is None else f"{missed:g}")
                self._gap_from = self._gap_volume = None
            self._remember(ts, volume, trade_key)
            return
        if volume is not None and self._volume is not None:
            new = volume > self._volume
        else:
            new = trade_key is not None and trade_key != self._trade
        if new and trade_key is not None and trade_key[0] is not None and trade_key[1] is not None:
            price, size = trade_key
            grown = volume - self._volume if volume is not None and self._volume is not None else size
            if grown > size:
                size = grown
                self.coalesced += 1
            tick = self._accept(ts, price, size, _side(price, entries))
            if tick is not None:
                self._put(tick)
        self._remember(ts, volume, trade_key)

    def _remember(self, ts: int, volume: float | None, trade: tuple[Any, Any] | None) -> None:
        self._last_quote_ns = ts
        if volume is not None:
            self._volume = volume
        if trade is not None:
            self._trade = trade

    def _put(self, tick: Tick) -> None:
        while not self._closed:
            try:
                self._queue.put(tick, timeout=0.5)
                return
            except queue.Full:  # the consumer is behind: the socket waits (TCP holds the quotes)
                continue

    def _where(self) -> str:
        return f"tradovate quote ticks {self.config.symbol}"


class _QuoteSession(TradovateSession):
    """The market-data socket: subscribe to the symbol's quotes, hand them to the feed."""

    name = "Tradovate market-data WebSocket"
    reconnected_note = "reconnected and resubscribed"

    def __init__(self, feed: TradovateQuoteTickFeed, settings: SocketSettings, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.feed = feed
        self._request_id = 0

    def opened(self, ws: Any) -> None:
        self._request_id += 1
        self.feed._subscribing()
        symbol = self.feed.config.symbol
        ws.send(request("md/subscribeQuote", self._request_id, {"symbol": symbol}))
        status, answer = self.await_answer(ws, self._request_id)
        if status != 200:
            raise SessionRefused(f"md/subscribeQuote {symbol} answered status {status} ({str(answer)[:200]})")

    def established(self, result: Any, *, reconnect: bool) -> None:
        if reconnect:
            self.feed._resubscribed()

    def dispatch(self, item: dict[str, Any]) -> None:
        if item.get("e") != "md" or not isinstance(item.get("d"), dict):
            return
        for quote in item["d"].get("quotes") or []:
            if isinstance(quote, Mapping):
                self.feed._on_quote(quote)


def _ns(text: str) -> int:
    """ns since the epoch of an ISO time such as 2021-04-13T04:59:06.588Z (exact, no float)."""
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - _EPOCH) // _US * 1000


def _number(entry: Any, key: str) -> float | None:
    if not isinstance(entry, Mapping) or entry.get(key) is None:
        return None
    value = float(entry[key])
    if not math.isfinite(value):
        raise ValueError(f"{key} {entry[key]!r} is not a number")
    return value


def _side(price: float, entries: Mapping[str, Any]) -> str:
    offer, bid = _number(entries.get("Offer"), "price"), _number(entries.get("Bid"), "price")
    if offer is not None and price >= offer:
        return "B"
    if bid is not None and price <= bid:
        return "A"
    return "N"
