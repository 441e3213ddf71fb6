"""The engine's event and anomaly counters: one int64 array the kernels increment by index.

Anomalies (cancels of unknown orders, oversize cancels, crossed books at F_LAST...) are counted,
never fatal: a real feed has them, and a trader needs their number, not a crash.
"""
from __future__ import annotations

import numpy as np

EVENTS = 0
ADDS = 1
CANCELS = 2
MODIFIES = 3
TRADES = 4
FILLS = 5
CLEARS = 6
NONE_ACTIONS = 7
SNAPSHOT_RECORDS = 8
PACKETS = 9                 # records with F_LAST
BOOK_CHECKS = 10            # instrument books checked at F_LAST
CROSSED_AT_LAST = 11        # of those, best bid >= best ask
CANCEL_UNKNOWN = 12         # cancel for an order not in the book
MODIFY_UNKNOWN = 13         # modify for an order not in the book (applied as an add)
DUPLICATE_ADD = 14          # add for an order id already resting (the old one is replaced)
CANCEL_OVERSIZE = 15        # cancel of more than the order's resting size (clamped)
BAD_SIDE = 16               # add/modify without a B or A side (ignored)
BAD_PRICE = 17              # add/modify with UNDEF_PRICE (ignored)
UNKNOWN_ACTION = 18
TRADE_SIDE_NONE = 19        # trades with no aggressor side (volume kept apart)
LATE_TRADES = 20            # trades older than the contract's current slice (counted in it)
UNDEFINED_TRADES = 21       # trades of instruments with no usable option definition
EVALUATIONS = 22            # windows scored
SIGNALS = 23
MM_DISCOUNTED = 24          # scored windows discounted as market making
COOLDOWN_SUPPRESSED = 25    # windows above threshold inside a signal's cooldown
SIDE_CHANGE_MODIFY = 26     # modify that moved an order to the other side
ZERO_SIZE_ADD = 27          # add with size 0 (ignored)

NAMES: tuple[str, ...] = (
    "events", "adds", "cancels", "modifies", "trades", "fills", "clears", "none_actions",
    "snapshot_records", "packets", "book_checks", "crossed_at_last", "cancel_unknown_order",
    "modify_unknown_order", "duplicate_add", "cancel_oversize", "bad_side", "bad_price",
    "unknown_action", "trade_side_none", "late_trades", "undefined_instrument_trades",
    "evaluations", "signals", "market_making_discounted", "cooldown_suppressed",
    "modify_side_change", "zero_size_add",
)
ANOMALIES: tuple[str, ...] = (
    "crossed_at_last", "cancel_unknown_order", "modify_unknown_order", "duplicate_add",
    "cancel_oversize", "bad_side", "bad_price", "unknown_action", "late_trades",
    "modify_side_change", "zero_size_add",
)


def new_counters() -> np.ndarray:
    return np.zeros(len(NAMES), dtype=np.int64)


def as_dict(counters: np.ndarray) -> dict[str, int]:
    return {name: int(counters[i]) for i, name in enumerate(NAMES)}
