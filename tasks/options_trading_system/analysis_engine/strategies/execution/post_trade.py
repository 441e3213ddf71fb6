"""Post-trade risk: the broker's fills and the price now through the risk engine, and its demands.

The risk engine never talks to a broker (`guards/risk_engine.py`); every orchestrator that trades
at one asks it the same way after each step, so the daily-loss halt and its flatten work alike
through every entry point: `fill_checks` (each fill the broker reported since the last call),
then `price_check` (the mark, or every guard's rule without one), and the caller carries out what
they demand: the flatten first (closing a position cancels its bracket legs), then
`cancel_orders`.
"""
from __future__ import annotations

from typing import Sequence

from ..guards import CancelOrders, FlattenPositions, RiskEngine
from ..guards.base import TradingSnapshot
from ..guards.risk_engine import Action
from .broker import Broker, cancel_each
from .orders import EventKind


def fill_checks(risk: RiskEngine, broker: Broker, snapshot: TradingSnapshot) -> tuple[list[Action], bool]:
    """Drain the broker's events and pass each fill to the risk engine (`on_fill`, `snapshot`
    already holding it); the actions demanded, and True when the broker's session resynced
    (reconcile again before trading)."""
    actions: list[Action] = []
    resynced = False
    for item in broker.events():
        if item.kind is EventKind.FILL and item.fill is not None:
            actions.extend(risk.on_fill(item.fill, snapshot).actions)
        elif item.kind is EventKind.CONNECTION and "sync" in item.note.lower():
            resynced = True
    return actions, resynced


def price_check(risk: RiskEngine, instrument: str, snapshot: TradingSnapshot) -> tuple[Action, ...]:
    """The mark of `instrument` in `snapshot` through the risk engine (`on_price`); without a mark,
    every guard's post-trade rule (`evaluate`). The actions demanded."""
    mark = snapshot.marks.get(instrument)
    update = risk.on_price(instrument, mark, snapshot) if mark is not None else risk.evaluate(snapshot)
    return update.actions


def flatten_reason(actions: Sequence[Action]) -> str | None:
    """Why the actions demand a flatten, None when they do not."""
    return next((a.reason for a in actions if isinstance(a, FlattenPositions)), None)


def cancel_orders(broker: Broker, actions: Sequence[Action]) -> None:
    """Cancel every order the actions name (`broker.cancel_each`: a refusal is logged, the rest go on)."""
    for action in (a for a in actions if isinstance(a, CancelOrders)):
        cancel_each(broker, action.client_order_ids)
