"""Helpers of the limited-live tests through the Tradovate stand-in: the profile, the stand-in's legs,
and the check that the ledger and the stand-in hold the same books."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Callable

from tests.vendor_servers.tradovate_server import TradovateStandIn

from .test_limited_live_tradovate import _profile

#: runs SQL on the run's ledger, returns the rows as tuples
Rows = Callable[..., list]


def standin_profile(tmp_path: Path, server: TradovateStandIn, *, contracts: int = 1, **broker: object) -> Path:
    """The stand-in profile of test_limited_live_tradovate with these broker settings over it;
    entries of `contracts` contracts (and the max_position cap raised to match)."""
    path = _profile(tmp_path, server, max_daily_loss={"limit_usd": 400}, cost_per_signal={"enabled": False})
    profile = json.loads(path.read_text())
    profile["broker"].update(broker)
    if contracts != 1:
        profile["shadow_trading"] = {"execution": {"quantity": contracts}}
        profile["limited_live"]["risk"]["max_position"] = {"max_contracts": contracts}
    path.write_text(json.dumps(profile))
    return path


def ledger_rows(path: Path) -> Rows:
    """Runs SQL on a ledger, read-only (another process may be writing it)."""
    def rows(sql: str, params: tuple = ()) -> list:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()
    return rows


def leg_fills(server: TradovateStandIn, legs: tuple[str, ...]) -> list[str]:
    """Client order ids of the stand-in's filled orders of these legs (`entry`, `stop`, `target`)."""
    engine = server.engine
    with engine.lock:
        filled = {f["orderId"] for f in engine.fills}
        return sorted(o.cl_ord_id for o in engine.orders.values()
                      if o.id in filled and o.cl_ord_id and o.cl_ord_id.rpartition("/")[2] in legs)


def assert_books_equal(rows: Rows, server: TradovateStandIn) -> None:
    """The run completed; no client order id sent twice; the stand-in flat with nothing working; the
    ledger's fills are the stand-in's fills (price, quantity, side); nothing open; never halted."""
    assert rows("SELECT status FROM runs") == [("completed",)]
    engine = server.engine
    new = [c["clOrdId"] for c in engine.commands if c["commandType"] == "New" and c["clOrdId"]]
    assert len(new) == len(set(new)), f"a client order id was sent twice: {sorted(new)}"
    assert all(p.net_pos == 0 for p in engine.positions.values())
    assert not [o.cl_ord_id for o in engine.orders.values() if o.status in ("Working", "Suspended")]
    ours = sorted((round(p, 2), q, s) for p, q, s in rows(
        "SELECT f.price, f.quantity, o.side FROM fills f JOIN orders o ON o.order_id = f.order_id"))
    theirs = sorted((round(float(f["price"]), 2), int(f["qty"]), f["action"].upper()) for f in engine.fills)
    assert ours == theirs
    assert rows("SELECT COUNT(*) FROM positions WHERE status = 'open'") == [(0,)]
    assert rows("SELECT state FROM risk_state") in ([], [("ACTIVE",)])
