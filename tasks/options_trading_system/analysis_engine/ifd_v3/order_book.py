"""Market-by-order books for every instrument of a feed, in arrays a numba kernel updates.

`book_apply` applies one MBO event: add, cancel (removes the cancelled size), modify (new price
and/or size; an unknown order is added), clear (R); trades and fills leave the book alone (CME
sends the resulting cancel/modify). Orders sit in a pool indexed by (order id, instrument);
sizes aggregate into price levels; each instrument side keeps a linked list of its non-empty
levels and its best level, rescanned only when the best level empties. Anomalies are counted in
`counters`, never raised.

`OrderBook` owns the arrays, grows them when the kernel asks (status NEED_ORDERS/NEED_LEVELS
before the event is touched, so it can be re-applied), and reads them back as tables.
"""
from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np
import pandas as pd

from . import counters as C
from . import hash_index
from ...data_ingestion.mbo.events import ACTION_ADD, ACTION_CANCEL, ACTION_CLEAR, ACTION_FILL, ACTION_MODIFY, ACTION_NONE, \
    ACTION_TRADE, PRICE_UNIT, SIDE_ASK, SIDE_BID, UNDEF_PRICE
from .jit import kernel, kernel_inline

BID = 0
ASK = 1
NO_SLOT = -1
FREE_KEY = np.uint64(np.iinfo(np.uint64).max)

OK = 0
NEED_ORDERS = 1
NEED_LEVELS = 2

# scalars kept in BookState.sizes
N_FREE = 0       # entries on the free-order stack
N_ORDERS = 1     # resting orders
N_LEVELS = 2     # level slots ever used (levels persist once created)


class BookState(NamedTuple):
    """All book arrays. o_* = order pool, l_* = level pool, per-instrument arrays are [inst, side]."""

    order_index: np.ndarray   # int32[H]   hash index of the order pool
    o_oid: np.ndarray         # uint64[P]  order id (key a)
    o_ikey: np.ndarray        # uint64[P]  instrument index (key b); FREE_KEY when the slot is free
    o_side: np.ndarray        # int8[P]
    o_price: np.ndarray       # int64[P]
    o_size: np.ndarray        # int64[P]
    o_level: np.ndarray       # int32[P]
    o_free: np.ndarray        # int32[P]   stack of free slots
    level_index: np.ndarray   # int32[HL]
    l_price: np.ndarray       # uint64[L]  price bits (key a)
    l_key: np.ndarray         # uint64[L]  inst * 2 + side (key b)
    l_size: np.ndarray        # int64[L]
    l_count: np.ndarray       # int64[L]
    l_prev: np.ndarray        # int32[L]
    l_next: np.ndarray        # int32[L]
    best: np.ndarray          # int32[I, 2] best level or -1
    head: np.ndarray          # int32[I, 2] first non-empty level or -1
    resting: np.ndarray       # int64[I, 2] resting size
    n_levels: np.ndarray      # int64[I, 2] non-empty levels
    n_orders: np.ndarray      # int64[I, 2] resting orders
    sizes: np.ndarray         # int64[3]   N_FREE, N_ORDERS, N_LEVELS


def new_book_state(orders: int, levels: int, instruments: int) -> BookState:
    orders, levels = _pow2(orders), _pow2(levels)
    return BookState(
        order_index=np.full(2 * orders, NO_SLOT, np.int32),
        o_oid=np.zeros(orders, np.uint64), o_ikey=np.full(orders, FREE_KEY, np.uint64),
        o_side=np.zeros(orders, np.int8), o_price=np.zeros(orders, np.int64),
        o_size=np.zeros(orders, np.int64), o_level=np.full(orders, NO_SLOT, np.int32),
        o_free=np.arange(orders - 1, -1, -1, dtype=np.int32),
        level_index=np.full(2 * levels, NO_SLOT, np.int32),
        l_price=np.zeros(levels, np.uint64), l_key=np.full(levels, FREE_KEY, np.uint64),
        l_size=np.zeros(levels, np.int64), l_count=np.zeros(levels, np.int64),
        l_prev=np.full(levels, NO_SLOT, np.int32), l_next=np.full(levels, NO_SLOT, np.int32),
        best=np.full((instruments, 2), NO_SLOT, np.int32), head=np.full((instruments, 2), NO_SLOT, np.int32),
        resting=np.zeros((instruments, 2), np.int64), n_levels=np.zeros((instruments, 2), np.int64),
        n_orders=np.zeros((instruments, 2), np.int64),
        sizes=np.array([orders, 0, 0], np.int64),
    )


