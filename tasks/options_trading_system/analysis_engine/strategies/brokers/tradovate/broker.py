"""`TradovateBroker`: the `Broker` interface over Tradovate's REST API and trading WebSocket.

- `connect` logs in, picks the account (`account_name`, else the first active one), reads the
  account's orders, fills and positions over REST, then opens the WebSocket, which syncs
  (`user/syncrequest`) and streams `props` events; they become `BrokerEvent`s (orders, fills,
  positions; cash balances feed `account()`). After a reconnect the sync's state is compared with
  what we knew and every difference is an event, so nothing that happened while the socket was
  down is missed; each disconnect/reconnect is a CONNECTION event.
- `place_bracket` sends one `order/placeoso`: the entry with `bracket1` (the stop) and `bracket2`
  (the target), one cancelling the other, each leg carrying its `clOrdId` and `isAutomated: true`.
  It is idempotent by client order id: the account's commands (`command/list`, where Tradovate
  keeps each order's `clOrdId`) are looked up before sending, and when a placement goes
  unanswered (timeout, dropped connection, HTTP 5xx) they are looked up again before any resend,
  so a slow answer never doubles a position. A lookup that itself fails means "unknown": nothing
  is resent and the error says to reconcile.
- An instrument given as a root (`NQ`, `MNQ`) trades the front quarterly contract on the market
  clock's date (`config.front_month`); a full symbol (`NQZ3`) is used as given.
- The live environment needs `confirm_live=True` from the caller (the CLI's `--confirm-live`);
  without it the broker refuses to exist, and with it every connect says loudly that real money is
  at stake.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from typing import Any, Callable, Sequence

import pandas as pd
import requests

from ...execution.broker import Broker, BrokerConnectionError, BrokerError
from ...execution.orders import (AccountSnapshot, Bracket, BracketAck, BrokerEvent, EventKind, Fill, Order,
                                 OrderState, OrderStatus, OrderType, Position, Side)
from .config import Credentials, TradovateConfig, front_month
from .rest import NotFoundError, TradovateRest, UnansweredError
from .websocket import TradovateSocket

log = logging.getLogger(__name__)

_ROOT = re.compile(r"^[A-Z]{1,4}$")
_CONTRACT = re.compile(r"^([A-Z]{1,4}?)[FGHJKMNQUVXZ]\d{1,2}$")
_STATUS = {"Working": OrderStatus.WORKING, "Suspended": OrderStatus.WORKING, "PendingNew": OrderStatus.PENDING,
           "PendingReplace": OrderStatus.WORKING, "PendingCancel": OrderStatus.WORKING,
           "Filled": OrderStatus.FILLED, "Completed": OrderStatus.FILLED, "Canceled": OrderStatus.CANCELLED,
           "Expired": OrderStatus.CANCELLED, "Rejected": OrderStatus.REJECTED, "Unknown": OrderStatus.PENDING}
_ORDER_TYPES = {OrderType.MARKET: "Market", OrderType.LIMIT: "Limit", OrderType.STOP: "Stop"}


class LiveTradingNotConfirmedError(BrokerError):
    """The live (real-money) environment was chosen without the caller's explicit confirmation."""

    exit_code = 2


