"""The shadow-trading orchestrator: every event of every day, from market data to judged outcome.

One code path for live and replay; only the feed (where events and data come from) and the clock
differ. For each event of a day, in order (`_process`):

1. `_apply_controls`: obey halt / resume / stop records a monitor queued in the ledger;
2. `_follow`: walk every open signal along the price path up to the event's time; each one that
   reached its target or stop is closed (outcome, and for a paper trade the exit order, fill,
   position close and commission), one transaction each, in the order they happened;
3. `_observe` (chain and mbo events): load the data, run each signal source that reads this kind
   of event, keep ideas whose levels make sense at the current price and that are not repeats
   inside the cooldown, validate them, and record observation + signals + validations in one
   transaction (while halted, only the observation);
4. `_decide`: for each passed signal of a traded source, refuse it (halted, position limits,
   no price) or send it to the broker as one bracket (entry + stop + target, ids from the signal)
   and record order + fill + position + commission from the broker's fill, one transaction each.
   Exits (step 2) are the fills the broker reports as the price path reaches a stop or a target;
   today the broker is `PaperBroker`, whose market the replay drives (`execution/paper.py`);
5. on the `close` event, `_close_day`: flatten what is still open (the broker's `flatten`, at the
   last price of the window), then write the day's summary row (one transaction) and call `on_day_closed`.

Every step re-derives what is left to do from the ledger, so re-running an event after a crash
does exactly the part that was not committed: a resumed replay ends with the same ledger as one
never interrupted. With a real broker, whose state outlives this process, `reconcile` runs first
(at the start and after every reconnect): brackets of ours the broker took but the ledger missed
are adopted, exits the broker made meanwhile are expected or recorded, and any other difference
halts (`execution/reconciliation.py`). Times written are the event's (simulated) times;
wall-clock latency and process samples go to the ledger's perf tables.
"""
from __future__ import annotations

import json
import sqlite3
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ...data_ingestion.canonical import OptionsChain, number_or_nan
from ...expiry import years_to_settlement
from ...state import queries
from ...state.ledger import CONTROL_FLATTEN, CONTROL_HALT, CONTROL_RESUME, CONTROL_STOP, RUN_COMPLETED, RUN_FAILED, RUN_INTERRUPTED, Ledger, iso
from ...state.trade_rows import (CostRow, FillRow, OrderRow, PositionRow, close_position, write_cost, write_fill,
                                 write_order, write_position)
from .execution.broker import Broker, BrokerError, OrderRejectedError
from .execution.option_quote import option_quote
from .execution.orders import Fill, OrderState
from .execution.adoption import ledger_books, record_adoption
from .execution.reconciliation import Adoption, merged_fill
from .execution.outcome_tracker import EXIT_SESSION_END, close_at_session_end, move_points, resolve
from .execution.orders import EventKind
from .execution.paper import PaperBroker
from .execution.paper_pricing import (EXIT_ORIGIN_BLACK76, EXIT_ORIGIN_MARKET, REFUSED_NO_PRICE, EntryQuote,
                                      PaperPricing)
from .execution.risk_view import LedgerRiskView
from .execution.signal_orders import signal_bracket
from .guards import CancelOrders, FlattenPositions, RiskEngine, RiskState, SqliteRiskStore
from .guards.config import NETTING_ACCOUNT
from .feeds.market_events import EVENT_CHAIN, EVENT_CLOSE, EventData, MarketEvent, MarketFeed
from .performance import ProcessSampler, Stopwatch
from .feeds.price_path import PricePath
from .shadow_config import ShadowTradingConfig
from .signals import SignalInput, SignalSource, empty_ideas
from .signals.interval_volume import apply_interval_volume, with_interval_volume
from .feeds.trading_calendar import TradingDay
from .results.day_summary import day_summary
from .signals.stamping import new_ideas_only, sensible_levels, signal_rows, stamp, validation_rows
from .signals.validation import DIRECTION_SIGN, MarketSnapshot, validate_signals

log = logging.getLogger(__name__)

REFUSED_HALTED = "HALTED"
#: a position closed at the market because the risk engine halted or a person pressed the emergency stop
EXIT_FLATTEN = "flatten"


@dataclass(frozen=True)
class RunOutcome:
    """How a call to `run` ended: completed, interrupted (resumable) or stopped by a control."""

    status: str
    days_closed: int
    events: int