def _pow2(n: int) -> int:
    return 1 << max(4, int(n - 1).bit_length())


# --- kernel functions -----------------------------------------------------------------------

@kernel_inline
def _better(price_a: np.int64, price_b: np.int64, side: int) -> bool:
    return price_a > price_b if side == BID else price_a < price_b


@kernel_inline
def level_price(b: BookState, level: int) -> np.int64:
    return np.int64(b.l_price[level])


@kernel
def _level_for(b: BookState, inst: int, side: int, price: np.int64) -> int:
    """The level slot of (inst, side, price), created empty if new (capacity checked by caller)."""
    key = np.uint64(inst * 2 + side)
    bits = np.uint64(price)
    pos = hash_index.find(b.level_index, b.l_price, b.l_key, bits, key)
    if pos >= 0:
        return b.level_index[pos]
    slot = b.sizes[N_LEVELS]
    b.sizes[N_LEVELS] += 1
    b.l_price[slot] = bits
    b.l_key[slot] = key
    b.l_size[slot] = 0
    b.l_count[slot] = 0
    b.l_prev[slot] = NO_SLOT
    b.l_next[slot] = NO_SLOT
    hash_index.insert(b.level_index, b.l_price, b.l_key, slot)
    return slot


@kernel
def _activate(b: BookState, level: int, inst: int, side: int) -> None:
    first = b.head[inst, side]
    b.l_prev[level] = NO_SLOT
    b.l_next[level] = first
    if first != NO_SLOT:
        b.l_prev[first] = level
    b.head[inst, side] = level
    b.n_levels[inst, side] += 1
    top = b.best[inst, side]
    if top == NO_SLOT or _better(level_price(b, level), level_price(b, top), side):
        b.best[inst, side] = level


@kernel
def _deactivate(b: BookState, level: int, inst: int, side: int) -> None:
    prev, nxt = b.l_prev[level], b.l_next[level]
    if prev != NO_SLOT:
        b.l_next[prev] = nxt
    else:
        b.head[inst, side] = nxt
    if nxt != NO_SLOT:
        b.l_prev[nxt] = prev
    b.l_prev[level] = NO_SLOT
    b.l_next[level] = NO_SLOT
    b.n_levels[inst, side] -= 1
    if b.best[inst, side] == level:
        top = NO_SLOT
        cur = b.head[inst, side]
        while cur != NO_SLOT:
            if top == NO_SLOT or _better(level_price(b, cur), level_price(b, top), side):
                top = cur
            cur = b.l_next[cur]
        b.best[inst, side] = top


@kernel
def _rest(b: BookState, slot: int, inst: int, side: int, price: np.int64, size: np.int64) -> None:
    """Put order `slot` (keys already set) at (side, price, size)."""
    level = _level_for(b, inst, side, price)
    b.o_side[slot] = side
    b.o_price[slot] = price
    b.o_size[slot] = size
    b.o_level[slot] = level
    b.l_size[level] += size
    b.l_count[level] += 1
    if b.l_count[level] == 1:
        _activate(b, level, inst, side)
    b.resting[inst, side] += size
    b.n_orders[inst, side] += 1


@kernel
def _unrest(b: BookState, slot: int, inst: int) -> None:
    """Take order `slot` off its level (the slot itself stays allocated)."""
    side = np.int64(b.o_side[slot])
    level = b.o_level[slot]
    size = b.o_size[slot]
    b.l_size[level] -= size
    b.l_count[level] -= 1
    if b.l_count[level] == 0:
        _deactivate(b, level, inst, side)
    b.resting[inst, side] -= size
    b.n_orders[inst, side] -= 1
    b.o_level[slot] = NO_SLOT


@kernel
def _new_order(b: BookState, inst: int, oid: np.uint64) -> int:
    b.sizes[N_FREE] -= 1
    slot = b.o_free[b.sizes[N_FREE]]
    b.o_oid[slot] = oid
    b.o_ikey[slot] = np.uint64(inst)
    hash_index.insert(b.order_index, b.o_oid, b.o_ikey, slot)
    b.sizes[N_ORDERS] += 1
    return slot


