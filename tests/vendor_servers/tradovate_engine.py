"""The Tradovate stand-in's matching engine: an account, orders, fills, positions and cash, moved
along a real price path by a simulated clock.

The engine is given 1-minute bars (a pandas frame with `time` (bar start, tz-aware UTC) or
a tz-aware index, and `open`/`high`/`low`/`close`) and a clock it never reads by itself: the test or
the replay calls `advance_to(ts)`, and every bar that has *ended* by `ts` is matched against the
working orders, in bar order. The rules, chosen to be those a careful backtest uses:

- a market order fills when it is placed, at the close of the last bar that has ended (the price
  a trader saw at decision time); before any bar has ended, at the open of the first bar;
- an order only matches bars that start at or after the moment it became working;
- a sell stop triggers when a bar's low reaches it and fills at the stop, or at the bar's open if
  the bar opened through it (a gap); a buy stop mirrors it on the high;
- a sell limit fills when a bar's high reaches it, at the limit or the better open; a buy limit
  mirrors it on the low;
- when one bar touches both the stop and the target of a bracket, the stop fills (the bar does not
  say which came first, so the engine assumes the worse);
- an order-sends-order entry holds its two brackets `Suspended` until it fills; then they work for
  the filled quantity, one cancels the other, and a bracket that fills cancels what is left of
  the entry.

Every change is reported to `listener(entity_type, event_type, entity)` the way Tradovate's
`props` events carry it (entity types `order`, `fill`, `position`, `cashBalance`, `command`).
"""
from __future__ import annotations

import itertools
import math
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

#: dollars per index point, by contract root
MULTIPLIERS = {"NQ": 20.0, "MNQ": 2.0}
TICK_SIZE = 0.25
_CONTRACT_NAME = re.compile(r"^(MNQ|NQ)([FGHJKMNQUVXZ])(\d{1,2})$")

Listener = Callable[[str, str, dict[str, Any]], None]


class EngineError(ValueError):
    """A request the engine refuses (unknown order, bad price): answered as `failureReason`."""


@dataclass
class SimOrder:
    id: int
    account_id: int
    contract_id: int
    action: str                 # Buy | Sell
    qty: int
    order_type: str             # Market | Limit | Stop
    price: float | None
    stop_price: float | None
    status: str                 # Working | Suspended | Filled | Canceled | Rejected
    cl_ord_id: str | None
    created: pd.Timestamp
    working_since: pd.Timestamp | None
    parent_id: int | None = None
    oco_id: int | None = None
    children: list[int] = field(default_factory=list)
    filled: int = 0
    split_next_fill: bool = False   # the partial-fill fault: the next fill takes half

    def entity(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "id": self.id, "accountId": self.account_id, "contractId": self.contract_id,
            "timestamp": _iso(self.created), "action": self.action, "ordStatus": self.status,
            "admin": False, "executionProviderId": 1}
        if self.parent_id is not None:
            document["parentId"] = self.parent_id
        if self.oco_id is not None:
            document["ocoId"] = self.oco_id
        return document

    @property
    def sign(self) -> int:
        return 1 if self.action == "Buy" else -1


@dataclass
class SimPosition:
    id: int
    account_id: int
    contract_id: int
    net_pos: int = 0
    net_price: float | None = None
    bought: int = 0
    bought_value: float = 0.0
    sold: int = 0
    sold_value: float = 0.0
    timestamp: pd.Timestamp | None = None

    def entity(self) -> dict[str, Any]:
        return {"id": self.id, "accountId": self.account_id, "contractId": self.contract_id,
                "timestamp": _iso(self.timestamp), "tradeDate": _trade_date(self.timestamp),
                "netPos": self.net_pos, "netPrice": self.net_price, "bought": self.bought,
                "boughtValue": self.bought_value, "sold": self.sold, "soldValue": self.sold_value,
                "prevPos": 0}


