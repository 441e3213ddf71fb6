"""The broker interface every execution venue speaks: paper, Tradovate, (later) Interactive Brokers.

The orchestrators only ever talk to a `Broker`; the risk engine checks every order before it
reaches `place_bracket` / `flatten`. Implementations are registered by name in
`brokers/__init__.py` (`BROKER_CLASSES`) and chosen by the profile's `broker.name`.

Contract of every method:
- idempotent by `client_order_id`: placing an order whose id the broker already knows returns
  that order's state instead of sending another (a resend after a timeout never doubles);
- errors are `BrokerError` subclasses with a message a trader understands;
- `events()` drains what happened since the last call (orders, fills, positions, connection
  changes), in the order it happened; it never blocks.
"""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import ClassVar, Iterable, Sequence

import pandas as pd

from ....errors import OptionsSystemError
from .orders import AccountSnapshot, Bracket, BracketAck, BrokerEvent, Fill, OrderState, Position

log = logging.getLogger(__name__)


class BrokerError(OptionsSystemError):
    """A broker could not do what was asked (connection, refusal, protocol)."""


class BrokerConnectionError(BrokerError):
    """The broker could not be reached or the session was lost; retry after reconnecting."""


class BrokerAuthError(BrokerError):
    """The broker refused the credentials (check the TRADOVATE_* variables or the account)."""

    exit_code = 2


class OrderRejectedError(BrokerError):
    """The broker refused an order; the message carries its reason."""


class Broker(ABC):
    """Connect, read the account, place protected (bracket) orders, cancel, flatten, reconcile."""

    #: the name the profile uses (`broker.name`)
    name: ClassVar[str]
    #: True when orders reach a real account (only `tradovate` in its live environment)
    real_money: ClassVar[bool] = False

    @abstractmethod
    def connect(self) -> None:
        """Open the session (log in, subscribe to the account's events). Idempotent."""

    @abstractmethod
    def close(self) -> None:
        """Close the session; working orders stay at the broker."""

    @abstractmethod
    def account(self) -> AccountSnapshot:
        """The account's balance and P&L as the broker reports them."""

    @abstractmethod
    def place_bracket(self, bracket: Bracket) -> BracketAck:
        """Send entry + stop + target as one order-sends-order (idempotent by client order id)."""

    @abstractmethod
    def cancel(self, client_order_id: str) -> OrderState:
        """Cancel one working order; cancelling a finished order returns its final state."""

    @abstractmethod
    def flatten(self, instrument: str | None = None) -> list[OrderState]:
        """Cancel every working order and close every position (of `instrument`, or all)."""

    @abstractmethod
    def positions(self) -> list[Position]:
        """Open positions at the broker (non-zero quantity only)."""

    @abstractmethod
    def working_orders(self) -> list[OrderState]:
        """Orders still working at the broker."""

    @abstractmethod
    def fills(self, since: pd.Timestamp | None = None) -> list[Fill]:
        """Executions (since `since`, else all of the session), for reconciliation."""

    @abstractmethod
    def events(self) -> Sequence[BrokerEvent]:
        """Drain the events received since the last call; never blocks."""


def cancel_each(broker: Broker, client_order_ids: Iterable[str]) -> None:
    """Cancel every order named, going on past one the broker cannot cancel (already filled or
    gone): a guard's cancel request must reach every working order, not stop at the first error."""
    for client_order_id in client_order_ids:
        try:
            broker.cancel(client_order_id)
        except BrokerError as exc:
            log.info("cancel %s: %s", client_order_id, exc)