@kernel
def _free_order(b: BookState, pos: int) -> None:
    slot = b.order_index[pos]
    hash_index.remove_at(b.order_index, b.o_oid, b.o_ikey, pos)
    b.o_ikey[slot] = FREE_KEY
    b.o_free[b.sizes[N_FREE]] = slot
    b.sizes[N_FREE] += 1
    b.sizes[N_ORDERS] -= 1


@kernel
def has_room(b: BookState) -> int:
    """OK when one more order and one more level fit, else which table must grow."""
    if b.sizes[N_FREE] == 0 or 2 * (b.sizes[N_ORDERS] + 1) > b.order_index.shape[0]:
        return NEED_ORDERS
    if b.sizes[N_LEVELS] + 1 > b.l_size.shape[0] or 2 * (b.sizes[N_LEVELS] + 1) > b.level_index.shape[0]:
        return NEED_LEVELS
    return OK


@kernel
def clear_instrument(b: BookState, inst: int) -> None:
    """R: every order of `inst` leaves the book (a snapshot or a reset follows)."""
    key = np.uint64(inst)
    for slot in range(b.o_ikey.shape[0]):
        if b.o_ikey[slot] == key:
            pos = hash_index.find(b.order_index, b.o_oid, b.o_ikey, b.o_oid[slot], key)
            _free_order(b, pos)
            b.o_level[slot] = NO_SLOT
    for side in range(2):
        cur = b.head[inst, side]
        while cur != NO_SLOT:
            nxt = b.l_next[cur]
            b.l_size[cur] = 0
            b.l_count[cur] = 0
            b.l_prev[cur] = NO_SLOT
            b.l_next[cur] = NO_SLOT
            cur = nxt
        b.head[inst, side] = NO_SLOT
        b.best[inst, side] = NO_SLOT
        b.resting[inst, side] = 0
        b.n_levels[inst, side] = 0
        b.n_orders[inst, side] = 0


@kernel
def book_apply(b: BookState, inst: int, action: int, side_code: int, oid: np.uint64, price: np.int64,
               size: np.int64, counters: np.ndarray) -> int:
    """Apply one event to the book. Returns OK, or NEED_ORDERS/NEED_LEVELS before touching
    anything when a table is full (grow it and apply the same event again)."""
    if action == ACTION_ADD or action == ACTION_MODIFY:
        room = has_room(b)
        if room != OK:
            return room
    key = np.uint64(inst)
    if action == ACTION_ADD:
        counters[C.ADDS] += 1
        if side_code != SIDE_BID and side_code != SIDE_ASK:
            counters[C.BAD_SIDE] += 1
            return OK
        if price == UNDEF_PRICE:
            counters[C.BAD_PRICE] += 1
            return OK
        if size <= 0:
            counters[C.ZERO_SIZE_ADD] += 1
            return OK
        side = BID if side_code == SIDE_BID else ASK
        pos = hash_index.find(b.order_index, b.o_oid, b.o_ikey, oid, key)
        if pos >= 0:
            counters[C.DUPLICATE_ADD] += 1
            slot = b.order_index[pos]
            _unrest(b, slot, inst)
            _rest(b, slot, inst, side, price, size)
            return OK
        slot = _new_order(b, inst, oid)
        _rest(b, slot, inst, side, price, size)
    elif action == ACTION_CANCEL:
        counters[C.CANCELS] += 1
        pos = hash_index.find(b.order_index, b.o_oid, b.o_ikey, oid, key)
        if pos < 0:
            counters[C.CANCEL_UNKNOWN] += 1
            return OK
        slot = b.order_index[pos]
        remaining = b.o_size[slot] - size
        if remaining < 0:
            counters[C.CANCEL_OVERSIZE] += 1
        if remaining <= 0:
            _unrest(b, slot, inst)
            _free_order(b, pos)
        else:
            level = b.o_level[slot]
            side = np.int64(b.o_side[slot])
            b.o_size[slot] = remaining
            b.l_size[level] -= size
            b.resting[inst, side] -= size
    elif action == ACTION_MODIFY:
        counters[C.MODIFIES] += 1
        if side_code != SIDE_BID and side_code != SIDE_ASK:
            counters[C.BAD_SIDE] += 1
            return OK
        if price == UNDEF_PRICE:
            counters[C.BAD_PRICE] += 1
            return OK
        side = BID if side_code == SIDE_BID else ASK
        pos = hash_index.find(b.order_index, b.o_oid, b.o_ikey, oid, key)
        if pos < 0:
            counters[C.MODIFY_UNKNOWN] += 1
            if size > 0:
                slot = _new_order(b, inst, oid)
                _rest(b, slot, inst, side, price, size)
            return OK
        slot = b.order_index[pos]
        if size <= 0:
            _unrest(b, slot, inst)
            _free_order(b, pos)
            return OK
        if np.int64(b.o_side[slot]) != side:
            counters[C.SIDE_CHANGE_MODIFY] += 1
        if np.int64(b.o_side[slot]) != side or b.o_price[slot] != price:
            _unrest(b, slot, inst)
            _rest(b, slot, inst, side, price, size)
        else:
            delta = size - b.o_size[slot]
            b.o_size[slot] = size
            b.l_size[b.o_level[slot]] += delta
            b.resting[inst, side] += delta
    elif action == ACTION_CLEAR:
        counters[C.CLEARS] += 1
        clear_instrument(b, inst)
    elif action == ACTION_TRADE:
        counters[C.TRADES] += 1
    elif action == ACTION_FILL:
        counters[C.FILLS] += 1
    elif action == ACTION_NONE:
        counters[C.NONE_ACTIONS] += 1
    else:
        counters[C.UNKNOWN_ACTION] += 1
    return OK