class ShadowTradingOrchestrator:
    """Runs `days` through `feed`, recording everything in `ledger` (see the module docstring)."""

    def __init__(self, *, config: ShadowTradingConfig, ledger: Ledger, feed: MarketFeed,
                 sources: Sequence[SignalSource], days: Sequence[TradingDay], instrument_symbol: str = "NQ",
                 stop: threading.Event | None = None, on_day_closed: Callable[[TradingDay], None] | None = None,
                 on_event: Callable[[MarketEvent], None] | None = None,
                 sampler: ProcessSampler | None = None, wall_clock: Callable[[], pd.Timestamp] | None = None,
                 risk: RiskEngine | None = None, broker: Broker | None = None,
                 market_sync: Callable[[pd.Timestamp], None] | None = None) -> None:
        self.config = config
        self.ledger = ledger
        self.feed = feed
        self.sources = list(sources)
        self.days = list(days)
        self.instrument_symbol = instrument_symbol
        self.stop = stop or threading.Event()
        self.on_day_closed = on_day_closed
        self.on_event = on_event
        self.sampler = sampler
        self.wall_clock = wall_clock or (lambda: pd.Timestamp.now(tz="UTC"))
        self.pricing = PaperPricing(config.execution)
        # every entry and exit goes through the Broker interface; the replay drives the paper
        # broker's market (set_quote / advance / mark), never the wall clock
        self.broker = broker if broker is not None else PaperBroker(config.execution)
        # the paper broker's market is driven from here; any other broker fills on its own market
        # (a replay against the Tradovate stand-in moves its clock with `market_sync`)
        self.paper = isinstance(self.broker, PaperBroker)
        self.market_sync = market_sync
        self._reconciled = False
        # every entry passes the risk engine first; its state (a halt) lives in this ledger
        self.risk = risk if risk is not None else RiskEngine(config.risk_config(),
                                                             store=SqliteRiskStore(ledger.connection))
        self.risk_view = LedgerRiskView(ledger, instrument=config.execution.instrument,
                                        quantity=config.execution.quantity,
                                        net_positions=self.risk.config.max_position.netting == NETTING_ACCOUNT)
        self._bars: dict[str, PricePath] = {}
        self._events_done = 0

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> RunOutcome:
        """Process every remaining event of every remaining day; resumable at any point."""
        self.ledger.resume_run()
        progress = self.ledger.progress()
        closed = set(queries.closed_days(self.ledger))
        try:
            for day in self.days:
                if day.label in closed:
                    continue
                start = 0
                if progress["day"] == day.label and progress["event_index"] is not None:
                    start = int(progress["event_index"]) + (1 if self.feed.mode == "live" else 0)
                for event in self.feed.events(day, start, self.stop):
                    self._process(day, event)
                    if self.on_event is not None:
                        self.on_event(event)
                    if self.stop.is_set():
                        break
                if self.stop.is_set() or day.label not in self._closed_days():
                    return self._interrupted()
        except BaseException as exc:
            if not isinstance(exc, (KeyboardInterrupt, SystemExit)):
                try:
                    self._set_status(RUN_FAILED, f"{type(exc).__name__}: {exc}", None)
                except sqlite3.Error as status_exc:  # the ledger itself is what failed (full, read-only)
                    log.error("could not record the failure in the ledger: %s", status_exc)
            raise
        finally:
            self.ledger.flush_perf()
        last = self.days[-1].window_close if self.days else None
        if self.ledger.run()["status"] != RUN_COMPLETED:
            self._set_status(RUN_COMPLETED, "all days closed", last)
        return RunOutcome(RUN_COMPLETED, len(self._closed_days()), self._events_done)

    def _interrupted(self) -> RunOutcome:
        progress = self.ledger.progress()
        self._set_status(RUN_INTERRUPTED, "stopped before the last day closed; resume with --resume",
                         pd.Timestamp(progress["sim_time"]) if progress["sim_time"] else None)
        return RunOutcome(RUN_INTERRUPTED, len(self._closed_days()), self._events_done)

    def _closed_days(self) -> set[str]:
        return set(queries.closed_days(self.ledger))

    def _set_status(self, status: str, reason: str, at: pd.Timestamp | None) -> None:
        self.ledger.set_status(status, reason, at)

    # --- one event -------------------------------------------------------------------------

    def _process(self, day: TradingDay, event: MarketEvent) -> None:
        with Stopwatch() as cycle:
            if self.market_sync is not None:
                self.market_sync(event.time)
            if not self.paper and not self._reconciled:
                self.reconcile(day, event)
            self._apply_controls(day, event)
            self._follow(day, event, event.time)
            self._watch_risk(day, event)
            if event.kind == EVENT_CLOSE:
                self._close_day(day, event)
            else:
                if not queries.event_observed(self.ledger, event.key):
                    self._observe(day, event)
                self._decide(day, event)
                self._watch_risk(day, event)
        self.ledger.add_latency(day.label, event.key, "cycle", cycle.ms)
        self._events_done += 1
        every = self.config.performance.process_sample_every
        if self.sampler is not None and (self._events_done % every == 1 or every == 1):
            sample = self.sampler.sample()
            self.ledger.add_process_sample(self.wall_clock(), day.label, event.key, sample.cpu_percent,
                                           sample.cpu_seconds, sample.rss_mb)

    def _apply_controls(self, day: TradingDay, event: MarketEvent) -> None:
        for control in queries.pending_controls(self.ledger):
            with self.ledger.transaction(day=day.label, event_index=event.index, sim_time=event.time) as tx:
                tx.execute("UPDATE controls SET status = 'applied', applied_at = ?, applied_event = ? "
                           "WHERE control_id = ?", (iso(event.time), event.key, control["control_id"]))
            log.warning("control %s applied at %s (%s)", control["command"], event.time, event.key)
            command, by = control["command"], control.get("requested_by") or "monitor"
            reason = control.get("reason") or ""
            if command == CONTROL_STOP:
                self.stop.set()
            elif command in (CONTROL_HALT, CONTROL_FLATTEN):
                # the token was checked where the control was accepted (monitor, CLI)
                snapshot = self._risk_snapshot(day, event.time)
                update = self.risk.halt(by=by, reason=reason or f"{command} control", now=event.time,
                                        snapshot=snapshot)
                self._carry_out(day, event, update.actions)
            elif command == CONTROL_RESUME:
                self.risk.resume(by=by, token_ok=True, now=event.time, reason=reason,
                                 snapshot=self._risk_snapshot(day, event.time))

    def halted(self) -> bool:
        """True while the risk engine is HALTED (a guard's hard cap or a person's halt), until resumed."""
        return self.risk.refresh().state is RiskState.HALTED

    # --- the risk engine -------------------------------------------------------------------

    def _risk_snapshot(self, day: TradingDay, at: pd.Timestamp):
        price, _ = self._day_bars(day).last_close(at)
        return self.risk_view.snapshot(day.label, at, float(price))

    def _watch_risk(self, day: TradingDay, event: MarketEvent) -> None:
        """Post-trade: every fill and the price now through the guards; carry out what they demand
        (HALTED: cancel working orders, flatten positions)."""
        snapshot = self._risk_snapshot(day, event.time)
        actions: list[Any] = []
        for item in self.broker.events():
            if item.kind is EventKind.FILL and item.fill is not None:
                actions.extend(self.risk.on_fill(item.fill, snapshot).actions)
            elif item.kind is EventKind.CONNECTION and "sync" in item.note.lower():
                self._reconciled = False     # after every reconnect: reconcile again before trading
        if not self.paper and not self._reconciled:
            self.reconcile(day, event)
        mark = snapshot.marks.get(self.risk_view.risk_instrument)
        update = self.risk.on_price(self.risk_view.risk_instrument, mark, snapshot) if mark is not None \
            else self.risk.evaluate(snapshot)
        actions.extend(update.actions)
        self._carry_out(day, event, tuple(actions))

    def _carry_out(self, day: TradingDay, event: MarketEvent, actions: Sequence[Any]) -> None:
        """Flatten first (closing a position cancels its bracket legs), then cancel what still works."""
        flatten = [a for a in actions if isinstance(a, FlattenPositions)]
        if flatten:
            self._flatten_positions(day, event, event.time, flatten[0].reason)
        for action in (a for a in actions if isinstance(a, CancelOrders)):
            for client_order_id in action.client_order_ids:
                try:
                    self.broker.cancel(client_order_id)
                except BrokerError as exc:
                    log.info("cancel %s: %s", client_order_id, exc)

    def reconcile(self, day: TradingDay, event: MarketEvent) -> str:
        """Compare the broker's positions, working orders and fills with the ledger
        (`execution/reconciliation.py`): adopt our own brackets the ledger missed (a crash between
        the broker taking a bracket and the ledger's commit), record the exits of positions the
        broker liquidated meanwhile (a crash inside a flatten), then halt the risk engine with a
        message naming any other difference. '' when they agree."""
        at = event.time
        books = ledger_books(self.ledger, self.broker)
        for adoption in books.adoptions:
            self._adopt(adoption, at)
        if books.liquidated:
            self._record_liquidations(day, event, books.liquidated)
        self._reconciled = True
        if books.closed_at_broker:
            log.warning("reconciled: %s closed at %s while this run was not watching; the exit is recorded "
                        "when the run's clock reaches its fill", ", ".join(books.closed_at_broker), self.broker.name)
        if books.agrees:
            log.info("reconciled with %s at %s: net position %+d, %d working order(s), %d bracket(s) adopted",
                     self.broker.name, at, books.broker_net, books.working, len(books.adoptions))
            return ""
        message = "reconciliation with the broker failed: " + "; ".join(books.problems)
        log.error(message)
        self.risk.halt(by="reconciliation", reason=message, now=at)
        return message

    def _record_liquidations(self, day: TradingDay, event: MarketEvent,
                             liquidated: Sequence[tuple[str, Fill]]) -> None:
        """Exits the broker carried out (a flatten or the session end) that the ledger missed."""
        followers = self._open_followers(day)
        ids = {signal_id for signal_id, _ in liquidated}
        held = followers[followers["signal_id"].isin(ids)] if not followers.empty else followers
        if held.empty:
            return
        fill_of = {f"{signal_id}/exit": fill for signal_id, fill in liquidated if signal_id in set(held["signal_id"])}
        rows = [{"signal_id": signal_id, "exit_reason": EXIT_SESSION_END if fill.time >= day.window_close
                 else EXIT_FLATTEN, "exit_ns": fill.time.value, "exit_reference": fill.price}
                for signal_id, fill in liquidated if f"{signal_id}/exit" in fill_of]
        log.warning("reconciliation: %s liquidated at %s before this run recorded it; exit recorded at the fill",
                    ", ".join(r["signal_id"] for r in rows), self.broker.name)
        self._record_exits(day, event, _with_follow_columns(held), pd.DataFrame(rows), list(fill_of.values()),
                           fill_of=fill_of)

    def _adopt(self, adoption: Adoption, at: pd.Timestamp) -> None:
        """Record in the ledger a bracket of ours the broker holds but the ledger missed
        (`execution/adoption.py`); what of its entry still works is cancelled first (the signal's
        moment has passed), so the position is what filled, protected by its legs."""
        signal = queries.signal_row(self.ledger, adoption.signal_id)
        cancelled = self.broker.cancel(f"{adoption.signal_id}/entry") if adoption.entry_working is not None else None
        progress = self.ledger.progress()
        with self.ledger.transaction(day=progress["day"] or signal["day"], event_index=progress["event_index"],
                                     sim_time=at) as tx:
            note = record_adoption(tx, signal, adoption, broker=self.broker.name,
                                   instrument=self.config.execution.instrument,
                                   side=self.pricing.order_side(signal["direction"]),
                                   quantity=self.config.execution.quantity,
                                   multiplier=self.config.execution.multiplier,
                                   commission=self.config.execution.commission, cancelled=cancelled)
        log.warning("reconciliation: %s (%s)", note, f"filled at {adoption.entry.price:.2f}"
                    if adoption.entry is not None else "not filled")

    def _flatten_positions(self, day: TradingDay, event: MarketEvent, at: pd.Timestamp, reason: str) -> None:
        """Close every open position at the market now (the broker's flatten), recorded as exits."""
        followers = self._open_followers(day)
        followers = followers[followers["position_id"].map(lambda v: isinstance(v, str))] \
            if not followers.empty else followers
        if followers.empty:
            return
        log.warning("flattening %d position(s) at %s: %s", len(followers), at, reason)
        followers = _with_follow_columns(followers)
        if not self.paper:
            self._broker_flatten(day, event, followers, EXIT_FLATTEN)
            return
        exits = close_at_session_end(followers, self._day_bars(day), at).assign(exit_reason=EXIT_FLATTEN)
        self._hand_over_positions(followers)
        self.broker.mark(self._day_bars(day), at)
        self.broker.flatten()
        self._record_exits(day, event, followers, exits, list(self.broker.fills(since=at)))

    def _day_bars(self, day: TradingDay) -> PricePath:
        if self.feed.mode == "live" or day.label not in self._bars:
            self._bars[day.label] = self.feed.bars(day)
        return self._bars[day.label]

    # --- following open signals ------------------------------------------------------------

    def _open_followers(self, day: TradingDay) -> pd.DataFrame:
        return queries.open_followers(self.ledger, day.label)

    def _follow(self, day: TradingDay, event: MarketEvent, until: pd.Timestamp) -> None:
        followers = self._open_followers(day)
        if followers.empty:
            return
        followers = _with_follow_columns(followers)
        if not self.paper:
            self._follow_broker(day, event, until, followers)
            return
        bars = self._day_bars(day)
        start = pd.Timestamp(int(followers["start_ns"].min()), tz="UTC")
        path = bars.between(start, until)
        hits = resolve(followers, path, stop_first=self.config.execution.same_bar_rule == "stop_first")
        self._hand_over_positions(followers)
        fills = self.broker.advance(path, until)
        self._record_exits(day, event, followers, hits, fills)

    def _follow_broker(self, day: TradingDay, event: MarketEvent, until: pd.Timestamp,
                       followers: pd.DataFrame) -> None:
        """A real broker's market: a position's exit is the fill of its stop or target leg as the
        broker reports it; signals without a position are judged on the price path as always."""
        held_mask = followers["position_id"].map(lambda v: isinstance(v, str))
        judged, held = followers[~held_mask], followers[held_mask]
        exits = []
        if not judged.empty:
            bars = self._day_bars(day)
            start = pd.Timestamp(int(judged["start_ns"].min()), tz="UTC")
            exits.append(resolve(judged, bars.between(start, until),
                                 stop_first=self.config.execution.same_bar_rule == "stop_first"))
        fills = self.broker.fills() if not held.empty else []
        fill_of = {f.client_order_id: f for f in fills}
        rows = []
        for row in held.to_dict("records"):
            for leg in ("stop", "target"):
                fill = fill_of.get(f"{row['signal_id']}/{leg}")
                if fill is not None and fill.time <= until:
                    # the level the market reached; the fill row measures the broker's price against it
                    rows.append({"signal_id": row["signal_id"], "exit_reason": leg, "exit_ns": fill.time.value,
                                 "exit_reference": float(row[leg])})
        if rows:
            exits.append(pd.DataFrame(rows))
        exits = [e for e in exits if not e.empty]
        if not exits:
            return
        hits = pd.concat(exits, ignore_index=True).sort_values(["exit_ns", "signal_id"], kind="stable")
        self._record_exits(day, event, followers, hits, fills)

    def _broker_flatten(self, day: TradingDay, event: MarketEvent, held: pd.DataFrame, reason: str) -> None:
        """Flatten at a real broker (liquidate, cancel the legs) and record each position's exit at
        the price of the liquidation fill the broker reports."""
        before = {f.fill_id for f in self.broker.fills()}
        self.broker.flatten()
        new = [f for f in self.broker.fills() if f.fill_id not in before]
        fill_of: dict[str, Fill] = {}
        rows = []
        for row, fill in zip(held.to_dict("records"), new):
            fill_of[f"{row['signal_id']}/exit"] = fill
            rows.append({"signal_id": row["signal_id"], "exit_reason": reason, "exit_ns": fill.time.value,
                         "exit_reference": fill.price})
        if len(new) < len(held):
            log.error("flatten: the broker reported %d liquidation fill(s) for %d position(s); reconcile",
                      len(new), len(held))
            self._reconciled = False
        if rows:
            self._record_exits(day, event, held, pd.DataFrame(rows), list(fill_of.values()), fill_of=fill_of)

    def _hand_over_positions(self, followers: pd.DataFrame) -> None:
        """Give the paper broker the open positions it does not hold (a resumed run: the paper
        account lives in the ledger), as the brackets they were entered with."""
        signal_ids = followers["signal_id"].to_numpy(dtype="object")
        held = followers["position_id"].to_numpy(dtype="object")
        # only the rows the broker does not know become records (every event asks; a restart needs it)
        missing = [i for i, (sid, pid) in enumerate(zip(signal_ids, held))
                   if isinstance(pid, str) and not self.broker.knows(f"{sid}/entry")]
        for row in followers.iloc[missing].to_dict("records") if missing else []:
            quote = self._position_quote(row)
            bracket = signal_bracket(row["signal_id"], instrument=row["position_contract"]
                                     or self.config.execution.instrument,
                                     side=self.pricing.order_side(row["direction"]), quantity=int(row["quantity"]),
                                     stop=float(row["stop"]), target=float(row["target"]))
            self.broker.adopt(bracket, quote, pd.Timestamp(row["sim_time"]), float(row["entry_price"]))

    def _position_quote(self, row: dict[str, Any] | pd.Series) -> EntryQuote:
        """The entry quote of an open position as the ledger keeps it (what an option's exit mark needs)."""
        if self.pricing.trades_options and isinstance(row["option_right"], str):
            return EntryQuote(price=float(row["entry_price"]), contract=row["position_contract"],
                              strike=float(row["option_strike"]), is_call=row["option_right"] == "C",
                              iv=number_or_nan(row["option_iv"]), expiration=row["option_expiration"])
        return EntryQuote(price=float(row["entry_price"]))

    def _record_exits(self, day: TradingDay, event: MarketEvent, followers: pd.DataFrame, exits: pd.DataFrame,
                      fills: list[Fill], fill_of: dict[str, Fill] | None = None) -> None:
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
            outcome = {"signal_id": hit.signal_id, "position_id": None, "day": day.label, "resolved_at": iso(at),
                       "exit_reason": hit.exit_reason, "exit_reference": hit.exit_reference, "move_points": move,
                       "correct": correct, "pnl_points": None, "pnl_usd": None, "costs_usd": None}
            with self.ledger.transaction(day=day.label, event_index=event.index, sim_time=at) as tx:
                if isinstance(row["position_id"], str):
                    self._close_position(tx, day, at, hit, row, outcome, fill_of)
                tx.insert("outcomes", outcome)

    def _close_position(self, tx: Any, day: TradingDay, at: pd.Timestamp, hit: Any, row: pd.Series,
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
            quote = self._position_quote(row)
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
        write_order(tx, OrderRow(order_id=order_id, signal_id=hit.signal_id, day=day.label, sim_time=iso(at),
                                 instrument=row["position_contract"] or self.config.execution.instrument,
                                 side=exit_side, quantity=quantity, order_type=order_type,
                                 purpose=f"exit:{hit.exit_reason}", status="filled"))
        slippage = self.pricing.exit_slippage(hit.exit_reason) if self.paper \
            else float((reference - price) * (1 if exit_side == "SELL" else -1))
        commission = fill.commission_usd or self.config.execution.commission * quantity
        write_fill(tx, FillRow(fill_id=f"{order_id}/fill", order_id=order_id, day=day.label, sim_time=iso(at),
                               price=price, quantity=quantity, reference_price=reference,
                               slippage_points=slippage, commission_usd=commission))
        write_cost(tx, CostRow(cost_id=f"{order_id}/commission", day=day.label, sim_time=iso(at),
                               kind="commission", amount_usd=commission, ref=order_id))
        close_position(tx, position_id, exit_time=iso(at), exit_price=price, exit_reason=hit.exit_reason,
                       exit_price_origin=origin)
        valid = not np.isnan(points)
        outcome.update(position_id=position_id, pnl_points=points if valid else None,
                       pnl_usd=dollars if valid else None, costs_usd=commissions)

    # --- new signals -----------------------------------------------------------------------

    def _observe(self, day: TradingDay, event: MarketEvent) -> None:
        data = self.feed.load(event)
        if np.isfinite(data.load_ms):
            self.ledger.add_latency(day.label, event.key, "data_load", data.load_ms)
        bars = self._day_bars(day)
        price, bar_end = bars.last_close(event.time)
        staleness = (event.time - bar_end).total_seconds() if bar_end is not None else float("nan")
        chain = data.chain if event.kind == EVENT_CHAIN else self.feed.latest_chain(event.time)
        notes = list(data.notes)
        if data.chain_error:
            notes.append(f"chain refused: {data.chain_error}")
        halted = self.halted()
        interval = None
        if data.chain is not None:  # a replay's phase A computed the interval volume (and the ideas)
            interval = apply_interval_volume(data.chain.frame, data.interval_volume) if data.ideas is not None \
                else with_interval_volume(data.chain.frame, data.previous)
        ideas: list[pd.DataFrame] = []
        if halted:
            notes.append("halted: no new signals")
        elif not np.isfinite(price):
            notes.append("no price bar yet today: nothing can be entered")
        else:
            inputs = SignalInput(time=event.time, price=price, chain=data.chain, greeks=data.greeks,
                                 interval_chain=interval, mbo_signals=data.mbo_signals)
            for source in self.sources:
                if source.event_kind != event.kind:
                    continue
                frame, ms = _ideas(source, inputs, data)
                if np.isfinite(ms):  # NaN: the ideas were read back from a replay's day cache, not computed now
                    self.ledger.add_latency(day.label, event.key, f"algorithm:{source.algorithm}", ms)
                if not frame.empty:
                    ideas.append(frame.assign(source=source.name, algorithm=source.algorithm,
                                              traded_source=int(source.trade)))
        signals = pd.concat(ideas, ignore_index=True) if ideas else pd.DataFrame()
        if not signals.empty:
            signals, note = sensible_levels(signals, price)
            notes.extend(note)
            signals = self._drop_repeats(day, event, signals)
        context_chain = interval if interval is not None else (chain.frame if chain is not None else None)
        validations = pd.DataFrame()
        if not signals.empty:
            instrument = chain.meta.underlying_symbol if chain is not None else self.instrument_symbol
            signals = stamp(event, signals, price, instrument)
            history = queries.resolved_history(self.ledger, event.time)
            market = MarketSnapshot(chain=context_chain, window_open=day.window_open, window_close=day.window_close,
                                    timezone=self.config.window.timezone)
            with Stopwatch() as watch:
                validations = validate_signals(signals, market, history, self.config.validation)
            self.ledger.add_latency(day.label, event.key, "validation", watch.ms)
        observation = {
            "event_key": event.key, "day": day.label, "event_index": event.index, "sim_time": iso(event.time),
            "kind": event.kind, "input": event.input or (chain.meta.source if chain is not None else ""),
            "halted": int(halted),
            "contracts": len(data.chain.frame) if data.chain is not None else None,
            "quarantined": len(data.chain.quarantine) if data.chain is not None else None,
            "missing_share": _missing_share(data.chain) if data.chain is not None else None,
            "underlying_price": data.chain.meta.underlying_price if data.chain is not None else None,
            "price": price, "price_staleness_s": staleness, "signals": len(signals), "notes": "; ".join(notes)}
        with self.ledger.transaction(day=day.label, event_index=event.index, sim_time=event.time) as tx:
            tx.insert("observations", observation)
            if not signals.empty:
                tx.insert("signals", signal_rows(signals))
                tx.insert("validations", validation_rows(signals, validations))
            if data.cost_usd:
                write_cost(tx, CostRow(cost_id=f"{event.key}/data", day=day.label, sim_time=iso(event.time),
                                       kind="data", amount_usd=data.cost_usd, ref=event.key, note=data.cost_note))

    def _drop_repeats(self, day: TradingDay, event: MarketEvent, signals: pd.DataFrame) -> pd.DataFrame:
        """Ideas a source already signalled within the cooldown (same contract and direction, or for
        ideas without a contract the same direction, target and stop) are not signalled again."""
        minutes = self.config.signals.cooldown_minutes
        if minutes <= 0:
            return signals
        since = event.time - pd.Timedelta(minutes=minutes)
        recent = queries.recent_signals(self.ledger, day.label, since, event.time)
        return new_ideas_only(signals, recent)

    # --- paper execution -------------------------------------------------------------------

    def _decide(self, day: TradingDay, event: MarketEvent) -> None:
        pending = queries.signals_awaiting_entry(self.ledger, event.key)
        for signal in pending.to_dict("records") if not pending.empty else []:
            open_positions = queries.open_positions(self.ledger)
            reason = self.pricing.source_refusal(open_positions, signal["source"])
            quote = self._entry_quote(signal, event) if not reason else None
            if quote is not None and not np.isfinite(quote.price):
                reason = f"{REFUSED_NO_PRICE}: no {'option quote' if self.pricing.trades_options else 'price'} " \
                         f"at {event.time.isoformat()}"
            order_id = f"{signal['signal_id']}/entry"
            side = self.pricing.order_side(signal["direction"])
            quantity = self.config.execution.quantity
            with self.ledger.transaction(day=day.label, event_index=event.index, sim_time=event.time) as tx:
                if not reason:
                    # the guards, inside this transaction: an approval or refusal commits with the order row
                    snapshot = self.risk_view.snapshot(day.label, event.time, float(signal["entry_reference"]))
                    decision = self.risk.check(self.risk_view.request(signal), snapshot)
                    if not decision.approved and decision.refusal is not None:
                        reason = refusal_reason(decision.refusal)
                if reason:
                    write_order(tx, OrderRow(order_id=order_id, signal_id=signal["signal_id"], day=day.label,
                                             sim_time=iso(event.time), instrument=self.config.execution.instrument,
                                             side=side, quantity=quantity, order_type="market", purpose="entry",
                                             status="refused", reason=reason))
                    continue
                assert quote is not None
                instrument = self.pricing.instrument_name(quote)
                if self.paper:
                    self.broker.set_quote(event.time, quote)
                bracket = signal_bracket(signal["signal_id"], instrument=instrument, side=side, quantity=quantity,
                                         stop=float(signal["stop"]), target=float(signal["target"]))
                try:
                    ack = self.broker.place_bracket(bracket)
                    entry, note = self._entry_fill(ack.entry, quantity, since=None if not self.paper else event.time)
                    why = "" if entry is not None else f"entry {ack.entry.status.value} {ack.entry.reason}".strip()
                except OrderRejectedError as exc:
                    entry, why = None, f"rejected by {self.broker.name}: {exc}"
                if entry is None:
                    write_order(tx, OrderRow(order_id=order_id, signal_id=signal["signal_id"], day=day.label,
                                             sim_time=iso(event.time), instrument=instrument, side=side,
                                             quantity=quantity, order_type="market", purpose="entry",
                                             status="rejected", reason=f"BROKER_REJECTED: {why}"))
                    continue
                price, filled = entry.price, entry.quantity
                commission = entry.commission_usd or self.config.execution.commission * filled
                write_order(tx, OrderRow(order_id=order_id, signal_id=signal["signal_id"], day=day.label,
                                         sim_time=iso(event.time), instrument=instrument, side=side,
                                         quantity=quantity, order_type="market", purpose="entry", status="filled",
                                         reason=note))
                write_fill(tx, FillRow(fill_id=f"{order_id}/fill", order_id=order_id, day=day.label,
                                       sim_time=iso(event.time), price=price, quantity=filled,
                                       reference_price=quote.price,
                                       slippage_points=self.config.execution.slippage_points if self.paper
                                       else (price - quote.price) * (1 if side == "BUY" else -1),
                                       commission_usd=commission))
                write_cost(tx, CostRow(cost_id=f"{order_id}/commission", day=day.label, sim_time=iso(event.time),
                                       kind="commission", amount_usd=commission, ref=order_id))
                option = bool(quote.contract)
                write_position(tx, PositionRow(
                    position_id=f"{signal['signal_id']}/position", signal_id=signal["signal_id"],
                    source=signal["source"], day=day.label, instrument=instrument, contract=quote.contract,
                    direction=signal["direction"], quantity=filled, multiplier=self.config.execution.multiplier,
                    entry_time=iso(event.time), entry_price=price, target=signal["target"], stop=signal["stop"],
                    option_strike=quote.strike if option else None,
                    option_right=("C" if quote.is_call else "P") if option else None,
                    option_iv=quote.iv if option else None,
                    option_expiration=quote.expiration if option else None))

    def _entry_fill(self, entry: OrderState, quantity: int, since: pd.Timestamp | None) -> tuple[Fill | None, str]:
        """The entry's execution (parts merged) and a note. An entry that filled only in part is not
        left working: the rest is cancelled, so the position is what filled, its legs protecting it."""
        def executed() -> Fill | None:
            return merged_fill([f for f in self.broker.fills(since=since)
                                if f.client_order_id == entry.client_order_id])
        fill = executed()
        if fill is None or fill.quantity >= quantity or not entry.status.is_open:
            return fill, ""
        state = self.broker.cancel(entry.client_order_id)
        fill = executed() or fill
        note = f"PARTIAL: {fill.quantity} of {quantity} filled; the rest cancelled ({state.status.value})"
        log.warning("entry %s: %s", entry.client_order_id, note)
        return fill, note

    def _entry_quote(self, signal: dict[str, Any], event: MarketEvent) -> EntryQuote:
        if not self.pricing.trades_options:
            return EntryQuote(price=float(signal["entry_reference"]))
        chain = self.feed.latest_chain(event.time)
        if chain is None:
            return EntryQuote(price=float("nan"))
        return option_quote(chain, signal, event.time)

    # --- end of day ------------------------------------------------------------------------

    def _close_day(self, day: TradingDay, event: MarketEvent) -> None:
        for metric, ms in self.feed.day_latency(day).items():
            self.ledger.add_latency(day.label, event.key, metric, ms)
        followers = self._open_followers(day)
        if not followers.empty and not self.paper:
            followers = _with_follow_columns(followers)
            held = followers[followers["position_id"].map(lambda v: isinstance(v, str))]
            if not held.empty:
                self._broker_flatten(day, event, held, EXIT_SESSION_END)
            followers = self._open_followers(day)
            if not followers.empty:
                followers = _with_follow_columns(followers)
                self._record_exits(day, event, followers,
                                   close_at_session_end(followers, self._day_bars(day), day.window_close), [])
        elif not followers.empty:
            followers = _with_follow_columns(followers)
            exits = close_at_session_end(followers, self._day_bars(day), day.window_close)
            self._hand_over_positions(followers)
            self.broker.mark(self._day_bars(day), day.window_close)
            self.broker.flatten()
            self._record_exits(day, event, followers, exits, list(self.broker.fills(since=day.window_close)))
        if queries.day_closed(self.ledger, day.label):
            return
        summary = day_summary(self.ledger, day.label)
        summary["window"] = {"open": iso(day.window_open), "close": iso(day.window_close),
                             "timezone": self.config.window.timezone, "early_close": day.early_close,
                             "local": f"{day.window_open.tz_convert(self.config.window.timezone):%H:%M}-"
                                      f"{day.window_close.tz_convert(self.config.window.timezone):%H:%M}"}
        summary["price"] = self._price_coverage(day)
        summary["notes"] = self.feed.day_notes(day)
        with self.ledger.transaction(day=day.label, event_index=event.index, sim_time=event.time) as tx:
            tx.insert("daily_summaries", {
                "day": day.label, "closed_at": iso(event.time), "signals": summary["signals"]["signals"],
                "validated": summary["signals"]["validated"], "resolved": summary["signals"]["resolved"],
                "correct": summary["signals"]["correct"], "trades": summary["trades"]["trades"],
                "pnl_usd": summary["trades"]["pnl_usd"], "costs_usd": summary["costs_usd"],
                "summary_json": json.dumps(summary, sort_keys=True)})
        log.info("day %s closed: %d signals, %d trades, P&L $%.2f", day.label, summary["signals"]["signals"],
                 summary["trades"]["trades"], summary["trades"]["pnl_usd"])
        if self.on_day_closed is not None:
            self.on_day_closed(day)


    def _price_coverage(self, day: TradingDay) -> dict[str, Any]:
        """Bars of the price path inside the window against the window's length in bars (replay);
        a live path has one point per cycle, so it has no expected count."""
        bars = len(self._day_bars(day).between(day.window_open, day.window_close))
        if self.feed.mode != "replay":
            return {"bars": bars, "expected": None, "completeness": None}
        expected = int((day.window_close - day.window_open).total_seconds() // self.config.replay.bar_seconds)
        return {"bars": bars, "expected": expected, "completeness": bars / expected if expected else None}


# --- pure helpers ------------------------------------------------------------------------------

def refusal_reason(refusal: Any) -> str:
    """An order row's reason for a guard's refusal: `CODE: numbers (detail) [guard name]`, so the
    code stays the text before the first colon (what reports group by)."""
    rest = refusal.message[len(refusal.code):].lstrip(": ").strip()
    return f"{refusal.code}: {rest} [guard {refusal.guard}]" if rest else f"{refusal.code} [guard {refusal.guard}]"


def _ideas(source: SignalSource, inputs: SignalInput, data: EventData) -> tuple[pd.DataFrame, float]:
    """The source's ideas for this event and the milliseconds they took: computed ahead (a replay's
    phase A, on whatever machine ran it) or generated now."""
    if data.ideas is not None:
        return data.ideas.get(source.name, empty_ideas()), float(data.idea_ms.get(source.name, float("nan")))
    with Stopwatch() as watch:
        frame = source.generate(inputs)
    return frame, watch.ms


def _with_follow_columns(followers: pd.DataFrame) -> pd.DataFrame:
    out = followers.copy()
    out["sign"] = np.array([DIRECTION_SIGN.get(d, np.nan) for d in followers["direction"]], dtype="float64")
    out["start_ns"] = pd.to_datetime(followers["sim_time"].to_numpy(dtype="object"), utc=True, format="ISO8601") \
        .as_unit("ns").asi8
    return out


def _missing_share(chain: OptionsChain) -> float | None:
    frame = chain.frame
    if frame.empty:
        return None
    columns = ["bid", "ask", "volume", "open_interest"]
    return float(frame[columns].isna().to_numpy().mean())


