"""The MBO order book: every action on hand-made events, anomalies counted, tables growing, and
the real Databento recordings (ESH4, ESM4, the live ESZ4 session) checked after every F_LAST
against a straightforward recomputation from the resting orders."""
from __future__ import annotations

from pathlib import Path

import databento as db
import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.ifd_v3 import counters as C
from tasks.options_trading_system.analysis_engine.ifd_v3.config import CapacityConfig, IFDv3Config
from tasks.options_trading_system.analysis_engine.ifd_v3.engine import IFDv3Engine
from tasks.options_trading_system.data_ingestion.mbo.events import F_LAST
from tasks.options_trading_system.analysis_engine.ifd_v3.order_book import OrderBook

P = 1_000_000_000  # one index point in DBN fixed-point units


def apply(book: OrderBook, rows: list[tuple]) -> None:
    """rows: (inst, action, side, order_id, price in points, size)."""
    inst = np.array([r[0] for r in rows], np.int32)
    action = np.array([ord(r[1]) for r in rows], np.uint8)
    side = np.array([ord(r[2]) for r in rows], np.uint8)
    oid = np.array([r[3] for r in rows], np.uint64)
    price = np.array([int(round(r[4] * P)) for r in rows], np.int64)
    size = np.array([r[5] for r in rows], np.int64)
    book.apply(inst, action, side, oid, price, size)


def top(book: OrderBook, inst: int = 0) -> dict:
    return book.top_of_book().iloc[inst].to_dict()


def test_adds_set_best_bid_and_ask_with_size_and_depth() -> None:
    book = OrderBook(orders=16, levels=16, instruments=1)
    apply(book, [(0, "A", "B", 1, 100.00, 5), (0, "A", "B", 2, 100.25, 3), (0, "A", "B", 3, 100.25, 4),
                 (0, "A", "A", 4, 101.00, 7), (0, "A", "A", 5, 100.75, 2)])
    t = top(book)
    assert (t["bid_px"], t["bid_sz"], t["ask_px"], t["ask_sz"]) == (100.25, 7, 100.75, 2)
    assert (t["bid_resting"], t["ask_resting"], t["bid_levels"], t["ask_levels"]) == (12, 9, 2, 2)
    assert book.depth(0, "B").to_dict("list") == {"price": [100.25, 100.0], "size": [7, 5], "orders": [2, 1]}


def test_partial_cancel_reduces_the_order_and_full_cancel_moves_the_best_level() -> None:
    book = OrderBook(orders=16, levels=16, instruments=1)
    apply(book, [(0, "A", "B", 1, 100.00, 5), (0, "A", "B", 2, 100.25, 3), (0, "C", "B", 2, 100.25, 1)])
    assert (top(book)["bid_px"], top(book)["bid_sz"]) == (100.25, 2)
    apply(book, [(0, "C", "B", 2, 100.25, 2)])
    assert (top(book)["bid_px"], top(book)["bid_sz"], top(book)["bid_levels"]) == (100.0, 5, 1)


def test_modify_moves_price_or_changes_size_and_an_unknown_modify_is_an_add() -> None:
    book = OrderBook(orders=16, levels=16, instruments=1)
    apply(book, [(0, "A", "A", 1, 101.00, 5), (0, "M", "A", 1, 100.50, 5)])
    assert (top(book)["ask_px"], top(book)["ask_levels"]) == (100.5, 1)
    apply(book, [(0, "M", "A", 1, 100.50, 9)])
    assert (top(book)["ask_sz"], top(book)["ask_resting"]) == (9, 9)
    apply(book, [(0, "M", "B", 77, 99.75, 4)])
    assert (top(book)["bid_px"], top(book)["bid_sz"]) == (99.75, 4)
    assert book.counters[C.MODIFY_UNKNOWN] == 1