@kernel
def best_quote(b: BookState, inst: int, side: int) -> tuple[np.int64, np.int64]:
    """(price, size) of the best level, or (UNDEF_PRICE, 0) when the side is empty."""
    level = b.best[inst, side]
    if level == NO_SLOT:
        return np.int64(UNDEF_PRICE), np.int64(0)
    return level_price(b, level), b.l_size[level]


@nb.njit(cache=True)
def _rehash_orders(b: BookState) -> None:
    used = b.o_ikey != FREE_KEY
    hash_index.rebuild(b.order_index, b.o_oid, b.o_ikey, used)


@nb.njit(cache=True)
def _rehash_levels(b: BookState) -> None:
    used = b.l_key != FREE_KEY
    hash_index.rebuild(b.level_index, b.l_price, b.l_key, used)


@kernel
def apply_events(b: BookState, inst: np.ndarray, action: np.ndarray, side: np.ndarray, oid: np.ndarray,
                 price: np.ndarray, size: np.ndarray, start: int, counters: np.ndarray) -> tuple[int, int]:
    """Book-only loop (no flow, no scoring): for tools and tests that need just the book.
    Returns (next event index, status)."""
    for i in range(start, inst.shape[0]):
        status = book_apply(b, inst[i], action[i], side[i], oid[i], price[i], size[i], counters)
        if status != OK:
            return i, status
    return inst.shape[0], OK


# --- Python side: growth and read-back -----------------------------------------------------

