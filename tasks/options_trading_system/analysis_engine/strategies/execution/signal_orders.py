"""The orders a signal becomes: one protected bracket, with client order ids derived from the
signal id, so a resend after a timeout or a restart names the same orders and never doubles."""
from __future__ import annotations

from .orders import Bracket, Order, OrderType, Purpose, Side


def signal_bracket(signal_id: str, *, instrument: str, side: Side | str, quantity: int, stop: float,
                   target: float) -> Bracket:
    """Market entry `<signal>/entry`, protective stop `<signal>/stop` at `stop`, profit target
    `<signal>/target` (a limit) at `target`; stop and target on the opposite side of the entry."""
    side = Side(side)
    exit_side = side.opposite

    def leg(kind: str, purpose: Purpose, order_side: Side, order_type: OrderType, **prices: float) -> Order:
        return Order(client_order_id=f"{signal_id}/{kind}", signal_id=signal_id, instrument=instrument,
                     side=order_side, quantity=quantity, order_type=order_type, purpose=purpose, **prices)

    return Bracket(entry=leg("entry", Purpose.ENTRY, side, OrderType.MARKET),
                   stop=leg("stop", Purpose.STOP, exit_side, OrderType.STOP, stop_price=float(stop)),
                   target=leg("target", Purpose.TARGET, exit_side, OrderType.LIMIT, limit_price=float(target)))