def test_trades_and_fills_leave_the_book_alone_and_clear_empties_one_instrument() -> None:
    book = OrderBook(orders=16, levels=16, instruments=2)
    apply(book, [(0, "A", "B", 1, 100.0, 5), (1, "A", "B", 2, 50.0, 3), (0, "T", "A", 0, 100.0, 2),
                 (0, "F", "B", 1, 100.0, 2)])
    assert top(book)["bid_sz"] == 5
    apply(book, [(0, "R", "N", 0, 0.0, 0)])
    assert np.isnan(top(book, 0)["bid_px"]) and top(book, 0)["bid_resting"] == 0
    assert top(book, 1)["bid_px"] == 50.0
    assert list(book.resting_orders()["order_id"]) == [2]
    assert (book.counters[C.TRADES], book.counters[C.FILLS], book.counters[C.CLEARS]) == (1, 1, 1)


def test_anomalies_are_counted_not_fatal() -> None:
    book = OrderBook(orders=16, levels=16, instruments=1)
    apply(book, [(0, "C", "B", 99, 100.0, 1),            # cancel of an order never seen
                 (0, "A", "B", 1, 100.0, 5), (0, "A", "B", 1, 100.5, 2),  # duplicate id replaces
                 (0, "C", "B", 1, 100.5, 10),            # cancels more than rests: clamped
                 (0, "A", "N", 2, 100.0, 1),             # add without a side
                 (0, "A", "A", 3, 101.0, 0)])            # add of size 0
    counts = C.as_dict(book.counters)
    assert (counts["cancel_unknown_order"], counts["duplicate_add"], counts["cancel_oversize"],
            counts["bad_side"], counts["zero_size_add"]) == (1, 1, 1, 1, 1)
    assert book.resting_orders().empty
    assert top(book)["bid_resting"] == 0


def test_tables_double_when_full_and_every_order_stays_findable() -> None:
    book = OrderBook(orders=16, levels=16, instruments=1)
    n = 1000
    # even ids: asks at 100.25 + 0.25 * (id % 20); odd ids: bids at 99.75 - 0.25 * (id % 20)
    apply(book, [(0, "A", "A", i, 100.25 + 0.25 * (i % 20), 1 + i % 7) if i % 2 == 0 else
                 (0, "A", "B", i, 99.75 - 0.25 * (i % 20), 1 + i % 7) for i in range(n)])
    assert len(book.resting_orders()) == n
    assert book.state.o_oid.shape[0] >= n  # the order pool grew from 16
    apply(book, [(0, "C", "A", i, 0.0, 100) for i in range(0, n, 2)])
    orders = book.resting_orders()
    assert len(orders) == n // 2 and set(orders["order_id"]) == set(range(1, n, 2))
    assert book.counters[C.CANCEL_UNKNOWN] == 0
    # odd ids have odd id % 20, the smallest being 1: best bid 99.75 - 0.25 = 99.5; no asks left
    assert top(book)["bid_px"] == 99.5 and np.isnan(top(book)["ask_px"])


# --- the real recordings ------------------------------------------------------------------

def reference_top(orders: dict[tuple[int, int], tuple[str, int, int]]) -> dict[int, list]:
    """[best bid, its size, best ask, its size] (raw prices) per instrument from a dict of orders."""
    out: dict[int, list] = {}
    for (iid, _), (side, price, size) in orders.items():
        best = out.setdefault(iid, [None, 0, None, 0])
        at = 0 if side == "B" else 2
        better = best[at] is None or (price > best[at] if side == "B" else price < best[at])
        if better:
            best[at], best[at + 1] = price, size
        elif price == best[at]:
            best[at + 1] += size
    return out


def top_from_resting(resting: pd.DataFrame, ids: np.ndarray) -> dict[int, list]:
    """The same recomputation, vectorized over the engine's own resting-order table."""
    out: dict[int, list] = {}
    for side, at, pick in (("B", 0, "max"), ("A", 2, "min")):
        one = resting[resting["side"] == side]
        best = one.groupby("inst")["price_raw"].transform(pick)
        at_best = one[one["price_raw"] == best].groupby("inst").agg(price=("price_raw", "first"), size=("size", "sum"))
        for inst, row in at_best.iterrows():
            entry = out.setdefault(int(ids[inst]), [None, 0, None, 0])
            entry[at], entry[at + 1] = int(row["price"]), int(row["size"])
    return out


