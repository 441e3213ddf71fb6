"""The risk engine: every order through the guards, every fill and price through their hooks, and
the ACTIVE -> REDUCING -> HALTED state machine that survives restarts.

The engine never talks to a broker and never reads a clock: the caller passes a `TradingSnapshot`
(positions, working orders, marks, today's P&L, simulated `now`) and carries out the typed
actions the engine returns (`CancelOrders`, `FlattenPositions`).

Algorithm:
1. `check(request, snapshot)`, before an order or bracket is sent:
   a. reload the stored state (another process, e.g. the dashboard's emergency stop, may have
      halted meanwhile);
   b. HALTED refuses everything (`HALTED`); REDUCING refuses all but orders that only reduce
      exposure (`REDUCING`);
   c. the request's own sanity (`_sanity`: known instrument, a mark for a market entry, bracket
      legs that protect the entry);
   d. a resend of an order already approved (same client order id) is approved again without
      being counted twice;
   e. each enabled guard in registry order (`check`); the first refusal is recorded and returned;
   f. otherwise the approval is recorded (the order-rate window counts it).
2. `on_fill(fill, snapshot)` / `on_price(instrument, price, snapshot)` / `evaluate(snapshot)`:
   every enabled guard's post-trade hook; the most severe `Demand` above the current state moves
   the engine (recorded, escalation only: a guard never lowers the state), then the actions the
   state requires are returned (HALTED: cancel every working order and flatten every position;
   REDUCING: cancel working entries). They are level-triggered: as long as the engine is HALTED
   and something is open, every hook returns the actions again, so a restart or a lost cancel
   cannot leave an order working.
3. `halt(by, reason)` / `reduce(...)`: a person (or the emergency stop) moves the state up;
   `resume(by=..., token_ok=True)` is the only way down, back to ACTIVE; a resume whose token
   was not valid is refused and recorded. One exception, today's REDUCING: a REDUCING demanded
   by a guard whose quantity is the trading day's (`resets_daily`: max_daily_loss) lapses back
   to ACTIVE at the first check or hook of the next trading day (`NEW_TRADING_DAY`, recorded),
   since the day's loss it measured starts again from zero. A HALT never lapses.
4. `check_spend(cost, what, now)`: before a paid data request, the data_cost guard's answer.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date
from typing import Callable, Sequence, Union

import pandas as pd

from ....errors import ConfigError
from ..execution.orders import Bracket, Fill, Order, OrderType, Purpose
from .base import (Demand, Guard, GuardServices, Refusal, Request, RiskControlError, RiskState, SpendReader,
                   TradingSnapshot, request_id, request_orders)
from .config import RiskConfig
from .data_cost import DataCost
from .exposure import exposure, is_reducing, open_contracts
from .max_daily_loss import daily_pnl_at_mark
from .registry import build_guards
from .spend import read_spend
from .store import EventKind, InMemoryRiskStore, RiskEvent, RiskStateStore, RiskStatus

log = logging.getLogger(__name__)

ENGINE = "engine"
PERSON = "person"


@dataclass(frozen=True)
class CancelOrders:
    """Cancel these working orders (cancelling an entry also cancels its bracket legs)."""

    client_order_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class FlattenPositions:
    """Close every position in these instruments at market (`Broker.flatten(instrument)`)."""

    instruments: tuple[str, ...]
    reason: str


Action = Union[CancelOrders, FlattenPositions]


@dataclass(frozen=True)
class RiskDecision:
    """The answer to `check`: approved, or the refusal; plus actions the state requires."""

    approved: bool
    state: RiskState
    refusal: Refusal | None = None
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class RiskUpdate:
    """The answer to a post-trade hook or a control: the state before and after, the demands
    the guards made, and the actions the caller must take now."""

    state: RiskState
    previous: RiskState
    demands: tuple[Demand, ...] = ()
    actions: tuple[Action, ...] = ()

    @property
    def changed(self) -> bool:
        return self.state is not self.previous


@dataclass(frozen=True)
class CapUsage:
    """One guarded quantity against its limit (dashboards, reports): NaN when unknown."""

    guard: str
    name: str
    used: float
    limit: float
    unit: str


class _SubmissionLog:
    """Times of approved orders (simulated), pruned to the order-rate window."""

    def __init__(self, keep: pd.Timedelta) -> None:
        self.keep = keep
        self.times: list[pd.Timestamp] = []

    def add(self, at: pd.Timestamp) -> None:
        self.times.append(at)
        self.times = [t for t in self.times if t > at - self.keep]

    def times_since(self, start: pd.Timestamp) -> Sequence[pd.Timestamp]:
        return [t for t in self.times if t > start]


class RiskEngine:
    """Guards + state machine + store. See the module docstring for the algorithm."""

    def __init__(self, config: RiskConfig, *, store: RiskStateStore | None = None,
                 spend: SpendReader | None = None, guards: Sequence[Guard] | None = None) -> None:
        self.config = config
        self.store: RiskStateStore = store if store is not None else InMemoryRiskStore()
        if spend is None and (config.data_cost.enabled or config.cost_per_signal.enabled):
            raise ConfigError("the data_cost and cost_per_signal guards read the data spend ledger: pass "
                              "spend=LedgerSpendReader.under(<output root>) or disable both guards")
        self._submissions = _SubmissionLog(pd.Timedelta(seconds=config.order_rate.per_seconds))
        self._approved: dict[str, str] = {}  # client order id -> what was approved (its description)
        for event in self.store.events(kinds=(EventKind.APPROVAL,)):
            self._submissions.times.append(event.at)
            self._approved[event.client_order_id] = event.message
        self.services = GuardServices(spend=spend, submissions=self._submissions)
        self.guards: list[Guard] = list(guards) if guards is not None else build_guards(config, self.services)
        self._status = self.store.load()

    # --- state ---------------------------------------------------------------------------------

    @property
    def status(self) -> RiskStatus:
        return self._status

    @property
    def state(self) -> RiskState:
        return self._status.state

    def refresh(self) -> RiskStatus:
        """Reload the stored state (another process may have halted or resumed)."""
        self._status = self.store.load()
        return self._status

    # --- pre-trade ------------------------------------------------------------------------------

    def check(self, request: Request, snapshot: TradingSnapshot) -> RiskDecision:
        """Approve or refuse `request` (an `Order` or a `Bracket`) before it is sent."""
        self.refresh()
        self._new_trading_day(snapshot.now)
        refusal = self._state_refusal(request, snapshot) or self._sanity(request, snapshot)
        rid = request_id(request)
        if refusal is None and rid in self._approved:
            if self._approved[rid] == _describe(request):
                log.info("risk: %s approved again (a resend of an approved order is not counted twice)", rid)
                return RiskDecision(approved=True, state=self.state)
            refusal = Refusal(guard=ENGINE, code="DUPLICATE_ORDER_ID", client_order_id=rid,
                              detail=f"{rid} was approved before as {self._approved[rid]!r}; a different order "
                                     f"needs its own client order id")
        if refusal is None:
            reducing = is_reducing(request, snapshot)
            for guard in self.guards:
                if reducing and not guard.checks_reducing:
                    continue
                refusal = guard.check(request, snapshot)
                if refusal is not None:
                    break
        if refusal is not None:
            self._record_refusal(refusal, snapshot.now)
            return RiskDecision(approved=False, state=self.state, refusal=refusal,
                                actions=self.required_actions(snapshot))
        self.store.record(RiskEvent(at=snapshot.now, kind=EventKind.APPROVAL, guard=ENGINE, code="APPROVED",
                                    message=_describe(request), client_order_id=rid))
        self._submissions.add(snapshot.now)
        self._approved[rid] = _describe(request)
        return RiskDecision(approved=True, state=self.state)

    def check_spend(self, cost_usd: float, what: str, now: pd.Timestamp) -> Refusal | None:
        """Before a paid data request quoted at `cost_usd`: None, or the recorded refusal."""
        guard = next((g for g in self.guards if isinstance(g, DataCost)), None)
        if guard is None:
            return None
        refusal = guard.check_spend(cost_usd, now, what)
        if refusal is not None:
            self._record_refusal(refusal, now)
        return refusal

    # --- post-trade -----------------------------------------------------------------------------

    def on_fill(self, fill: Fill, snapshot: TradingSnapshot) -> RiskUpdate:
        """After an execution (`snapshot` already includes it)."""
        return self._post(lambda guard: guard.on_fill(fill, snapshot), snapshot)

    def on_price(self, instrument: str, price: float, snapshot: TradingSnapshot) -> RiskUpdate:
        """After a price update; `snapshot` is taken with this mark."""
        snapshot = snapshot.with_mark(instrument, price)
        return self._post(lambda guard: guard.on_price(instrument, price, snapshot), snapshot)

    def evaluate(self, snapshot: TradingSnapshot) -> RiskUpdate:
        """Every guard's post-trade rule now (on start, after a reconnect, on a timer)."""
        return self._post(lambda guard: guard.evaluate(snapshot), snapshot)

    def required_actions(self, snapshot: TradingSnapshot) -> tuple[Action, ...]:
        """What the current state requires of what is open or working in `snapshot`."""
        reason = f"risk state {self.state.value}: {self._status.reason}".rstrip(": ")
        if self.state is RiskState.HALTED:
            actions: list[Action] = []
            working = tuple(o.client_order_id for o in snapshot.working_orders)
            if working:
                actions.append(CancelOrders(client_order_ids=working, reason=reason))
            instruments = tuple(sorted({p.instrument for p in snapshot.positions if p.quantity != 0}))
            if instruments:
                actions.append(FlattenPositions(instruments=instruments, reason=reason))
            return tuple(actions)
        if self.state is RiskState.REDUCING:
            entries = tuple(o.client_order_id for o in snapshot.working_orders if o.purpose is Purpose.ENTRY)
            return (CancelOrders(client_order_ids=entries, reason=reason),) if entries else ()
        return ()

    # --- controls (a person) --------------------------------------------------------------------

    def halt(self, *, by: str, reason: str, now: pd.Timestamp,
             snapshot: TradingSnapshot | None = None) -> RiskUpdate:
        """Emergency stop: HALTED now; the actions flatten what `snapshot` shows open."""
        return self._control(RiskState.HALTED, "MANUAL_HALT", by=by, reason=reason, now=now, snapshot=snapshot)

    def reduce(self, *, by: str, reason: str, now: pd.Timestamp,
               snapshot: TradingSnapshot | None = None) -> RiskUpdate:
        """Stop adding exposure (REDUCING) until resumed."""
        return self._control(RiskState.REDUCING, "MANUAL_REDUCE", by=by, reason=reason, now=now, snapshot=snapshot)

    def resume(self, *, by: str, token_ok: bool, now: pd.Timestamp, reason: str = "",
               snapshot: TradingSnapshot | None = None) -> RiskUpdate:
        """Back to ACTIVE: only a named person with a valid control token. With `snapshot`, the
        guards judge at once, so a cap still reached halts again (and says so)."""
        self.refresh()
        previous = self.state
        if not token_ok or not by.strip():
            why = "the control token was not valid" if not token_ok else "who resumes must be named (by=...)"
            self.store.record(RiskEvent(at=now, kind=EventKind.CONTROL_REFUSED, guard=PERSON, code="RESUME_REFUSED",
                                        message=why, by=by))
            raise RiskControlError(f"resume refused: {why}; the engine stays {previous.value}")
        if previous is not RiskState.ACTIVE:
            status = RiskStatus(state=RiskState.ACTIVE, reason=reason or "resumed", guard=PERSON, code="RESUME",
                                changed_by=by, changed_at=now)
            self._status = self.store.record(
                RiskEvent(at=now, kind=EventKind.STATE_CHANGE, guard=PERSON, code="RESUME",
                          message=f"resumed by {by}" + (f": {reason}" if reason else ""),
                          state_from=previous, state_to=RiskState.ACTIVE, by=by), status)
            log.warning("risk: %s -> ACTIVE, resumed by %s", previous.value, by)
        if snapshot is None:
            return RiskUpdate(state=self.state, previous=previous)
        after = self.evaluate(snapshot)
        return RiskUpdate(state=after.state, previous=previous, demands=after.demands, actions=after.actions)

    # --- reporting ------------------------------------------------------------------------------

    def cap_usage(self, snapshot: TradingSnapshot) -> tuple[CapUsage, ...]:
        """Every guarded quantity now against its limit (the dashboard's caps used vs limits)."""
        config = self.config
        now = exposure(snapshot, config)
        spend, _error = read_spend(self.services, snapshot.now)
        window = pd.Timedelta(seconds=config.order_rate.per_seconds)
        usage = [
            CapUsage("max_position", "contracts", open_contracts(snapshot), config.max_position.max_contracts,
                     "contracts"),
            CapUsage("max_daily_loss", "loss", -daily_pnl_at_mark(snapshot, config), config.max_daily_loss.limit_usd,
                     "USD"),
            CapUsage("max_total_risk", "risk", now.risk_usd, config.max_total_risk.limit_usd, "USD"),
            CapUsage("data_cost", "day", math.nan if spend is None else spend.day_usd, config.data_cost.daily_usd,
                     "USD"),
            CapUsage("data_cost", "month", math.nan if spend is None else spend.month_usd,
                     config.data_cost.monthly_usd, "USD"),
            CapUsage("order_rate", "orders", len(self._submissions.times_since(snapshot.now - window)),
                     config.order_rate.max_orders, "orders"),
        ]
        if snapshot.signals > 0 and spend is not None:
            usage.append(CapUsage("cost_per_signal", "per_signal",
                                  (spend.day_usd + snapshot.commission_usd) / snapshot.signals,
                                  config.cost_per_signal.target_usd, "USD"))
        return tuple(usage)

    # --- internals ------------------------------------------------------------------------------

    def _state_refusal(self, request: Request, snapshot: TradingSnapshot) -> Refusal | None:
        if self.state is RiskState.HALTED:
            return Refusal(guard=ENGINE, code="HALTED", detail=self._status.reason, client_order_id=request_id(request))
        if self.state is RiskState.REDUCING and not is_reducing(request, snapshot):
            return Refusal(guard=ENGINE, code="REDUCING", client_order_id=request_id(request),
                           detail=f"only orders that reduce exposure pass; {self._status.reason}")
        return None

    def _sanity(self, request: Request, snapshot: TradingSnapshot) -> Refusal | None:
        """What every order must be before any guard can judge it."""
        rid = request_id(request)
        for order in request_orders(request):
            if self.config.instrument(order.instrument) is None:
                return Refusal(guard=ENGINE, code="UNKNOWN_INSTRUMENT", client_order_id=rid,
                               detail=f"{order.instrument} has no contract specification in the risk config "
                                      f"(instruments: {', '.join(sorted(self.config.instruments))})")
            prices = [p for p in (order.limit_price, order.stop_price) if p is not None]
            if any(not math.isfinite(p) for p in prices):
                return Refusal(guard=ENGINE, code="BAD_PRICE", client_order_id=rid,
                               detail=f"{order.client_order_id} has a non-finite price")
        if isinstance(request, Bracket):
            entry, stop, target = request.orders
            if len({entry.instrument, stop.instrument, target.instrument}) != 1:
                return Refusal(guard=ENGINE, code="BAD_BRACKET", client_order_id=rid,
                               detail="entry, stop and target must be in one instrument")
            if stop.order_type is not OrderType.STOP or stop.quantity != entry.quantity \
                    or target.quantity != entry.quantity:
                return Refusal(guard=ENGINE, code="BAD_BRACKET", client_order_id=rid,
                               detail="the stop leg must be a stop order and every leg the entry's quantity")
            if entry.order_type is OrderType.MARKET and not math.isfinite(
                    float(snapshot.marks.get(entry.instrument, math.nan))):
                return Refusal(guard=ENGINE, code="NO_MARK", client_order_id=rid,
                               detail=f"no price for {entry.instrument}: a market entry's risk cannot be known")
        return None

    def _post(self, hook: Callable[[Guard], Demand | None], snapshot: TradingSnapshot) -> RiskUpdate:
        self.refresh()
        self._new_trading_day(snapshot.now)
        previous = self.state
        demands = tuple(d for d in (hook(guard) for guard in self.guards) if d is not None)
        if demands:
            worst = max(demands, key=lambda d: d.state.severity)
            if worst.state.severity > previous.severity:
                self._escalate(worst, snapshot.now)
        return RiskUpdate(state=self.state, previous=previous, demands=demands,
                          actions=self.required_actions(snapshot))

    def trading_day(self, at: pd.Timestamp) -> date:
        """The trading day of `at`: its date in the exchange's clock (`trading_window.timezone`)."""
        return pd.Timestamp(at).tz_convert(self.config.trading_window.timezone).date()

    def _new_trading_day(self, now: pd.Timestamp) -> None:
        """A REDUCING that a daily guard demanded (today's loss) lapses when the next trading day
        starts: back to ACTIVE, recorded (`NEW_TRADING_DAY`). A person's REDUCING and any HALT stay
        until a person resumes."""
        status = self._status
        daily = {g.name for g in self.guards if g.resets_daily}
        if status.state is not RiskState.REDUCING or status.guard not in daily or status.changed_at is None:
            return
        since, today = self.trading_day(status.changed_at), self.trading_day(now)
        if today <= since:
            return
        message = (f"NEW_TRADING_DAY: {status.guard}'s REDUCING of {since.isoformat()} ({status.code}) lapses "
                   f"on {today.isoformat()}")
        lifted = RiskStatus(state=RiskState.ACTIVE, reason=message, guard=status.guard, code="NEW_TRADING_DAY",
                            changed_by=ENGINE, changed_at=now)
        self._status = self.store.record(
            RiskEvent(at=now, kind=EventKind.STATE_CHANGE, guard=status.guard, code="NEW_TRADING_DAY",
                      message=message, state_from=RiskState.REDUCING, state_to=RiskState.ACTIVE, by=ENGINE),
            lifted, only_from=status)
        if self._status.state is RiskState.ACTIVE:
            log.warning("risk: REDUCING -> ACTIVE: %s", message)

    def _escalate(self, demand: Demand, now: pd.Timestamp, *, by: str = "") -> None:
        previous = self.state
        by = by or f"guard:{demand.guard}"
        status = RiskStatus(state=demand.state, reason=demand.message, guard=demand.guard, code=demand.code,
                            changed_by=by, changed_at=now)
        event = RiskEvent(at=now, kind=EventKind.STATE_CHANGE, guard=demand.guard, code=demand.code,
                          message=demand.message, figures=demand.figures, state_from=previous,
                          state_to=demand.state, by=by)
        self._status = self.store.record(event, status, escalate_only=True)
        log.warning("risk: %s -> %s by %s: %s", previous.value, self.state.value, demand.guard, demand.message)

    def _control(self, state: RiskState, code: str, *, by: str, reason: str, now: pd.Timestamp,
                 snapshot: TradingSnapshot | None) -> RiskUpdate:
        if not by.strip():
            raise RiskControlError(f"{code.lower()} refused: who acts must be named (by=...)")
        self.refresh()
        previous = self.state
        demand = Demand(state=state, guard=PERSON, code=code, detail=f"{by}: {reason}" if reason else by)
        if state.severity > previous.severity:
            self._escalate(demand, now, by=by)
        actions = self.required_actions(snapshot) if snapshot is not None else ()
        return RiskUpdate(state=self.state, previous=previous, demands=(demand,), actions=actions)

    def _record_refusal(self, refusal: Refusal, now: pd.Timestamp) -> None:
        self.store.record(RiskEvent(at=now, kind=EventKind.REFUSAL, guard=refusal.guard, code=refusal.code,
                                    message=refusal.message, figures=refusal.figures,
                                    client_order_id=refusal.client_order_id))
        log.info("risk: refused %s: %s", refusal.client_order_id or "request", refusal.message)


def _describe(request: Request) -> str:
    if isinstance(request, Bracket):
        entry, stop, target = request.orders
        price = entry.limit_price if entry.limit_price is not None else entry.stop_price
        return (f"bracket {entry.side.value} {entry.quantity} {entry.instrument} {entry.order_type.value}"
                + (f" at {price}" if price is not None else "")
                + f", stop {stop.stop_price}, target {target.limit_price}")
    order: Order = request
    return f"{order.purpose.value} {order.side.value} {order.quantity} {order.instrument} {order.order_type.value}"
