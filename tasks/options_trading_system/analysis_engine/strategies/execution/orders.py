"""The typed records that cross the broker interface: what we ask for, what the broker says.

Frozen dataclasses, so an order that went out cannot be changed afterwards and every record can
be written to the ledger as it is. Prices are in the instrument's own points (futures: index
points; options: premium points); times are tz-aware UTC `pd.Timestamp`s (simulated time in a
replay). Quantities are whole contracts; a `Position.quantity` is signed (long > 0, short < 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import pandas as pd


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(str, Enum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"


class OrderStatus(str, Enum):
    PENDING = "pending"        # sent, no answer yet
    WORKING = "working"        # accepted, resting at the broker
    PARTIAL = "partial"        # partly filled, the rest still working
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"      # refused by the broker (its reason in `OrderState.reason`)
    REFUSED = "refused"        # refused by us before sending (a guard; never reached the broker)

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.PENDING, OrderStatus.WORKING, OrderStatus.PARTIAL)


class Purpose(str, Enum):
    ENTRY = "entry"
    STOP = "stop"
    TARGET = "target"
    EXIT = "exit"              # a market exit: session end, flatten, emergency stop


@dataclass(frozen=True)
class Order:
    """One order we want placed. `client_order_id` is derived from the signal (e.g.
    `<signal_id>/entry`), so a resend after a timeout names the same order and never doubles it."""

    client_order_id: str
    signal_id: str
    instrument: str
    side: Side
    quantity: int
    order_type: OrderType
    purpose: Purpose
    limit_price: float | None = None
    stop_price: float | None = None

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"order {self.client_order_id}: quantity must be a positive whole number, "
                             f"got {self.quantity}")
        if self.order_type is OrderType.LIMIT and not _finite(self.limit_price):
            raise ValueError(f"order {self.client_order_id}: a limit order needs a finite limit_price")
        if self.order_type is OrderType.STOP and not _finite(self.stop_price):
            raise ValueError(f"order {self.client_order_id}: a stop order needs a finite stop_price")


@dataclass(frozen=True)
class Bracket:
    """Entry + protective stop + profit target, sent as one order-sends-order: the broker works
    the stop and the target (one cancels the other) as soon as the entry fills, so the position is
    protected even if this process dies."""

    entry: Order
    stop: Order
    target: Order

    def __post_init__(self) -> None:
        if self.stop.side is self.entry.side or self.target.side is self.entry.side:
            raise ValueError(f"bracket {self.entry.client_order_id}: stop and target must be on the "
                             f"opposite side of the entry")
        if self.entry.purpose is not Purpose.ENTRY or self.stop.purpose is not Purpose.STOP \
                or self.target.purpose is not Purpose.TARGET:
            raise ValueError(f"bracket {self.entry.client_order_id}: legs must be entry, stop and target")

    @property
    def orders(self) -> tuple[Order, Order, Order]:
        return (self.entry, self.stop, self.target)


@dataclass(frozen=True)
class OrderState:
    """What the broker says about one order now."""

    client_order_id: str
    status: OrderStatus
    broker_order_id: str | None = None
    filled_quantity: int = 0
    average_price: float | None = None
    reason: str = ""
    time: pd.Timestamp | None = None


@dataclass(frozen=True)
class Fill:
    """One execution (an order may fill in several)."""

    fill_id: str
    client_order_id: str
    instrument: str
    side: Side
    quantity: int
    price: float
    time: pd.Timestamp
    commission_usd: float = 0.0
    broker_order_id: str | None = None


@dataclass(frozen=True)
class Position:
    """Net position in one instrument at the broker: signed quantity, average entry price."""

    instrument: str
    quantity: int
    average_price: float | None = None


@dataclass(frozen=True)
class AccountSnapshot:
    """The account as the broker reports it (missing figures are NaN, never 0)."""

    account_id: str
    time: pd.Timestamp
    cash_balance: float = math.nan
    realized_pnl: float = math.nan
    open_pnl: float = math.nan
    currency: str = "USD"


class EventKind(str, Enum):
    ORDER = "order"
    FILL = "fill"
    POSITION = "position"
    CONNECTION = "connection"   # disconnected / reconnected / resynced, with a note


@dataclass(frozen=True)
class BrokerEvent:
    """One item of the broker's event stream: exactly one of order / fill / position is set,
    except for CONNECTION events, which carry only a note."""

    kind: EventKind
    time: pd.Timestamp
    order: OrderState | None = None
    fill: Fill | None = None
    position: Position | None = None
    note: str = ""


@dataclass(frozen=True)
class BracketAck:
    """The broker's answer to `place_bracket`: the state of each leg."""

    entry: OrderState
    stop: OrderState
    target: OrderState
    extra: dict[str, str] = field(default_factory=dict)


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