class TradovateBroker(Broker):
    """Tradovate over its documented REST + WebSocket protocol (demo by default)."""

    name = "tradovate"

    def __init__(self, config: TradovateConfig | None = None, credentials: Credentials | None = None, *,
                 confirm_live: bool = False, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep,
                 market_clock: Callable[[], pd.Timestamp] | None = None,
                 session: requests.Session | None = None) -> None:
        self.config = config or TradovateConfig()
        if self.config.is_live and not confirm_live:
            raise LiveTradingNotConfirmedError(
                "Tradovate live environment refused: it trades real money and needs both "
                "broker.environment \"live\" in the profile and --confirm-live on the command line")
        self.real_money = self.config.is_live  # instance value: True only for live
        if self.real_money:
            log.warning("!!! TRADOVATE LIVE ENVIRONMENT (%s): ORDERS WILL USE REAL MONEY !!!", self.config.rest_base)
        self._credentials = credentials if credentials is not None else Credentials.from_env()
        self._clock = clock
        self._sleep = sleep
        self._market_clock = market_clock or (lambda: pd.Timestamp(self._clock(), unit="s", tz="UTC"))
        self.rest = TradovateRest(self.config, self._credentials, session=session, clock=clock, sleep=sleep)
        self._socket: TradovateSocket | None = None
        self._lock = threading.RLock()
        self._place_lock = threading.Lock()
        self._events: deque[BrokerEvent] = deque()
        self.account_id: int | None = None
        self.account_name = ""
        self._orders: dict[int, dict[str, Any]] = {}       # orderId -> latest Order entity
        self._cl_by_order: dict[int, str] = {}
        self._order_by_cl: dict[str, int] = {}
        self._fills: dict[int, dict[str, Any]] = {}        # fillId -> Fill entity
        self._positions: dict[int, dict[str, Any]] = {}    # contractId -> Position entity
        self._cash: dict[str, Any] | None = None
        self._reported_orders: dict[int, Any] = {}         # what the event stream has said so far
        self._reported_fills: set[int] = set()
        self._reported_positions: dict[int, tuple[Any, Any]] = {}
        self._labels: dict[int, str] = {}                  # contractId -> the instrument we report
        self._contract_ids: dict[str, int] = {}            # symbol -> contractId
        self._connected = False

    @classmethod
    def from_profile(cls, section: dict[str, Any], *, confirm_live: bool = False,
                     market_clock: Callable[[], pd.Timestamp] | None = None) -> "TradovateBroker":
        """From the profile's `broker` section (credentials from the environment / `.env`);
        `confirm_live` is the command line's `--confirm-live`."""
        return cls(TradovateConfig.from_mapping(section), confirm_live=confirm_live, market_clock=market_clock)

    def __repr__(self) -> str:
        return f"TradovateBroker({self.config.environment}, account={self.account_name or '?'})"

    # --- session --------------------------------------------------------------------------------

    def connect(self) -> None:
        if self._connected:
            return
        if self.real_money:
            log.warning("!!! Connecting to Tradovate LIVE: real money !!!")
        self.rest.token()
        accounts = [a for a in self.rest.get("account/list") or [] if isinstance(a, dict)]
        chosen = [a for a in accounts if a.get("active", True) and
                  (not self.config.account_name or a.get("name") == self.config.account_name)]
        if not chosen:
            names = ", ".join(str(a.get("name")) for a in accounts) or "none"
            raise BrokerError(f"Tradovate: no active account named {self.config.account_name or '(any)'} "
                              f"(the login's accounts: {names})")
        self.account_id, self.account_name = int(chosen[0]["id"]), str(chosen[0].get("name", ""))
        self._reload()
        self._socket = TradovateSocket(self.config, token=self.rest.token, renew=self.rest.renew,
                                       user_id=lambda: self.rest.user_id, on_sync=self._on_sync,
                                       on_event=self._on_props, on_connection=self._on_connection)
        self._connected = True
        self._socket.start()
        if not self._socket.wait_synced(self.config.server_timeout_s):
            log.warning("Tradovate: the WebSocket has not synced yet; events will follow when it does")
        log.info("Tradovate: connected to account %s (%s)", self.account_name, self.config.environment)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.stop()
            self._socket = None
        self._connected = False

    @property
    def socket(self) -> TradovateSocket | None:
        return self._socket

    # --- reading ----------------------------------------------------------------------------------

    def account(self) -> AccountSnapshot:
        self._require()
        snapshot = self.rest.post("cashBalance/getcashbalancesnapshot", {"accountId": self.account_id})
        if not isinstance(snapshot, dict) or snapshot.get("errorText"):
            raise BrokerError(f"Tradovate cash balance snapshot refused: "
                              f"{(snapshot or {}).get('errorText') if isinstance(snapshot, dict) else snapshot}")
        return AccountSnapshot(account_id=str(self.account_id), time=self._now(),
                               cash_balance=_float(snapshot.get("totalCashValue")),
                               realized_pnl=_float(snapshot.get("realizedPnL")),
                               open_pnl=_float(snapshot.get("openPnL")))

    def positions(self) -> list[Position]:
        self._require()
        entities = self._mine(self.rest.get("position/list"))
        with self._lock:
            for entity in entities:
                self._positions[int(entity["contractId"])] = entity
        return [self._position(e) for e in entities if int(e.get("netPos") or 0) != 0]

    def working_orders(self) -> list[OrderState]:
        self._require()
        self._reload_orders()
        with self._lock:
            ids = [i for i, o in self._orders.items() if self._state(i).status.is_open]
        return [self._state(i) for i in ids]

    def fills(self, since: pd.Timestamp | None = None) -> list[Fill]:
        self._require()
        self._reload_fills()
        with self._lock:
            records = [self._fill(f) for f in sorted(self._fills.values(), key=lambda f: (f.get("timestamp"), f["id"]))]
        return [f for f in records if since is None or f.time >= since]

    def events(self) -> Sequence[BrokerEvent]:
        with self._lock:
            drained = list(self._events)
            self._events.clear()
        return drained

    # --- orders -----------------------------------------------------------------------------------

    def place_bracket(self, bracket: Bracket) -> BracketAck:
        self._require()
        entry = bracket.entry
        with self._place_lock:
            known = self._find_placed(bracket)
            if known is not None:
                log.info("Tradovate: bracket %s is already at the broker; not sending it again", entry.client_order_id)
                return known
            symbol, contract_id = self._contract(entry.instrument)
            body = {"accountSpec": self.account_name, "accountId": self.account_id, "clOrdId": entry.client_order_id,
                    "action": _action(entry.side), "symbol": symbol, "orderQty": entry.quantity,
                    **_prices(entry), "timeInForce": "Day", "isAutomated": True,
                    "bracket1": {"clOrdId": bracket.stop.client_order_id, "action": _action(bracket.stop.side),
                                 **_prices(bracket.stop), "timeInForce": "GTC"},
                    "bracket2": {"clOrdId": bracket.target.client_order_id, "action": _action(bracket.target.side),
                                 **_prices(bracket.target), "timeInForce": "GTC"}}
            for attempt in range(1, self.config.lookup_attempts + 1):
                try:
                    answer = self.rest.post("order/placeoso", body, retry=False)
                except UnansweredError as exc:
                    log.warning("Tradovate: placing %s went unanswered (%s); looking it up before any resend",
                                entry.client_order_id, exc)
                    found = self._look_up_after_silence(bracket)
                    if found is not None:
                        return found
                    continue
                return self._acknowledge(bracket, contract_id, answer)
            raise BrokerConnectionError(f"Tradovate: bracket {entry.client_order_id} could not be placed: "
                                        f"{self.config.lookup_attempts} tries went unanswered (checked: not placed)")

    def cancel(self, client_order_id: str) -> OrderState:
        self._require()
        order_id = self._order_id(client_order_id)
        if order_id is None:
            raise BrokerError(f"Tradovate: no order with client order id {client_order_id!r} in this account")
        self._reload_order(order_id)
        state = self._state(order_id)
        if not state.status.is_open:
            return state
        answer = self.rest.post("order/cancelorder", {"orderId": order_id})
        if isinstance(answer, dict) and answer.get("failureReason") not in (None, "Success"):
            log.warning("Tradovate: cancel of %s answered %s: %s", client_order_id, answer.get("failureReason"),
                        answer.get("failureText"))
        self._reload_order(order_id)
        return self._state(order_id)

    def flatten(self, instrument: str | None = None) -> list[OrderState]:
        """Close positions first (`liquidateposition` also cancels the contract's orders), then
        cancel whatever still works, so a position is never left without its stop."""
        self._require()
        wanted = None if instrument is None else self._contract(instrument)[1]
        states: list[OrderState] = []
        for entity in self._mine(self.rest.get("position/list")):
            contract_id = int(entity["contractId"])
            if int(entity.get("netPos") or 0) == 0 or (wanted is not None and contract_id != wanted):
                continue
            order_id = self._liquidate(contract_id)
            if order_id is not None:
                self._reload_order(order_id)
                # its fills from the broker's list: their WebSocket events may not have arrived yet,
                # and the state returned would say "filled" with nothing filled
                self._reload_fills()
                states.append(self._state(order_id))
        self._reload_orders()
        with self._lock:
            open_ids = [i for i, o in self._orders.items() if self._state(i).status.is_open and
                        (wanted is None or int(o.get("contractId") or 0) == wanted)]
        for order_id in open_ids:
            self.rest.post("order/cancelorder", {"orderId": order_id})
            self._reload_order(order_id)
            states.append(self._state(order_id))
        return states

    # --- placement internals ------------------------------------------------------------------

    def _find_placed(self, bracket: Bracket) -> BracketAck | None:
        """The bracket's ack if its entry's clOrdId is already known at the broker."""
        cl = bracket.entry.client_order_id
        if cl not in self._order_by_cl:
            self._reload_commands()
        if cl not in self._order_by_cl:
            return None
        self._reload_orders()
        self._reload_fills()
        return self._ack_from_ids(bracket)

    def _look_up_after_silence(self, bracket: Bracket) -> BracketAck | None:
        """After an unanswered placement: the ack if it was placed, None if it certainly was not;
        BrokerConnectionError if we cannot tell (then nothing may be resent)."""
        for look in range(1, self.config.lookup_attempts + 1):
            self._sleep(min(self.config.retry_max_wait_s, self.config.retry_wait_s * 2 ** (look - 1)))
            try:
                return self._find_placed(bracket)
            except BrokerConnectionError as exc:
                log.warning("Tradovate: looking up %s failed (%s)", bracket.entry.client_order_id, exc)
        raise BrokerConnectionError(f"Tradovate: unknown whether bracket {bracket.entry.client_order_id} was placed "
                                    f"(its placement and {self.config.lookup_attempts} lookups went unanswered); "
                                    f"not resending: reconcile with the broker first")

    def _acknowledge(self, bracket: Bracket, contract_id: int, answer: Any) -> BracketAck:
        if not isinstance(answer, dict):
            raise BrokerError(f"Tradovate placeoso for {bracket.entry.client_order_id}: unexpected answer {answer!r}")
        with self._lock:
            for key, order in (("orderId", bracket.entry), ("oso1Id", bracket.stop), ("oso2Id", bracket.target)):
                if answer.get(key) is not None:
                    self._remember(int(answer[key]), order.client_order_id)
        if answer.get("failureReason") not in (None, "Success"):
            reason = f"{answer.get('failureReason')}: {answer.get('failureText') or ''}".strip(": ")
            log.warning("Tradovate rejected bracket %s: %s", bracket.entry.client_order_id, reason)
            rejected = [OrderState(o.client_order_id, OrderStatus.REJECTED, reason=reason, time=self._now(),
                                   broker_order_id=str(answer["orderId"]) if o is bracket.entry and
                                   answer.get("orderId") is not None else None) for o in bracket.orders]
            return BracketAck(*rejected, extra={"failureReason": str(answer.get("failureReason"))})
        if answer.get("orderId") is None:
            raise BrokerError(f"Tradovate placeoso for {bracket.entry.client_order_id}: no orderId in the answer")
        log.info("Tradovate: bracket %s placed (order %s, stop %s, target %s)", bracket.entry.client_order_id,
                 answer.get("orderId"), answer.get("oso1Id"), answer.get("oso2Id"))
        self._labels.setdefault(contract_id, bracket.entry.instrument)
        self._reload_orders()
        self._reload_fills()
        return self._ack_from_ids(bracket)

    def _ack_from_ids(self, bracket: Bracket) -> BracketAck:
        states = []
        for order in bracket.orders:
            order_id = self._order_by_cl.get(order.client_order_id)
            states.append(self._state(order_id) if order_id is not None else
                          OrderState(order.client_order_id, OrderStatus.PENDING, time=self._now()))
        return BracketAck(*states)

    def _liquidate(self, contract_id: int) -> int | None:
        body = {"accountId": self.account_id, "contractId": contract_id, "admin": False}
        for _ in range(self.config.lookup_attempts):
            try:
                answer = self.rest.post("order/liquidateposition", body, retry=False)
            except UnansweredError as exc:
                log.warning("Tradovate: liquidation of contract %s went unanswered (%s); checking the position",
                            contract_id, exc)
                self._sleep(self.config.retry_wait_s)
                still = [p for p in self._mine(self.rest.get("position/list"))
                         if int(p["contractId"]) == contract_id and int(p.get("netPos") or 0) != 0]
                if not still:
                    return None
                continue
            if isinstance(answer, dict) and answer.get("orderId") is not None:
                return int(answer["orderId"])
            raise BrokerError(f"Tradovate refused to liquidate contract {contract_id}: "
                              f"{answer.get('failureText') if isinstance(answer, dict) else answer}")
        raise BrokerConnectionError(f"Tradovate: liquidation of contract {contract_id} went unanswered "
                                    f"{self.config.lookup_attempts} times; the position may still be open")

    # --- contracts ------------------------------------------------------------------------------

    def _contract(self, instrument: str) -> tuple[str, int]:
        symbol = front_month(instrument, self._market_clock(), self.config.roll_days_before_expiry) \
            if _ROOT.match(instrument) else instrument
        with self._lock:
            if symbol in self._contract_ids:
                return symbol, self._contract_ids[symbol]
        try:
            contract = self.rest.get("contract/find", {"name": symbol})
        except NotFoundError:
            raise BrokerError(f"Tradovate has no contract {symbol!r} (instrument {instrument!r})") from None
        if not isinstance(contract, dict) or contract.get("id") is None:
            raise BrokerError(f"Tradovate has no contract {symbol!r} (instrument {instrument!r})")
        with self._lock:
            self._contract_ids[symbol] = int(contract["id"])
            self._labels.setdefault(int(contract["id"]), instrument)
        return symbol, int(contract["id"])

    def contract_symbol(self, instrument: str) -> str:
        """The contract `instrument` trades now (`NQ` -> `NQZ3`), looked up at Tradovate."""
        return self._contract(instrument)[0]

    def _label(self, contract_id: int) -> str:
        with self._lock:
            if contract_id in self._labels:
                return self._labels[contract_id]
        try:
            contract = self.rest.get("contract/item", {"id": contract_id})
            name = str(contract.get("name")) if isinstance(contract, dict) else str(contract_id)
        except BrokerError:
            name = str(contract_id)
        match = _CONTRACT.match(name)
        label = match.group(1) if match else name
        with self._lock:
            self._labels[contract_id] = label
        return label

    # --- caches and their refresh ----------------------------------------------------------------

    def _reload(self) -> None:
        self._reload_commands()
        self._reload_orders()
        self._reload_fills()
        with self._lock:
            for entity in self._mine(self.rest.get("position/list")):
                self._positions[int(entity["contractId"])] = entity

    def _reload_commands(self) -> None:
        commands = self.rest.get("command/list") or []
        with self._lock:
            for command in commands:
                if isinstance(command, dict) and command.get("clOrdId") and command.get("commandType", "New") == "New":
                    self._remember(int(command["orderId"]), str(command["clOrdId"]))

    def _reload_orders(self) -> None:
        orders = self._mine(self.rest.get("order/list"))
        with self._lock:
            for order in orders:
                self._orders[int(order["id"])] = order

    def _reload_order(self, order_id: int) -> None:
        try:
            order = self.rest.get("order/item", {"id": order_id})
        except NotFoundError:
            return
        if isinstance(order, dict) and order.get("id") is not None:
            with self._lock:
                self._orders[int(order["id"])] = order

    def _reload_fills(self) -> None:
        fills = [f for f in self.rest.get("fill/list") or [] if isinstance(f, dict) and f.get("id") is not None]
        with self._lock:
            for fill in fills:
                if int(fill.get("orderId") or 0) in self._orders or int(fill.get("orderId") or 0) in self._cl_by_order:
                    self._fills[int(fill["id"])] = fill

    def _remember(self, order_id: int, client_order_id: str) -> None:
        self._cl_by_order[order_id] = client_order_id
        self._order_by_cl[client_order_id] = order_id

    def _order_id(self, client_order_id: str) -> int | None:
        if client_order_id not in self._order_by_cl:
            self._reload_commands()
        return self._order_by_cl.get(client_order_id)

    def _mine(self, entities: Any) -> list[dict[str, Any]]:
        return [e for e in entities or [] if isinstance(e, dict) and
                int(e.get("accountId") or self.account_id or 0) == self.account_id]

    # --- entity -> record ----------------------------------------------------------------------

    def _state(self, order_id: int) -> OrderState:
        with self._lock:
            order = self._orders.get(order_id, {})
            fills = [f for f in self._fills.values() if int(f.get("orderId") or 0) == order_id]
            client_id = self._cl_by_order.get(order_id, f"tradovate:{order_id}")
        filled = sum(int(f.get("qty") or 0) for f in fills)
        value = sum(int(f.get("qty") or 0) * float(f.get("price") or 0.0) for f in fills)
        status = _STATUS.get(str(order.get("ordStatus")), OrderStatus.PENDING)
        if status is OrderStatus.WORKING and filled > 0:
            status = OrderStatus.PARTIAL
        return OrderState(client_order_id=client_id, status=status, broker_order_id=str(order_id),
                          filled_quantity=filled, average_price=value / filled if filled else None,
                          reason=str(order.get("ordStatus") or ""), time=_time(order.get("timestamp")))

    def _fill(self, fill: dict[str, Any]) -> Fill:
        order_id = int(fill.get("orderId") or 0)
        return Fill(fill_id=str(fill["id"]), client_order_id=self._cl_by_order.get(order_id, f"tradovate:{order_id}"),
                    instrument=self._label(int(fill.get("contractId") or 0)),
                    side=Side.BUY if fill.get("action") == "Buy" else Side.SELL, quantity=int(fill.get("qty") or 0),
                    price=float(fill.get("price")), time=_time(fill.get("timestamp")) or self._now(),
                    broker_order_id=str(order_id))

    def _position(self, entity: dict[str, Any]) -> Position:
        net = int(entity.get("netPos") or 0)
        return Position(instrument=self._label(int(entity["contractId"])), quantity=net,
                        average_price=_float(entity.get("netPrice")) if net else None)

    # --- the WebSocket's callbacks (its thread) -----------------------------------------------

    def _on_props(self, data: dict[str, Any]) -> None:
        try:
            self._apply(str(data.get("entityType")), data.get("entity"), str(data.get("eventType")))
        except (KeyError, TypeError, ValueError) as exc:  # one odd event must not kill the stream
            log.warning("Tradovate: ignoring a malformed %s event (%s)", data.get("entityType"), exc)

    def _apply(self, entity_type: str, entity: Any, event_type: str = "Updated", *, emit: bool = True) -> None:
        if not isinstance(entity, dict) or entity.get("id") is None:
            return
        if entity.get("accountId") is not None and int(entity["accountId"]) != self.account_id:
            return
        # the caches follow every source (REST reads, events, syncs); what was already *reported*
        # is kept apart, so a REST read that comes first never swallows the event
        if entity_type == "order":
            order_id = int(entity["id"])
            with self._lock:
                self._orders[order_id] = entity
                changed = self._reported_orders.get(order_id) != entity.get("ordStatus")
                self._reported_orders[order_id] = entity.get("ordStatus")
            if emit and changed:
                self._emit(BrokerEvent(EventKind.ORDER, _time(entity.get("timestamp")) or self._now(),
                                       order=self._state(order_id)))
        elif entity_type == "fill":
            with self._lock:
                self._fills[int(entity["id"])] = entity
                new = int(entity["id"]) not in self._reported_fills
                self._reported_fills.add(int(entity["id"]))
            if emit and new:
                fill = self._fill(entity)
                self._emit(BrokerEvent(EventKind.FILL, fill.time, fill=fill))
        elif entity_type == "position":
            contract_id = int(entity["contractId"])
            now = (entity.get("netPos"), entity.get("netPrice"))
            with self._lock:
                self._positions[contract_id] = entity
                changed = self._reported_positions.get(contract_id) != now
                self._reported_positions[contract_id] = now
            if emit and changed:
                self._emit(BrokerEvent(EventKind.POSITION, _time(entity.get("timestamp")) or self._now(),
                                       position=self._position(entity)))
        elif entity_type == "cashBalance":
            with self._lock:
                self._cash = entity

    def _on_sync(self, state: dict[str, Any]) -> None:
        """The sync's state: on the first session it is the baseline; after a reconnect every
        difference from what we knew (fills, order states, positions) becomes an event."""
        first = self._socket is None or self._socket.sessions <= 1
        emit = not first
        counts = {}
        for entity_type, key in (("order", "orders"), ("fill", "fills"), ("position", "positions"),
                                 ("cashBalance", "cashBalances")):
            items = state.get(key) or []
            counts[key] = len(items)
            for entity in items:
                try:
                    self._apply(entity_type, entity, emit=emit)
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("Tradovate: ignoring a malformed %s in the sync (%s)", entity_type, exc)
        self._on_connection(("synced" if first else "resynced") +
                            f": {counts['orders']} orders, {counts['fills']} fills, {counts['positions']} positions")

    def _on_connection(self, note: str) -> None:
        self._emit(BrokerEvent(EventKind.CONNECTION, self._now(), note=note))

    def _emit(self, event: BrokerEvent) -> None:
        with self._lock:
            self._events.append(event)

    # --- small helpers ------------------------------------------------------------------------

    def _require(self) -> None:
        if not self._connected:
            raise BrokerConnectionError("Tradovate broker is not connected: call connect() first")

    def _now(self) -> pd.Timestamp:
        return pd.Timestamp(self._clock(), unit="s", tz="UTC")


def _action(side: Side) -> str:
    return "Buy" if side is Side.BUY else "Sell"


def _prices(order: Order) -> dict[str, Any]:
    fields: dict[str, Any] = {"orderType": _ORDER_TYPES[order.order_type]}
    if order.order_type is OrderType.LIMIT:
        fields["price"] = order.limit_price
    if order.order_type is OrderType.STOP:
        fields["stopPrice"] = order.stop_price
    return fields


def _time(value: Any) -> pd.Timestamp | None:
    if not value:
        return None
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")