def reference_apply(orders: dict, r: np.void) -> None:
    """Databento MBO semantics, written plainly: the oracle the engine's book is compared with."""
    key = (int(r["instrument_id"]), int(r["order_id"]))
    action, side = r["action"].decode(), r["side"].decode()
    if action == "A":
        orders[key] = (side, int(r["price"]), int(r["size"]))
    elif action == "C" and key in orders:
        s, p, z = orders[key]
        if z - int(r["size"]) > 0:
            orders[key] = (s, p, z - int(r["size"]))
        else:
            del orders[key]
    elif action == "M":
        if int(r["size"]) > 0:
            orders[key] = (side, int(r["price"]), int(r["size"]))
        else:
            orders.pop(key, None)
    elif action == "R":
        for k in [k for k in orders if k[0] == key[0]]:
            del orders[k]


RECORDINGS = [
    "databento/nautilus/esh4-glbx-mdp3-20231224.mbo.dbn.zst",
    "databento/nautilus/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst",
    "databento/LIVE/test_data.live.dbn.zst",
    "databento/GLBX.MDP3/test_data.mbo.dbn.zst",
]


@pytest.mark.parametrize("relative", RECORDINGS)
def test_real_recordings_keep_a_consistent_book_after_every_f_last(shared_data: Path, relative: str) -> None:
    records = db.DBNStore.from_file(shared_data / relative).to_ndarray(schema="mbo")
    assert len(records) > 0
    engine = IFDv3Engine(IFDv3Config(capacity=CapacityConfig(orders=16, levels=16, instruments=1, signals=1)))
    ends = np.flatnonzero(records["flags"] & F_LAST) + 1
    orders: dict = {}
    start = 0
    checked = 0
    for end in ends:
        engine.process_batch(records[start:end])
        for r in records[start:end]:
            reference_apply(orders, r)
        start = end
        resting = engine.book.resting_orders()
        assert (resting["size"] > 0).all(), "a resting order with no size"
        tob = engine.top_of_book().set_index("instrument_id")
        state = engine.book.state
        assert (state.resting >= 0).all() and (state.l_size[: state.sizes[2]] >= 0).all()
        expected = reference_top(orders)
        ids = engine._instruments["instrument_id"].to_numpy()
        assert top_from_resting(resting, ids) == expected  # the engine's resting orders agree with the oracle
        for iid, (bid, bid_sz, ask, ask_sz) in expected.items():
            row = tob.loc[iid]
            if bid is not None and ask is not None:
                assert bid < ask, f"crossed book for {iid} at record {end}"
            assert (row["bid"] if bid is not None else None) == (bid / 1e9 if bid is not None else None)
            assert (row["ask"] if ask is not None else None) == (ask / 1e9 if ask is not None else None)
            assert (int(row["bid_size"]), int(row["ask_size"])) == (bid_sz, ask_sz)
            checked += 1
    stats = engine.stats()
    assert stats["book_consistency"]["crossed"] == 0
    assert stats["anomalies"]["cancel_unknown_order"] == 0
    assert checked >= len(ends) - 1  # every packet end was compared


def test_recording_sizes_match_their_known_record_counts(shared_data: Path) -> None:
    """The issue's recordings: 8,725 ESH4 and 13,796 ESM4 MBO records, all through the book."""
    for relative, expected in ((RECORDINGS[0], 8725), (RECORDINGS[1], 13796)):
        records = db.DBNStore.from_file(shared_data / relative).to_ndarray()
        engine = IFDv3Engine(IFDv3Config())
        engine.process_batch(records)
        assert engine.stats()["events"] == expected


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