class MatchingEngine:
    """Orders, fills, positions and cash of one simulated account on a real price path."""

    def __init__(self, bars: pd.DataFrame, *, start: pd.Timestamp | None = None, bar_seconds: int = 60,
                 account_id: int = 4001, account_name: str = "DEMO4001", user_id: int = 301,
                 starting_cash: float = 50_000.0, listener: Listener | None = None) -> None:
        self.lock = threading.RLock()
        frame = bars_frame(bars)
        self._start_ns = frame["time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        self._open = frame["open"].to_numpy(float)
        self._high = frame["high"].to_numpy(float)
        self._low = frame["low"].to_numpy(float)
        self._close = frame["close"].to_numpy(float)
        self.bar_ns = int(bar_seconds * 1e9)
        self.now = pd.Timestamp(start) if start is not None else pd.Timestamp(int(self._start_ns[0]), tz="UTC")
        self._next_bar = int(np.searchsorted(self._start_ns, self.now.value, side="left"))
        self.account = {"id": account_id, "name": account_name, "userId": user_id, "accountType": "Customer",
                        "active": True, "clearingHouseId": 2, "riskCategoryId": 2, "autoLiqProfileId": 1,
                        "marginAccountType": "Speculator", "legalStatus": "Individual", "archived": False,
                        "timestamp": _iso(self.now)}
        self.starting_cash = starting_cash
        self.realized_pnl = 0.0
        self.listener = listener
        self.orders: dict[int, SimOrder] = {}
        self.fills: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self.positions: dict[int, SimPosition] = {}
        self.contracts: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(10_001)

    # --- contracts ---------------------------------------------------------------------------

    def find_contract(self, name: str) -> dict[str, Any] | None:
        """The contract named like `NQZ3` / `MNQZ6` (NQ and MNQ on the same price path)."""
        if not _CONTRACT_NAME.match(name or ""):
            return None
        with self.lock:
            for contract in self.contracts.values():
                if contract["name"] == name:
                    return contract
            contract = {"id": next(self._ids), "name": name, "contractMaturityId": next(self._ids),
                        "status": "DefaultAccepted", "providerTickSize": TICK_SIZE}
            self.contracts[contract["id"]] = contract
            return contract

    def multiplier(self, contract_id: int) -> float:
        name = self.contracts[contract_id]["name"]
        return MULTIPLIERS[_CONTRACT_NAME.match(name).group(1)]

    # --- orders ------------------------------------------------------------------------------

    def place(self, *, contract_id: int, action: str, qty: int, order_type: str, price: float | None,
              stop_price: float | None, cl_ord_id: str | None, brackets: list[dict[str, Any]] = (),
              reject: str | None = None, partial: bool = False) -> dict[str, Any]:
        """Place an order (with up to two OSO brackets); the answer Tradovate gives to placeorder/placeoso."""
        with self.lock:
            if contract_id not in self.contracts:
                return {"failureReason": "InvalidContract", "failureText": f"unknown contract {contract_id}"}
            legs = [dict(action=action, qty=qty, orderType=order_type, price=price, stopPrice=stop_price,
                         clOrdId=cl_ord_id)]
            legs += [dict(action=b.get("action"), qty=int(b.get("orderQty") or qty), orderType=b.get("orderType"),
                          price=b.get("price"), stopPrice=b.get("stopPrice"), clOrdId=b.get("clOrdId"))
                     for b in brackets]
            problem = reject or _check_legs(legs)
            entry = self._new_order(contract_id, legs[0], status="Rejected" if problem else "Working")
            self._command(entry, "RiskRejected" if problem else "RiskPassed")
            if problem:
                self._emit("order", "Created", entry.entity())
                reason, _, text = problem.partition(":")
                return {"failureReason": reason, "failureText": text.strip() or reason, "orderId": entry.id}
            entry.split_next_fill = partial
            answer: dict[str, Any] = {"orderId": entry.id}
            oco = next(self._ids) if len(brackets) == 2 else None
            for number, leg in enumerate(legs[1:], start=1):
                child = self._new_order(contract_id, leg, status="Suspended", parent_id=entry.id, oco_id=oco)
                child.working_since = None
                entry.children.append(child.id)
                self._command(child, "RiskPassed")
                answer[f"oso{number}Id"] = child.id
            self._emit("order", "Created", entry.entity())
            for child_id in entry.children:
                self._emit("order", "Created", self.orders[child_id].entity())
            if order_type == "Market":
                self._fill_market(entry)
            return answer

    def cancel(self, order_id: int) -> dict[str, Any]:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                return {"failureReason": "UnknownReason", "failureText": f"order {order_id} not found"}
            if order.status not in ("Working", "Suspended"):
                return {"failureReason": "TooLate", "failureText": f"order {order_id} is {order.status}"}
            command = self._command(order, "RiskPassed", command_type="Cancel")
            self._set_status(order, "Canceled")
            for child_id in order.children:
                child = self.orders[child_id]
                if child.status in ("Working", "Suspended") and order.filled == 0:
                    self._set_status(child, "Canceled")
            return {"commandId": command["id"]}

    def liquidate(self, contract_id: int) -> dict[str, Any]:
        """Cancel the contract's working orders and close its position at market."""
        with self.lock:
            for order in list(self.orders.values()):
                if order.contract_id == contract_id and order.status in ("Working", "Suspended"):
                    self._set_status(order, "Canceled")
            position = self.positions.get(contract_id)
            if position is None or position.net_pos == 0:
                return {"failureReason": "UnknownReason", "failureText": "no position to liquidate"}
            leg = dict(action="Sell" if position.net_pos > 0 else "Buy", qty=abs(position.net_pos),
                       orderType="Market", price=None, stopPrice=None, clOrdId=None)
            order = self._new_order(contract_id, leg, status="Working")
            self._command(order, "RiskPassed")
            self._emit("order", "Created", order.entity())
            self._fill_market(order)
            return {"orderId": order.id}

    # --- the clock ---------------------------------------------------------------------------

    def advance_to(self, ts: pd.Timestamp) -> int:
        """Move simulated time to `ts`, matching every bar that has ended by then; bars matched."""
        ts = pd.Timestamp(ts)
        if ts.tzinfo is None:
            raise ValueError(f"advance_to needs a tz-aware time, got {ts}")
        with self.lock:
            matched = 0
            while self._next_bar < len(self._start_ns) and self._start_ns[self._next_bar] + self.bar_ns <= ts.value:
                self._match_bar(self._next_bar)
                self._next_bar += 1
                matched += 1
            if ts > self.now:
                self.now = ts
            return matched

    def last_close(self) -> float | None:
        """The close of the last bar that has ended by `now`."""
        ended = int(np.searchsorted(self._start_ns + self.bar_ns, self.now.value, side="right"))
        return float(self._close[ended - 1]) if ended else None

    # --- views -------------------------------------------------------------------------------

    def sync(self) -> dict[str, Any]:
        """What `user/syncrequest` answers: the account's whole state."""
        with self.lock:
            return {"users": [{"id": self.account["userId"], "name": self.account["name"]}],
                    "accounts": [self.account], "orders": [o.entity() for o in self.orders.values()],
                    "fills": list(self.fills), "positions": [p.entity() for p in self.positions.values()],
                    "cashBalances": [self.cash_balance()], "contracts": list(self.contracts.values()),
                    "commands": list(self.commands)}

    def cash_balance(self) -> dict[str, Any]:
        return {"id": self.account["id"], "accountId": self.account["id"], "timestamp": _iso(self.now),
                "tradeDate": _trade_date(self.now), "currencyId": 1,
                "amount": self.starting_cash + self.realized_pnl, "realizedPnL": self.realized_pnl,
                "weekRealizedPnL": self.realized_pnl}

    def cash_snapshot(self) -> dict[str, Any]:
        open_pnl = self.open_pnl()
        cash = self.starting_cash + self.realized_pnl
        return {"errorText": None, "totalCashValue": cash, "totalPnL": self.realized_pnl + open_pnl,
                "initialMargin": 0.0, "maintenanceMargin": 0.0, "netLiq": cash + open_pnl,
                "openPnL": open_pnl, "realizedPnL": self.realized_pnl, "weekRealizedPnL": self.realized_pnl}

    def open_pnl(self) -> float:
        mark = self.last_close()
        total = 0.0
        for position in self.positions.values():
            if position.net_pos and mark is not None and position.net_price is not None:
                total += (mark - position.net_price) * position.net_pos * self.multiplier(position.contract_id)
        return total

    # --- internals ---------------------------------------------------------------------------

    def _new_order(self, contract_id: int, leg: dict[str, Any], *, status: str, parent_id: int | None = None,
                   oco_id: int | None = None) -> SimOrder:
        order = SimOrder(id=next(self._ids), account_id=self.account["id"], contract_id=contract_id,
                         action=leg["action"], qty=int(leg["qty"]), order_type=leg["orderType"],
                         price=_num(leg.get("price")), stop_price=_num(leg.get("stopPrice")), status=status,
                         cl_ord_id=leg.get("clOrdId"), created=self.now, working_since=self.now,
                         parent_id=parent_id, oco_id=oco_id)
        self.orders[order.id] = order
        return order

    def _command(self, order: SimOrder, status: str, command_type: str = "New") -> dict[str, Any]:
        command = {"id": next(self._ids), "orderId": order.id, "timestamp": _iso(self.now),
                   "clOrdId": order.cl_ord_id if command_type == "New" else None, "commandType": command_type,
                   "commandStatus": status, "isAutomated": True}
        self.commands.append(command)
        self._emit("command", "Created", command)
        return command

    def _set_status(self, order: SimOrder, status: str) -> None:
        order.status = status
        self._emit("order", "Updated", order.entity())

    def _fill_market(self, order: SimOrder) -> None:
        price = self.last_close()
        if price is None:
            return  # no bar has ended yet: it fills at the next bar's open (in _match_bar)
        self._fill(order, price)

    def _match_bar(self, i: int) -> None:
        start = pd.Timestamp(int(self._start_ns[i]), tz="UTC")
        o, h, l = self._open[i], self._high[i], self._low[i]
        for order in sorted(self.orders.values(), key=lambda x: x.id):
            if order.status != "Working" or order.working_since is None or order.working_since > start:
                continue
            self.now = max(self.now, start)
            price = _trigger_price(order, o, h, l)
            if price is not None:
                self._fill(order, price, bar_time=start)
        self.now = max(self.now, pd.Timestamp(int(self._start_ns[i] + self.bar_ns), tz="UTC"))

    def _fill(self, order: SimOrder, price: float, bar_time: pd.Timestamp | None = None) -> None:
        if order.status != "Working":
            return
        when = bar_time if bar_time is not None else self.now
        qty = order.qty - order.filled
        if order.parent_id is not None:  # a bracket closes what its entry opened
            qty = min(qty, self.orders[order.parent_id].filled - order.filled)
        if order.split_next_fill and qty > 1:
            qty = qty // 2
            order.split_next_fill = False
        if qty <= 0:
            return
        order.filled += qty
        fill = {"id": next(self._ids), "orderId": order.id, "contractId": order.contract_id,
                "timestamp": _iso(when), "tradeDate": _trade_date(when), "action": order.action,
                "qty": qty, "price": price, "active": True, "finallyPaired": 0}
        self.fills.append(fill)
        self._emit("fill", "Created", fill)
        done = order.filled >= order.qty
        if order.parent_id is not None:
            parent = self.orders[order.parent_id]
            done = done or order.filled >= parent.filled
        if done:
            self._set_status(order, "Filled")
        else:
            self._emit("order", "Updated", order.entity())
        self._book(order, qty, price, when)
        for child_id in order.children:  # an OSO entry's brackets work for what is filled
            child = self.orders[child_id]
            if child.status == "Suspended":
                # filled inside a bar: the brackets work from the next bar on; at placement: at once
                child.working_since = when + pd.Timedelta(nanoseconds=1) if bar_time is not None else when
                self._set_status(child, "Working")
        if order.parent_id is not None:
            parent = self.orders[order.parent_id]
            for sibling_id in parent.children:
                sibling = self.orders[sibling_id]
                if sibling.id != order.id and sibling.status in ("Working", "Suspended"):
                    self._set_status(sibling, "Canceled")
            if parent.status == "Working":  # what was left of the entry is no longer wanted
                self._set_status(parent, "Canceled")

    def _book(self, order: SimOrder, qty: int, price: float, when: pd.Timestamp) -> None:
        position = self.positions.get(order.contract_id)
        event = "Updated"
        if position is None:
            position = SimPosition(id=next(self._ids), account_id=order.account_id, contract_id=order.contract_id)
            self.positions[order.contract_id] = position
            event = "Created"
        signed = qty * order.sign
        if order.sign > 0:
            position.bought += qty
            position.bought_value += qty * price
        else:
            position.sold += qty
            position.sold_value += qty * price
        old = position.net_pos
        if old == 0 or (old > 0) == (signed > 0):  # opening or adding
            total = abs(old) + qty
            position.net_price = ((position.net_price or 0.0) * abs(old) + price * qty) / total
        else:  # reducing (or flipping)
            closed = min(abs(old), qty)
            self.realized_pnl += (price - position.net_price) * closed * (1 if old > 0 else -1) \
                * self.multiplier(order.contract_id)
            if qty > abs(old):
                position.net_price = price
        position.net_pos = old + signed
        if position.net_pos == 0:
            position.net_price = None
        position.timestamp = when
        self._emit("position", event, position.entity())
        self._emit("cashBalance", "Updated", self.cash_balance())

    def _emit(self, entity_type: str, event_type: str, entity: dict[str, Any]) -> None:
        if self.listener is not None:
            self.listener(entity_type, event_type, dict(entity))


def _trigger_price(order: SimOrder, o: float, h: float, l: float) -> float | None:
    if order.order_type == "Market":
        return o
    buy = order.action == "Buy"
    if order.order_type == "Stop":
        stop = order.stop_price
        if buy and h >= stop:
            return max(stop, o)
        if not buy and l <= stop:
            return min(stop, o)
        return None
    if order.order_type == "Limit":
        limit = order.price
        if buy and l <= limit:
            return min(limit, o)
        if not buy and h >= limit:
            return max(limit, o)
    return None


def _check_legs(legs: list[dict[str, Any]]) -> str | None:
    for leg in legs:
        if leg["action"] not in ("Buy", "Sell"):
            return f"UnknownReason: action must be Buy or Sell, got {leg['action']!r}"
        if leg["orderType"] not in ("Market", "Limit", "Stop"):
            return f"Unsupported: order type {leg['orderType']!r} is not simulated"
        if leg["qty"] <= 0:
            return "MaxOrderQtyIsNotSpecified: orderQty must be positive"
        if leg["orderType"] == "Limit" and not _finite(leg.get("price")):
            return "InvalidPrice: a Limit order needs a price"
        if leg["orderType"] == "Stop" and not _finite(leg.get("stopPrice")):
            return "InvalidPrice: a Stop order needs a stopPrice"
    return None


def bars_frame(bars: pd.DataFrame) -> pd.DataFrame:
    """`bars` as a frame with a tz-aware UTC `time` column, in time order (other columns kept)."""
    frame = bars.copy()
    if "time" not in frame.columns:
        for name in ("start", "timestamp"):
            if name in frame.columns:
                frame = frame.rename(columns={name: "time"})
                break
        else:
            frame = frame.rename_axis("time").reset_index()
    missing = {"time", "open", "high", "low", "close"} - set(frame.columns)
    if missing:
        raise ValueError(f"price path: missing columns {sorted(missing)} (expected time/open/high/low/close)")
    frame["time"] = pd.to_datetime(frame["time"])
    if frame["time"].dt.tz is None:
        raise ValueError("price path: bar times must be tz-aware (UTC)")
    frame["time"] = frame["time"].dt.tz_convert("UTC")
    frame = frame.sort_values("time", kind="stable").reset_index(drop=True)
    if frame.empty:
        raise ValueError("price path: no bars")
    return frame


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _num(value: Any) -> float | None:
    return float(value) if _finite(value) else None


def _iso(ts: pd.Timestamp | None) -> str | None:
    if ts is None:
        return None
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _trade_date(ts: pd.Timestamp | None) -> dict[str, int] | None:
    if ts is None:
        return None
    return {"year": ts.year, "month": ts.month, "day": ts.day}