class OrderBook:
    """The arrays of every instrument's book, with growth and table views."""

    def __init__(self, *, orders: int = 65536, levels: int = 16384, instruments: int = 1024) -> None:
        self.state = new_book_state(orders, levels, instruments)
        self.counters = C.new_counters()

    @property
    def n_instruments(self) -> int:
        return self.state.best.shape[0]

    def grow(self, status: int) -> None:
        """Double the table the kernel reported full."""
        if status == NEED_ORDERS:
            self.state = _grown_orders(self.state)
        elif status == NEED_LEVELS:
            self.state = _grown_levels(self.state)

    def ensure_instruments(self, n: int) -> None:
        if n > self.n_instruments:
            self.state = _grown_instruments(self.state, max(n, 2 * self.n_instruments))

    def apply(self, inst: np.ndarray, action: np.ndarray, side: np.ndarray, oid: np.ndarray,
              price: np.ndarray, size: np.ndarray) -> None:
        """Apply a batch of events (book only), growing tables as needed."""
        self.ensure_instruments(int(inst.max()) + 1 if len(inst) else 0)
        start = 0
        while start < len(inst):
            start, status = apply_events(self.state, inst, action, side, oid, price, size, start, self.counters)
            self.grow(status)

    def top_of_book(self, instruments: np.ndarray | None = None) -> pd.DataFrame:
        """Best bid/ask (index points), their sizes, resting size and depth per side, per instrument index."""
        s = self.state
        idx = np.arange(self.n_instruments) if instruments is None else np.asarray(instruments, dtype=np.int64)
        out = {"inst": idx}
        for side, name in ((BID, "bid"), (ASK, "ask")):
            level = s.best[idx, side]
            has = level >= 0
            safe = np.where(has, level, 0)
            out[f"{name}_px"] = np.where(has, s.l_price[safe].view(np.int64) / PRICE_UNIT, np.nan)
            out[f"{name}_sz"] = np.where(has, s.l_size[safe], 0)
            out[f"{name}_resting"] = s.resting[idx, side]
            out[f"{name}_levels"] = s.n_levels[idx, side]
            out[f"{name}_orders"] = s.n_orders[idx, side]
        return pd.DataFrame(out)

    def resting_orders(self) -> pd.DataFrame:
        """Every resting order: instrument index, order id, side ('B'/'A'), price (points), size."""
        s = self.state
        used = s.o_ikey != FREE_KEY
        return pd.DataFrame({
            "inst": s.o_ikey[used].astype(np.int64),
            "order_id": s.o_oid[used],
            "side": np.where(s.o_side[used] == BID, "B", "A"),
            "price": s.o_price[used] / PRICE_UNIT,
            "price_raw": s.o_price[used],
            "size": s.o_size[used],
        })

    def depth(self, inst: int, side: str, n: int = 10) -> pd.DataFrame:
        """The best `n` levels of one side ('B' or 'A'): price (points), size, orders."""
        s = self.state
        side_i = BID if side == "B" else ASK
        levels = []
        cur = int(s.head[inst, side_i])
        while cur != NO_SLOT:
            levels.append(cur)
            cur = int(s.l_next[cur])
        arr = np.array(levels, dtype=np.int64)
        frame = pd.DataFrame({"price": s.l_price[arr].view(np.int64) / PRICE_UNIT if len(arr) else [],
                              "size": s.l_size[arr] if len(arr) else [],
                              "orders": s.l_count[arr] if len(arr) else []})
        return frame.sort_values("price", ascending=(side_i == ASK)).head(n).reset_index(drop=True)


def _grown_orders(s: BookState) -> BookState:
    old = s.o_oid.shape[0]
    new = old * 2
    free_slots = s.o_free[: s.sizes[N_FREE]]
    o_free = np.concatenate([np.arange(new - 1, old - 1, -1, dtype=np.int32), free_slots]).astype(np.int32)
    grown = s._replace(
        order_index=np.full(2 * new, NO_SLOT, np.int32),
        o_oid=_extend(s.o_oid, new, 0), o_ikey=_extend(s.o_ikey, new, FREE_KEY),
        o_side=_extend(s.o_side, new, 0), o_price=_extend(s.o_price, new, 0),
        o_size=_extend(s.o_size, new, 0), o_level=_extend(s.o_level, new, NO_SLOT),
        o_free=np.concatenate([o_free, np.zeros(new - len(o_free), np.int32)]),
        sizes=s.sizes.copy())
    grown.sizes[N_FREE] = len(o_free)
    _rehash_orders(grown)
    return grown


def _grown_levels(s: BookState) -> BookState:
    new = s.l_size.shape[0] * 2
    grown = s._replace(
        level_index=np.full(2 * new, NO_SLOT, np.int32),
        l_price=_extend(s.l_price, new, 0), l_key=_extend(s.l_key, new, FREE_KEY),
        l_size=_extend(s.l_size, new, 0), l_count=_extend(s.l_count, new, 0),
        l_prev=_extend(s.l_prev, new, NO_SLOT), l_next=_extend(s.l_next, new, NO_SLOT))
    _rehash_levels(grown)
    return grown


def _grown_instruments(s: BookState, n: int) -> BookState:
    return s._replace(best=_extend(s.best, n, NO_SLOT), head=_extend(s.head, n, NO_SLOT),
                      resting=_extend(s.resting, n, 0), n_levels=_extend(s.n_levels, n, 0),
                      n_orders=_extend(s.n_orders, n, 0))


def _extend(array: np.ndarray, n: int, fill: object) -> np.ndarray:
    """`array` grown along its first axis to `n` rows, new rows set to `fill`."""
    out = np.empty((n,) + array.shape[1:], dtype=array.dtype)
    out[: array.shape[0]] = array
    out[array.shape[0]:] = fill
    return out
