"""Reconciling a run's ledger with its broker: what to adopt, what closed while we were away, what halts.

Pure: given what the ledger holds and what the broker reports, it says what to do; the
orchestrator reads both sides and carries it out (`ShadowTradingOrchestrator.reconcile`).

Every order this system sends carries a client order id derived from its signal
(`<signal>/entry`, `/stop`, `/target`), and the broker keeps it (Tradovate: on the order's
`command/list` record). So after a crash or a SIGKILL anywhere between the broker taking a bracket
and the ledger committing it, the broker's records name the signal they belong to:

- **adopt**: a signal the ledger knows, with no position in the ledger, whose bracket the broker
  holds. Its entry filled: the ledger records the entry (order, fill, commission, position) from
  the broker's fill, marked ADOPTED. Its entry still works unfilled: the orchestrator cancels it
  (the signal's moment has passed) and records that;
- **closed at the broker**: a ledger position whose stop or target leg has a fill at the broker
  that the ledger has not recorded yet (it filled while we were down): expected flat at the broker;
  its exit is recorded when the run's clock reaches the fill;
- **liquidated**: a ledger position flat at the broker through a liquidation (a flatten or the
  session end carried out by the broker, whose orders carry no client order id of ours) after its
  entry, that the ledger has not recorded: the orchestrator records the exit at that fill;
- **halt**: anything else that differs: the net position, a position without its working stop,
  a working order whose client order id belongs to no signal of this run (placed by hand or by
  another program), or one left working for a position already closed. The message names it.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import pandas as pd

from .orders import Fill, OrderState, Position

LEGS = ("entry", "stop", "target")
EXIT_LEGS = ("stop", "target")


def signal_leg(client_order_id: str) -> tuple[str, str] | None:
    """(signal id, leg) of a client order id this system made (`<signal>/<leg>`), else None."""
    signal_id, _, leg = client_order_id.rpartition("/")
    return (signal_id, leg) if signal_id and leg in LEGS else None


@dataclass(frozen=True)
class HeldPosition:
    """An open position as the ledger has it."""

    signal_id: str
    quantity: int            # signed: long > 0, short < 0
    entry_time: pd.Timestamp | None = None


@dataclass(frozen=True)
class Adoption:
    """A bracket of one of our signals found at the broker but not in the ledger."""

    signal_id: str
    entry: Fill | None               # the entry's execution (partial fills summed, price averaged)
    entry_working: OrderState | None  # the entry still working unfilled (to be cancelled)
    exit: Fill | None                # a stop or target leg that filled as well

    @property
    def holds(self) -> bool:
        """True when the broker still holds the position this bracket opened."""
        return self.entry is not None and self.exit is None


@dataclass(frozen=True)
class Reconciliation:
    adoptions: tuple[Adoption, ...]
    closed_at_broker: tuple[str, ...]   # signal ids of ledger positions whose exit leg filled at the broker
    liquidated: tuple[tuple[str, Fill], ...]   # (signal id, the liquidation fill that closed it)
    problems: tuple[str, ...]
    broker_net: int
    working: int

    @property
    def agrees(self) -> bool:
        return not self.problems


def reconcile_books(held: Sequence[HeldPosition], signals: Iterable[str], unentered: Iterable[str],
                    positions: Sequence[Position], working: Sequence[OrderState],
                    fills: Sequence[Fill]) -> Reconciliation:
    """Compare the ledger (`held` positions; `signals`: every signal id of the run; `unentered`:
    those without a position) with the broker's positions, working orders and fills."""
    known = set(signals)
    fills_of: dict[tuple[str, str], list[Fill]] = defaultdict(list)
    for fill in fills:
        leg = signal_leg(fill.client_order_id)
        if leg is not None and leg[0] in known:
            fills_of[leg].append(fill)
    working_by = {o.client_order_id: o for o in working}
    adoptions = []
    for signal_id in sorted(set(unentered) & known):
        entry = merged_fill(fills_of.get((signal_id, "entry"), []))
        entry_working = working_by.get(f"{signal_id}/entry")
        if entry is None and entry_working is None:
            continue
        adoptions.append(Adoption(signal_id=signal_id, entry=entry, entry_working=entry_working,
                                  exit=_first_exit(fills_of, signal_id) if entry is not None else None))
    closed = tuple(sorted(p.signal_id for p in held if _first_exit(fills_of, p.signal_id) is not None))
    liquidated = _liquidations([p for p in held if p.signal_id not in closed], fills,
                               broker_net=int(sum(p.quantity for p in positions)))
    gone = set(closed) | {signal_id for signal_id, _ in liquidated}
    open_held = [p for p in held if p.signal_id not in gone]
    expected = sum(p.quantity for p in open_held) + sum(a.entry.side.sign * a.entry.quantity
                                                        for a in adoptions if a.holds and a.entry is not None)
    broker_net = int(sum(p.quantity for p in positions))
    problems = []
    if expected != broker_net:
        held_text = ", ".join(f"{p.instrument} {p.quantity:+d}" for p in positions if p.quantity) or "flat"
        problems.append(f"net position: ledger {expected:+d}, broker {broker_net:+d} ({held_text})")
    protected = [p.signal_id for p in open_held] + [a.signal_id for a in adoptions if a.holds]
    for signal_id in protected:
        if f"{signal_id}/stop" not in working_by:
            problems.append(f"position of {signal_id} has no working stop at the broker")
    accounted = set(protected) | {a.signal_id for a in adoptions if not a.holds and a.entry is None}
    for client_order_id, order in sorted(working_by.items()):
        leg = signal_leg(client_order_id)
        where = f"{client_order_id} (broker order {order.broker_order_id or '?'}, {order.status.value})"
        if leg is None or leg[0] not in known:
            problems.append(f"unknown order at the broker, not placed by this run: {where}")
        elif leg[0] not in accounted:
            problems.append(f"working at the broker for a signal with no open position in the ledger: {where}")
    return Reconciliation(adoptions=tuple(adoptions), closed_at_broker=closed, liquidated=liquidated,
                          problems=tuple(problems),
                          broker_net=broker_net, working=len(working_by))


