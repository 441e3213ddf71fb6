"""The paper broker: today's paper execution behind the `Broker` interface.

It holds brackets the way a real broker does (entry filled at once; stop and target working, one
cancels the other) and fills them on the replay's price path, in simulated time, with the prices
of `PaperPricing` (`paper_pricing.py`): entry at the market plus slippage; a futures target at its
level, a stop or session-end exit at the market less slippage; an option bought at its ask and sold
at its Black-76 mark. Nothing here reads the wall clock: the orchestrator tells it the market
(`set_quote` before an entry, `advance` along the bars, `mark` for a flatten).

For an option trade the bracket's stop and target legs carry the *underlying's* levels: the
paper broker watches the futures path and sells the option at its model mark when a level is hit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
import pandas as pd

from ....expiry import years_to_settlement
from ..feeds.price_path import PricePath
from ..shadow_config import ExecutionConfig
from .broker import Broker, BrokerError, OrderRejectedError
from .orders import (AccountSnapshot, Bracket, BracketAck, BrokerEvent, EventKind, Fill, Order, OrderState,
                     OrderStatus, OrderType, Position, Purpose)
from .outcome_tracker import EXIT_SESSION_END, EXIT_STOP, resolve_arrays
from .paper_pricing import EntryQuote, PaperPricing

PAPER_ACCOUNT = "paper"


@dataclass
class _Working:
    """One bracket the paper broker holds: its legs, the entry quote, the fill, the exit."""

    bracket: Bracket
    quote: EntryQuote
    entry_time: pd.Timestamp
    entry_price: float
    exit_leg: str | None = None  # client order id of the leg that closed it

    @property
    def long(self) -> bool:
        """Direction of the *trade* (a put bought for a SHORT is a short trade): target above stop."""
        return float(self.bracket.target.limit_price) > float(self.bracket.stop.stop_price)  # type: ignore[arg-type]

    @property
    def direction(self) -> str:
        return "LONG" if self.long else "SHORT"


@dataclass
class _Book:
    states: dict[str, OrderState] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    events: list[BrokerEvent] = field(default_factory=list)


class PaperBroker(Broker):
    """Paper execution as a broker: brackets filled on the replay's price path (see the module)."""

    name = "paper"
    real_money = False

    def __init__(self, config: ExecutionConfig) -> None:
        self.config = config
        self.pricing = PaperPricing(config)
        self._book = _Book()
        self._working: dict[str, _Working] = {}   # entry client order id -> bracket still open
        self._quote: EntryQuote | None = None
        self._now: pd.Timestamp | None = None
        self._bars: PricePath | None = None
        self._connected = False
        self._realized = 0.0

    # --- the market, as the replay drives it ----------------------------------------------------

    def set_quote(self, time: pd.Timestamp, quote: EntryQuote) -> None:
        """What an entry placed now is bought or sold against (the futures price or the option's ask)."""
        self._now, self._quote = pd.Timestamp(time), quote

    def mark(self, bars: PricePath, at: pd.Timestamp) -> None:
        """The price path and the time a flatten exits at (the last close at or before `at`)."""
        self._bars, self._now = bars, pd.Timestamp(at)

    def advance(self, bars: PricePath, until: pd.Timestamp) -> list[Fill]:
        """Walk every working bracket along `bars` (bars that start at or after its entry, up to
        `until`) and fill the stop or the target that is hit first (`same_bar_rule` when one bar
        touches both); returns the exit fills, in the order they happened."""
        self.mark(bars, until)
        if not self._working:
            return []
        legs = list(self._working.values())
        hits = resolve_arrays(
            np.array([w.bracket.entry.client_order_id for w in legs], dtype="object"),
            np.array([1.0 if w.long else -1.0 for w in legs], dtype="float64"),
            np.array([float(w.bracket.target.limit_price) for w in legs], dtype="float64"),  # type: ignore[arg-type]
            np.array([float(w.bracket.stop.stop_price) for w in legs], dtype="float64"),  # type: ignore[arg-type]
            np.array([w.entry_time.value for w in legs], dtype="int64"),
            bars, stop_first=self.config.same_bar_rule == "stop_first")
        fills = []
        for signal_id, reason, exit_ns, reference in zip(hits.signal_id, hits.exit_reason, hits.exit_ns,
                                                         hits.exit_reference):
            working = self._working[signal_id]
            leg = working.bracket.stop if reason == EXIT_STOP else working.bracket.target
            fills.append(self._exit(working, leg, reason, float(reference), pd.Timestamp(int(exit_ns), tz="UTC")))
        return fills

    # --- Broker ---------------------------------------------------------------------------------

    def connect(self) -> None:
        self._connected = True

    def close(self) -> None:
        self._connected = False

    def account(self) -> AccountSnapshot:
        """Paper has no cash: realised P&L is the closed brackets' net P&L (both commissions);
        open P&L is not marked here (NaN)."""
        return AccountSnapshot(account_id=PAPER_ACCOUNT, time=self._now or pd.Timestamp(0, tz="UTC"),
                               realized_pnl=self._realized)

    def place_bracket(self, bracket: Bracket) -> BracketAck:
        """Fill the entry at the quote set by `set_quote` (plus slippage) and work the stop and
        target; a bracket whose entry id is known returns its legs' current states (idempotent)."""
        entry_id = bracket.entry.client_order_id
        if entry_id in self._book.states:
            return self._ack(bracket)
        if self._quote is None or self._now is None:
            raise BrokerError(f"paper broker: no market quote for {entry_id}: call set_quote first")
        quote, now = self._quote, self._now
        if not math.isfinite(quote.price):
            raise OrderRejectedError(f"paper broker: {entry_id}: no price at {now.isoformat()}")
        direction = "LONG" if float(bracket.target.limit_price) > float(bracket.stop.stop_price) else "SHORT"  # type: ignore[arg-type]
        price = self.pricing.entry_price(direction, quote)
        for order in bracket.orders:
            self._book.orders[order.client_order_id] = order
        self._record_fill(bracket.entry, price, now)
        for leg in (bracket.stop, bracket.target):
            self._set_state(OrderState(leg.client_order_id, OrderStatus.WORKING, time=now))
        self._working[entry_id] = _Working(bracket, quote, now, price)
        return self._ack(bracket)

    def adopt(self, bracket: Bracket, quote: EntryQuote, entry_time: pd.Timestamp, entry_price: float) -> None:
        """Take over a bracket whose entry filled before a restart (rebuilt from the ledger): the
        paper account lives in the ledger, so a resumed run hands its open positions back."""
        entry_id = bracket.entry.client_order_id
        if entry_id in self._working:
            return
        for order in bracket.orders:
            self._book.orders[order.client_order_id] = order
        self._set_state(OrderState(entry_id, OrderStatus.FILLED, filled_quantity=bracket.entry.quantity,
                                   average_price=entry_price, time=entry_time), emit=False)
        for leg in (bracket.stop, bracket.target):
            self._set_state(OrderState(leg.client_order_id, OrderStatus.WORKING, time=entry_time), emit=False)
        self._working[entry_id] = _Working(bracket, quote, pd.Timestamp(entry_time), entry_price)

    def exit_at(self, entry_client_order_id: str, reason: str, exit_reference: float, at: pd.Timestamp) -> Fill:
        """Close one working bracket now at `exit_reference`, the price the market reached (tick
        execution manages exits on ticks and tells the paper market here): `target` fills its
        limit leg at the level, `stop` (a trailed stop too) its stop leg at the market less
        slippage, anything else (session end, flatten) a market exit order less slippage."""
        working = self._working.get(entry_client_order_id)
        if working is None:
            raise OrderRejectedError(f"paper broker: no open bracket {entry_client_order_id!r} to exit")
        if reason in ("stop", "target"):
            leg = working.bracket.stop if reason == "stop" else working.bracket.target
        else:
            entry = working.bracket.entry
            leg = Order(client_order_id=f"{entry.signal_id}/exit", signal_id=entry.signal_id,
                        instrument=entry.instrument, side=entry.side.opposite, quantity=entry.quantity,
                        order_type=OrderType.MARKET, purpose=Purpose.EXIT)
            self._book.orders[leg.client_order_id] = leg
        self._now = pd.Timestamp(at)
        return self._exit(working, leg, reason, float(exit_reference), pd.Timestamp(at))

    def knows(self, client_order_id: str) -> bool:
        return client_order_id in self._book.states

    def cancel(self, client_order_id: str) -> OrderState:
        state = self._book.states.get(client_order_id)
        if state is None:
            raise OrderRejectedError(f"paper broker: no order {client_order_id!r} to cancel")
        if not state.status.is_open:
            return state
        cancelled = replace(state, status=OrderStatus.CANCELLED, time=self._now)
        self._set_state(cancelled)
        return cancelled

    def flatten(self, instrument: str | None = None) -> list[OrderState]:
        """Close every open bracket (of `instrument`) at the market: the last close at or before the
        marked time, less slippage (`EXIT_SESSION_END` pricing); its stop and target are cancelled."""
        if self._bars is None or self._now is None:
            raise BrokerError("paper broker: no price path marked: call mark() before flatten()")
        price, _ = self._bars.last_close(self._now)
        out = []
        for working in list(self._working.values()):
            if instrument is not None and working.bracket.entry.instrument != instrument:
                continue
            entry = working.bracket.entry
            exit_order = Order(client_order_id=f"{entry.signal_id}/exit", signal_id=entry.signal_id,
                               instrument=entry.instrument, side=entry.side.opposite, quantity=entry.quantity,
                               order_type=OrderType.MARKET, purpose=Purpose.EXIT)
            self._book.orders[exit_order.client_order_id] = exit_order
            self._exit(working, exit_order, EXIT_SESSION_END, float(price), self._now)
            out.append(self._book.states[exit_order.client_order_id])
        return out

    def positions(self) -> list[Position]:
        net: dict[str, list[float]] = {}
        for working in self._working.values():
            entry = working.bracket.entry
            qty, cost = net.setdefault(entry.instrument, [0.0, 0.0])
            signed = entry.side.sign * entry.quantity
            net[entry.instrument] = [qty + signed, cost + signed * working.entry_price]
        return [Position(instrument=k, quantity=int(q), average_price=(c / q) if q else None)
                for k, (q, c) in sorted(net.items()) if q]

    def working_orders(self) -> list[OrderState]:
        return [s for s in self._book.states.values() if s.status.is_open]

    def fills(self, since: pd.Timestamp | None = None) -> list[Fill]:
        return [f for f in self._book.fills if since is None or f.time >= since]

    def events(self) -> Sequence[BrokerEvent]:
        drained, self._book.events = self._book.events, []
        return drained

    # --- inside ---------------------------------------------------------------------------------

    def _exit(self, working: _Working, leg: Order, reason: str, exit_reference: float, at: pd.Timestamp) -> Fill:
        quote = working.quote if working.quote.contract else None
        years = years_to_settlement(quote.expiration, at) if quote is not None else float("nan")
        price, _ = self.pricing.exit_price(working.direction, reason, exit_reference, quote=quote,
                                           years_at_exit=years)
        fill = self._record_fill(leg, price, at)
        net = self.pricing.pnl(working.direction, working.entry_price, price)[1]
        self._realized += net if math.isfinite(net) else 0.0
        for other in (working.bracket.stop, working.bracket.target):
            if other.client_order_id != leg.client_order_id and self._book.states[other.client_order_id].status.is_open:
                self._set_state(replace(self._book.states[other.client_order_id], status=OrderStatus.CANCELLED,
                                        time=at))
        working.exit_leg = leg.client_order_id
        del self._working[working.bracket.entry.client_order_id]
        self._book.events.append(BrokerEvent(EventKind.POSITION, at, position=Position(leg.instrument, 0)))
        return fill

    def _record_fill(self, order: Order, price: float, at: pd.Timestamp) -> Fill:
        fill = Fill(fill_id=f"{order.client_order_id}/fill", client_order_id=order.client_order_id,
                    instrument=order.instrument, side=order.side, quantity=order.quantity, price=float(price),
                    time=at, commission_usd=self.config.commission * order.quantity)
        self._book.fills.append(fill)
        self._set_state(OrderState(order.client_order_id, OrderStatus.FILLED, filled_quantity=order.quantity,
                                   average_price=float(price), time=at))
        self._book.events.append(BrokerEvent(EventKind.FILL, at, fill=fill))
        return fill

    def _set_state(self, state: OrderState, *, emit: bool = True) -> None:
        self._book.states[state.client_order_id] = state
        if emit:
            self._book.events.append(BrokerEvent(EventKind.ORDER, state.time or pd.Timestamp(0, tz="UTC"),
                                                 order=state))

    def _ack(self, bracket: Bracket) -> BracketAck:
        s = self._book.states
        return BracketAck(entry=s[bracket.entry.client_order_id], stop=s[bracket.stop.client_order_id],
                          target=s[bracket.target.client_order_id])
