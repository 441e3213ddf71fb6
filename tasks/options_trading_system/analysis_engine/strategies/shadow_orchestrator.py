"""The shadow-trading orchestrator: every event of every day, from market data to judged outcome.

One code path for live and replay; only the feed (where events and data come from) and the clock
differ. For each event of a day, in order (`_process`):

1. `_apply_controls`: obey halt / resume / stop records a monitor queued in the ledger;
2. `_follow`: walk every open signal along the price path up to the event's time; each one that
   reached its target or stop is closed (outcome, and for a paper trade the exit order, fill,
   position close and commission), one transaction each, in the order they happened
   (`execution/exit_recording.py`, shared with `LimitedLiveTradingOrchestrator`);
3. `_observe` (chain and mbo events): load the data, run each signal source that reads this kind
   of event, keep ideas whose levels make sense at the current price and that are not repeats
   inside the cooldown, validate them, and record observation + signals + validations in one
   transaction (while halted, only the observation);
4. `_decide`: for each passed signal of a traded source, refuse it (halted, position limits,
   no price) or send it to the broker as one bracket (entry + stop + target, ids from the signal)
   and record order + fill + position + commission from the broker's fill, one transaction each.
   Exits (step 2) are the fills the broker reports as the price path reaches a stop or a target:
   the paper broker's market the replay drives (`execution/paper.py`), or a real broker's own;
   after every step the fills and the price go through the risk engine (`_watch_risk`,
   `execution/post_trade.py`);
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

from ...data_ingestion.canonical import OptionsChain
from ...state import queries
from ...state.ledger import CONTROL_FLATTEN, CONTROL_HALT, CONTROL_RESUME, CONTROL_STOP, RUN_COMPLETED, RUN_FAILED, RUN_INTERRUPTED, Ledger, iso
from ...state.trade_rows import CostRow, FillRow, OrderRow, PositionRow, write_cost, write_fill, write_order, \
    write_position
from .execution.broker import Broker, OrderRejectedError
from .execution.option_quote import option_quote
from .execution.orders import Fill, OrderState
from .execution.adoption import ledger_books, record_adoption
from .execution.reconciliation import Adoption, merged_fill
from .execution.outcome_tracker import EXIT_SESSION_END, close_at_session_end
from .execution.post_trade import cancel_orders, fill_checks, flatten_reason, price_check
from .execution.exit_recording import ExitRecorder, held, liquidation_exits, with_follow_columns
from .execution.paper import PaperBroker
from .execution.paper_pricing import REFUSED_NO_PRICE, EntryQuote, PaperPricing
from .execution.risk_view import LedgerRiskView
from .execution.signal_orders import signal_bracket
from .guards import RiskEngine, RiskState, SqliteRiskStore
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
from .signals.validation import MarketSnapshot, validate_signals

log = logging.getLogger(__name__)

REFUSED_HALTED = "HALTED"


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
        # exits (stop, target, flatten, session end) from the broker's fills into the ledger
        self.exits = ExitRecorder(ledger, self.broker, config.execution)
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
        """Post-trade (`execution/post_trade.py`): every fill and the price now through the guards;
        carry out what they demand (HALTED: cancel working orders, flatten positions)."""
        snapshot = self._risk_snapshot(day, event.time)
        actions, resynced = fill_checks(self.risk, self.broker, snapshot)
        if resynced:
            self._reconciled = False     # after every reconnect: reconcile again before trading
        if not self.paper and not self._reconciled:
            self.reconcile(day, event)
        actions.extend(price_check(self.risk, self.risk_view.risk_instrument, snapshot))
        self._carry_out(day, event, tuple(actions))

    def _carry_out(self, day: TradingDay, event: MarketEvent, actions: Sequence[Any]) -> None:
        """Flatten first (closing a position cancels its bracket legs), then cancel what still works."""
        reason = flatten_reason(actions)
        if reason is not None:
            self._flatten_positions(day, event, event.time, reason)
        cancel_orders(self.broker, actions)

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
        ours = set(held["signal_id"])
        exits, fill_of = liquidation_exits([(s, f) for s, f in liquidated if s in ours], day.window_close)
        log.warning("reconciliation: %s liquidated at %s before this run recorded it; exit recorded at the fill",
                    ", ".join(exits["signal_id"]), self.broker.name)
        self.exits.record(day.label, event.index, with_follow_columns(held), exits, list(fill_of.values()),
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
        followers = held(self._open_followers(day))
        if followers.empty:
            return
        if not self.exits.flatten(day.label, event.index, with_follow_columns(followers), at, reason,
                                  lambda: self._day_bars(day)):
            self._reconciled = False

    def _day_bars(self, day: TradingDay) -> PricePath:
        if self.feed.mode == "live" or day.label not in self._bars:
            self._bars[day.label] = self.feed.bars(day)
        return self._bars[day.label]

    # --- following open signals ------------------------------------------------------------

    def _open_followers(self, day: TradingDay) -> pd.DataFrame:
        return queries.open_followers(self.ledger, day.label)

    def _follow(self, day: TradingDay, event: MarketEvent, until: pd.Timestamp) -> None:
        """Close every open signal that reached its target or stop by `until`
        (`execution/exit_recording.py`: the paper broker walked along the day's bars, a real
        broker's stop and target fills)."""
        followers = self._open_followers(day)
        if followers.empty:
            return
        self.exits.follow(day.label, event.index, with_follow_columns(followers), lambda: self._day_bars(day), until)

    def _broker_flatten(self, day: TradingDay, event: MarketEvent, held: pd.DataFrame, reason: str) -> None:
        """Flatten at a real broker and record each position's exit at its liquidation fill."""
        if not self.exits.broker_flatten(day.label, event.index, held, reason):
            self._reconciled = False

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
            positions = held(with_follow_columns(followers))
            if not positions.empty:
                self._broker_flatten(day, event, positions, EXIT_SESSION_END)
            followers = self._open_followers(day)
            if not followers.empty:
                followers = with_follow_columns(followers)
                self.exits.record(day.label, event.index, followers,
                                  close_at_session_end(followers, self._day_bars(day), day.window_close), [])
        elif not followers.empty:
            followers = with_follow_columns(followers)
            exits = close_at_session_end(followers, self._day_bars(day), day.window_close)
            self.exits.hand_over(followers)
            self.broker.mark(self._day_bars(day), day.window_close)
            self.broker.flatten()
            self.exits.record(day.label, event.index, followers, exits,
                              list(self.broker.fills(since=day.window_close)))
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


def _missing_share(chain: OptionsChain) -> float | None:
    frame = chain.frame
    if frame.empty:
        return None
    columns = ["bid", "ask", "volume", "open_interest"]
    return float(frame[columns].isna().to_numpy().mean())