def _liquidations(held: Sequence[HeldPosition], fills: Sequence[Fill], *,
                  broker_net: int) -> tuple[tuple[str, Fill], ...]:
    """Held positions the broker closed by liquidation: only when the ledger's net is off from the
    broker's by exactly what unclaimed liquidation fills (no client order id of ours, after the
    position's entry, on its closing side) account for, each fill matched to a position in entry
    order."""
    ledger_net = sum(p.quantity for p in held)
    if ledger_net == broker_net:
        return ()
    matched: list[tuple[str, Fill]] = []
    pool = sorted((f for f in fills if signal_leg(f.client_order_id) is None), key=lambda f: f.time)
    left = {id(f): f.quantity for f in pool}
    for position in sorted(held, key=lambda p: (p.entry_time is None, p.entry_time)):
        for fill in pool:
            closing = fill.side.sign == -1 * (1 if position.quantity > 0 else -1)
            after = position.entry_time is None or fill.time >= position.entry_time
            if closing and after and left[id(fill)] >= abs(position.quantity):
                left[id(fill)] -= abs(position.quantity)
                matched.append((position.signal_id, fill))
                break
    closed = {signal_id for signal_id, _ in matched}
    closed_net = sum(p.quantity for p in held if p.signal_id in closed)
    return tuple(matched) if ledger_net - closed_net == broker_net else ()


def _first_exit(fills_of: Mapping[tuple[str, str], list[Fill]], signal_id: str) -> Fill | None:
    exits = [f for leg in EXIT_LEGS for f in fills_of.get((signal_id, leg), [])]
    return min(exits, key=lambda f: f.time) if exits else None


def merged_fill(fills: Sequence[Fill]) -> Fill | None:
    """One fill for an order that filled in parts: quantities summed, price quantity-weighted."""
    if not fills:
        return None
    ordered = sorted(fills, key=lambda f: f.time)
    quantity = sum(f.quantity for f in ordered)
    first = ordered[0]
    return Fill(fill_id=first.fill_id, client_order_id=first.client_order_id, instrument=first.instrument,
                side=first.side, quantity=quantity, price=sum(f.price * f.quantity for f in ordered) / quantity,
                time=ordered[-1].time, commission_usd=sum(f.commission_usd for f in ordered),
                broker_order_id=first.broker_order_id)
