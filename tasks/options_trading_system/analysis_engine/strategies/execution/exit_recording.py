"""A position's exit, from the broker's fill into the run's ledger: shared by every orchestrator that
holds positions at a broker (the shadow loop, its limited live, and `LimitedLiveTradingOrchestrator`).

An exit is one row of an `exits` table (`signal_id`, `exit_reason`, `exit_ns`, `exit_reference`:
the level the market reached) matched with the broker's fill of the leg that closed it
(`<signal>/stop`, `/target`, or `/exit` for a flatten or a session-end liquidation).
`ExitRecorder.record` writes each, one transaction per exit in the order they happened: the exit
order, its fill (measured against the reference), the commission, the position closed at the
fill's price (reason stop / target / flatten / session_end), and the signal's outcome with the
P&L in points and in dollars net of both commissions.

Where the exits come from:
- the paper broker (`paper.py`) fills a bracket's legs on the price path it is given: `follow`
  walks the open positions along the path (`outcome_tracker.resolve`) and advances the broker;
- a real broker fills on its own market: `follow` reads its fills and each held position's stop
  or target leg fill up to now is that position's exit (`leg_exits`);
- a flatten (a halt, the emergency stop) liquidates at the market (`flatten`), and a liquidation
  the ledger missed (a crash inside one) is matched to its position by reconciliation
  (`liquidation_exits`).
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ....expiry import years_to_settlement
from ....data_ingestion.canonical import number_or_nan
from ....state.ledger import Ledger, iso
from ....state.trade_rows import CostRow, FillRow, OrderRow, close_position, write_cost, write_fill, write_order
from ..feeds.price_path import PricePath
from ..shadow_config import ExecutionConfig
from ..signals.validation import DIRECTION_SIGN
from .broker import Broker, BrokerError
from .orders import Fill
from .outcome_tracker import EXIT_SESSION_END, close_at_session_end, move_points, resolve
from .paper import PaperBroker
from .paper_pricing import EXIT_ORIGIN_BLACK76, EXIT_ORIGIN_MARKET, EntryQuote, PaperPricing
from .signal_orders import signal_bracket

log = logging.getLogger(__name__)

#: a position closed at the market because the risk engine halted or a person pressed the emergency stop
EXIT_FLATTEN = "flatten"
#: the legs whose fill closes a position
EXIT_LEGS = ("stop", "target")


def with_follow_columns(followers: pd.DataFrame) -> pd.DataFrame:
    """`followers` (rows of `queries.open_followers`) with the columns `resolve` walks them by:
    `sign` (+1 LONG, -1 SHORT) and `start_ns` (the signal's time, ns UTC)."""
    out = followers.copy()
    out["sign"] = np.array([DIRECTION_SIGN.get(d, np.nan) for d in followers["direction"]], dtype="float64")
    out["start_ns"] = pd.to_datetime(followers["sim_time"].to_numpy(dtype="object"), utc=True, format="ISO8601") \
        .as_unit("ns").asi8
    return out


def held(followers: pd.DataFrame) -> pd.DataFrame:
    """The followers that hold a position (the others are signals judged on the price path only)."""
    if followers.empty:
        return followers
    return followers[followers["position_id"].map(lambda v: isinstance(v, str))]


def leg_exits(positions: pd.DataFrame, fills: Sequence[Fill], until: pd.Timestamp) -> pd.DataFrame:
    """Exits of held `positions` whose stop or target leg filled at the broker at or before
    `until`: the exit reference is the leg's level (what the market reached; the fill row measures
    the broker's price against it)."""
    fill_of = {f.client_order_id: f for f in fills}
    rows = []
    for row in positions.to_dict("records"):
        for leg in EXIT_LEGS:
            fill = fill_of.get(f"{row['signal_id']}/{leg}")
            if fill is not None and fill.time <= until:
                rows.append({"signal_id": row["signal_id"], "exit_reason": leg, "exit_ns": fill.time.value,
                             "exit_reference": float(row[leg])})
    return pd.DataFrame(rows, columns=["signal_id", "exit_reason", "exit_ns", "exit_reference"])


def liquidation_exits(liquidated: Sequence[tuple[str, Fill]], window_close: pd.Timestamp | None
                      ) -> tuple[pd.DataFrame, dict[str, Fill]]:
    """Exits of positions a broker liquidated (reconciliation's `liquidated`: signal id and the
    liquidation fill), at the fill's price: `session_end` when the fill came at or after
    `window_close`, else `flatten`; with the fills keyed by the exit order id they close."""
    fill_of = {f"{signal_id}/exit": fill for signal_id, fill in liquidated}
    rows = [{"signal_id": signal_id, "exit_reason": EXIT_SESSION_END
             if window_close is not None and fill.time >= window_close else EXIT_FLATTEN,
             "exit_ns": fill.time.value, "exit_reference": fill.price}
            for signal_id, fill in liquidated]
    return pd.DataFrame(rows, columns=["signal_id", "exit_reason", "exit_ns", "exit_reference"]), fill_of


class ExitRecorder:
    """Finds and records exits of a run's positions at `broker` (see the module docstring)."""

    def __init__(self, ledger: Ledger, broker: Broker, config: ExecutionConfig) -> None:
        self.ledger = ledger
        self.broker = broker
        self.config = config
        self.pricing = PaperPricing(config)
        # the paper broker's market is driven by the caller; any other broker fills on its own
        self.paper = isinstance(broker, PaperBroker)

    # --- where exits come from ------------------------------------------------------------------

    def follow(self, day: str, event_index: int | None, followers: pd.DataFrame,
               bars: Callable[[], PricePath], until: pd.Timestamp) -> None:
        """Close every follower (`with_follow_columns` rows) that reached its target or stop by
        `until`: on the paper broker, walked along `bars()` (the broker fills the legs there); at a
        real broker, a position's exit is its leg's fill as the broker reports it, and a signal
        without a position is judged on `bars()` as always."""
        if followers.empty:
            return
        stop_first = self.config.same_bar_rule == "stop_first"
        if self.paper:
            start = pd.Timestamp(int(followers["start_ns"].min()), tz="UTC")
            path = bars().between(start, until)
            hits = resolve(followers, path, stop_first=stop_first)
            self.hand_over(followers)
            fills = self.broker.advance(path, until)  # type: ignore[attr-defined]
            self.record(day, event_index, followers, hits, fills)
            return
        held_mask = followers["position_id"].map(lambda v: isinstance(v, str))
        judged, positions = followers[~held_mask], followers[held_mask]
        exits = []
        if not judged.empty:
            start = pd.Timestamp(int(judged["start_ns"].min()), tz="UTC")
            exits.append(resolve(judged, bars().between(start, until), stop_first=stop_first))
        fills = self.broker.fills() if not positions.empty else []
        exits.append(leg_exits(positions, fills, until))
        exits = [e for e in exits if not e.empty]
        if not exits:
            return
        hits = pd.concat(exits, ignore_index=True).sort_values(["exit_ns", "signal_id"], kind="stable")
        self.record(day, event_index, followers, hits, fills)

    def flatten(self, day: str, event_index: int | None, followers: pd.DataFrame, at: pd.Timestamp, reason: str,
                bars: Callable[[], PricePath]) -> bool:
        """Close every held position among `followers` at the market now (the broker's flatten),
        recorded as `flatten` exits; the paper broker exits at the last close of `bars()` by `at`.
        False when a real broker reported fewer liquidation fills than positions (reconcile)."""
        positions = held(followers)
        if positions.empty:
            return True
        log.warning("flattening %d position(s) at %s: %s", len(positions), at, reason)
        if not self.paper:
            return self.broker_flatten(day, event_index, positions, EXIT_FLATTEN)
        path = bars()
        exits = close_at_session_end(positions, path, at).assign(exit_reason=EXIT_FLATTEN)
        self.hand_over(positions)
        self.broker.mark(path, at)  # type: ignore[attr-defined]
        self.broker.flatten()
        self.record(day, event_index, positions, exits, list(self.broker.fills(since=at)))
        return True

    def broker_flatten(self, day: str, event_index: int | None, positions: pd.DataFrame, reason: str) -> bool:
        """Flatten at a real broker (liquidate, cancel the legs) and record each position's exit at
        the price of the liquidation fill the broker reports; False when it reported fewer fills
        than positions (the caller reconciles)."""
        before = {f.fill_id for f in self.broker.fills()}
        self.broker.flatten()
        new = [f for f in self.broker.fills() if f.fill_id not in before]
        fill_of: dict[str, Fill] = {}
        rows = []
        for row, fill in zip(positions.to_dict("records"), new):
            fill_of[f"{row['signal_id']}/exit"] = fill
            rows.append({"signal_id": row["signal_id"], "exit_reason": reason, "exit_ns": fill.time.value,
                         "exit_reference": fill.price})
        complete = len(new) >= len(positions)
        if not complete:
            log.error("flatten: the broker reported %d liquidation fill(s) for %d position(s); reconcile",
                      len(new), len(positions))
        if rows:
            self.record(day, event_index, positions, pd.DataFrame(rows), list(fill_of.values()), fill_of=fill_of)
        return complete

    def hand_over(self, followers: pd.DataFrame) -> None:
        """Give the paper broker the open positions it does not hold (a resumed or restarted run: the
        paper account lives in the ledger), as the brackets they were entered with."""
        if not self.paper or followers.empty:
            return
        signal_ids = followers["signal_id"].to_numpy(dtype="object")
        position_ids = followers["position_id"].to_numpy(dtype="object")
        # only the rows the broker does not know become records (every event asks; a restart needs it)
        missing = [i for i, (sid, pid) in enumerate(zip(signal_ids, position_ids))
                   if isinstance(pid, str) and not self.broker.knows(f"{sid}/entry")]  # type: ignore[attr-defined]
        for row in followers.iloc[missing].to_dict("records") if missing else []:
            bracket = signal_bracket(row["signal_id"], instrument=row["position_contract"] or self.config.instrument,
                                     side=self.pricing.order_side(row["direction"]), quantity=int(row["quantity"]),
                                     stop=float(row["stop"]), target=float(row["target"]))
            self.broker.adopt(bracket, self.position_quote(row), pd.Timestamp(row["sim_time"]),  # type: ignore[attr-defined]
                              float(row["entry_price"]))

    def position_quote(self, row: dict[str, Any] | pd.Series) -> EntryQuote:
        """The entry quote of an open position as the ledger keeps it (what an option's exit mark needs)."""
        if self.pricing.trades_options and isinstance(row["option_right"], str):
            return EntryQuote(price=float(row["entry_price"]), contract=row["position_contract"],
                              strike=float(row["option_strike"]), is_call=row["option_right"] == "C",
                              iv=number_or_nan(row["option_iv"]), expiration=row["option_expiration"])
        return EntryQuote(price=float(row["entry_price"]))

    # --- writing them ---------------------------------------------------------------------------

    def record(self, day: str, event_index: int | None, followers: pd.DataFrame, exits: pd.DataFrame,
               fills: list[Fill], fill_of: dict[str, Fill] | None = None) -> None:
        """Write each exit (one transaction each, in `exits`' order) under `day`: the outcome, and
        for a follower holding a position the exit order, fill, commission and the position closed.
        A position whose exit leg has no fill among `fills` (or `fill_of`, by exit order id) is a
        `BrokerError`: the market reached a level the broker did not fill."""
        if exits.empty:
            return
        by_id = followers.set_index("signal_id")
        fill_of = fill_of if fill_of is not None else {f.client_order_id: f for f in fills}
        for hit in exits.itertuples(index=False):
            row = by_id.loc[hit.signal_id]
            at = pd.Timestamp(int(hit.exit_ns), tz="UTC")
            sign = DIRECTION_SIGN[row["direction"]]
            move = float(move_points(sign, row["entry_reference"], hit.exit_reference))
            correct = None if np.isnan(move) else int(move > 0)
            outcome = {"signal_id": hit.signal_id, "position_id": None, "day": day, "resolved_at": iso(at),
                       "exit_reason": hit.exit_reason, "exit_reference": hit.exit_reference, "move_points": move,
                       "correct": correct, "pnl_points": None, "pnl_usd": None, "costs_usd": None}
            with self.ledger.transaction(day=day, event_index=event_index, sim_time=at) as tx:
                if isinstance(row["position_id"], str):
                    self._close_position(tx, day, at, hit, row, outcome, fill_of)
                tx.insert("outcomes", outcome)

    def _close_position(self, tx: Any, day: str, at: pd.Timestamp, hit: Any, row: pd.Series,
                        outcome: dict[str, Any], fill_of: dict[str, Fill]) -> None:
        leg = "exit" if hit.exit_reason in (EXIT_SESSION_END, EXIT_FLATTEN) else hit.exit_reason
        fill = fill_of.get(f"{hit.signal_id}/{leg}")
        if fill is None:
            raise BrokerError(f"position {row['position_id']}: the market reached its {hit.exit_reason} at "
                              f"{at.isoformat()} but the broker reported no {leg} fill")
        price = fill.price
        origin = EXIT_ORIGIN_BLACK76 if self.pricing.trades_options else EXIT_ORIGIN_MARKET
        quote = None
        years_at_exit = float("nan")
        if self.pricing.trades_options and isinstance(row["option_right"], str):
            quote = self.position_quote(row)
            years_at_exit = years_to_settlement(row["option_expiration"], at)
        # what the fill is measured against, in the traded instrument's own price (an option's mark,
        # not the futures level: that one is the outcome's exit_reference)
        reference = self.pricing.exit_quote(float(hit.exit_reference), quote=quote, years_at_exit=years_at_exit)
        points, dollars, commissions = self.pricing.pnl(row["direction"], float(row["entry_price"]), price)
        position_id = row["position_id"]
        quantity = int(row["quantity"])
        exit_side = fill.side.value
        order_id = f"{hit.signal_id}/exit"
        order_type = "limit" if self.pricing.exit_is_limit(hit.exit_reason) else "market"
        write_order(tx, OrderRow(order_id=order_id, signal_id=hit.signal_id, day=day, sim_time=iso(at),
                                 instrument=row["position_contract"] or self.config.instrument,
                                 side=exit_side, quantity=quantity, order_type=order_type,
                                 purpose=f"exit:{hit.exit_reason}", status="filled"))
        slippage = self.pricing.exit_slippage(hit.exit_reason) if self.paper \
            else float((reference - price) * (1 if exit_side == "SELL" else -1))
        commission = fill.commission_usd or self.config.commission * quantity
        write_fill(tx, FillRow(fill_id=f"{order_id}/fill", order_id=order_id, day=day, sim_time=iso(at),
                               price=price, quantity=quantity, reference_price=reference,
                               slippage_points=slippage, commission_usd=commission))
        write_cost(tx, CostRow(cost_id=f"{order_id}/commission", day=day, sim_time=iso(at),
                               kind="commission", amount_usd=commission, ref=order_id))
        close_position(tx, position_id, exit_time=iso(at), exit_price=price, exit_reason=hit.exit_reason,
                       exit_price_origin=origin)
        valid = not np.isnan(points)
        outcome.update(position_id=position_id, pnl_points=points if valid else None,
                       pnl_usd=dollars if valid else None, costs_usd=commissions)
