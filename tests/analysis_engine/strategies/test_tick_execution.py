"""The tick-execution orchestrator end to end on a small generated multi-day tick recording:
replay and streaming write the same ledger, exits happen on ticks, the guards' refusals are
recorded, and `run_shadow_trading.py --tick` runs every strategy and writes per-strategy reports."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.execution.broker import Broker
from tasks.options_trading_system.analysis_engine.strategies.execution.orders import (
    AccountSnapshot, BracketAck, BrokerEvent, EventKind, Fill, Order, OrderState, OrderStatus, OrderType, Position,
    Purpose, Side)
from tasks.options_trading_system.analysis_engine.strategies.feeds.term_structure_source import TermStructureSource
from tasks.options_trading_system.analysis_engine.strategies.shadow_cli import main
from tasks.options_trading_system.analysis_engine.strategies.sizing import build_sizer
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures import build_strategies
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.aggregator import (
    AggregatorSettings, SignalAggregator)
from tasks.options_trading_system.analysis_engine.strategies.strategies_futures.engine import (
    SizingInputs, TickDecisionEngine)
from tasks.options_trading_system.analysis_engine.strategies.tick_judging import recorded_sessions
from tasks.options_trading_system.analysis_engine.term_structure import TermStructure
from tasks.options_trading_system.analysis_engine.strategies.tick_config import TickExecutionConfig
from tasks.options_trading_system.analysis_engine.strategies.tick_execution_orchestrator import (
    TickExecutionOrchestrator)
from tasks.options_trading_system.config_manager import load_profile
from tasks.options_trading_system.data_ingestion.ticks.dbn_ticks import read_ticks
from tasks.options_trading_system.data_ingestion.ticks.feed import ReplayTickFeed, TickFeed
from tasks.options_trading_system.output_generation import shadow_report_writer, tick_report_writer
from tasks.options_trading_system.sample_data.ticks import TickSampleParams, write_sample_ticks
from tasks.options_trading_system.state.ledger import RUN_RUNNING, Ledger, dump_state

DAYS = ["2025-06-02", "2025-06-03", "2025-06-04", "2025-06-05"]
SMALL = TickSampleParams(days=len(DAYS), trades_per_day=20_000, seed=11, snapshot_minutes=30)


@pytest.fixture(scope="module")
def ticks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ticks") / "sample"
    write_sample_ticks(folder, SMALL, with_chains=True)   # + options/: the same days' chain snapshots
    return folder


def config(**overrides: Any) -> TickExecutionConfig:
    return TickExecutionConfig.from_profile(load_profile("tick_execution", env={},
                                                         overrides={"tick_execution": overrides}))


def new_ledger(path: Path, ticks_dir: Path, **kwargs: Any) -> Ledger:
    """A ledger with its run row, as `tick_run` creates it."""
    ledger = Ledger(path, **kwargs)
    with ledger.transaction(day=None, event_index=None, sim_time=None) as tx:
        tx.insert("runs", {"run_id": "t", "mode": "replay", "profile": "tick_execution", "config_json": "{}",
                           "data_dir": str(ticks_dir), "price_path": None, "start_date": DAYS[0], "days": len(DAYS),
                           "trading_days_json": json.dumps(DAYS), "status": RUN_RUNNING, "status_reason": "",
                           "status_at": None})
    return ledger


def run_orchestrator(path: Path, ticks_dir: Path, mode: str, cfg: TickExecutionConfig) -> Ledger:
    ledger = new_ledger(path, ticks_dir)
    outcome = TickExecutionOrchestrator(config=cfg, ledger=ledger, feed=ReplayTickFeed(ticks_dir), days=DAYS,
                                        mode=mode).run()
    assert outcome.status == "completed" and outcome.days_closed == len(DAYS)
    return ledger


def test_replay_and_streaming_write_the_same_ledger(tmp_path: Path, ticks_dir: Path) -> None:
    cfg = config(exits={"trail_points": 6.0})
    paths = {}
    for mode in ("replay", "stream"):
        paths[mode] = tmp_path / f"{mode}.sqlite"
        ledger = run_orchestrator(paths[mode], ticks_dir, mode, cfg)
        trades = ledger.scalar("SELECT COUNT(*) FROM outcomes WHERE position_id IS NOT NULL")
        assert trades > 0, "the small recording should trade at least once"
        ledger.close()
    replay, stream = dump_state(paths["replay"]), dump_state(paths["stream"])
    assert replay["signals"] and replay["orders"] and replay["fills"]
    for table in replay:
        assert replay[table] == stream[table], table


def test_exits_happen_on_the_first_tick_through_a_level(tmp_path: Path, ticks_dir: Path) -> None:
    ledger = run_orchestrator(tmp_path / "exits.sqlite", ticks_dir, "replay", config())
    positions = ledger.frame("SELECT p.*, f.price AS exit_fill FROM positions p "
                             "JOIN fills f ON f.order_id = p.signal_id || '/exit' ORDER BY entry_time")
    assert len(positions) and set(positions["exit_reason"]) <= {"stop", "target", "session_end"}
    day_ticks = {p.name[5:13]: read_ticks(p) for p in sorted(ticks_dir.glob("*.dbn.zst"))}
    for row in positions.to_dict("records"):
        ticks = day_ticks[row["day"].replace("-", "")]
        entry_ns = pd.Timestamp(row["entry_time"]).value
        exit_ns = pd.Timestamp(row["exit_time"]).value
        sign = 1.0 if row["direction"] == "LONG" else -1.0
        i0 = int(np.searchsorted(ticks.ts_ns, entry_ns, side="left"))
        after = slice(i0 + 1, None)
        crossed = ((ticks.price[after] - row["stop"]) * sign <= 0) | ((ticks.price[after] - row["target"]) * sign >= 0)
        hit = np.flatnonzero(crossed)
        if row["exit_reason"] == "session_end":
            assert hit.size == 0 or ticks.ts_ns[after][hit[0]] // 1000 >= exit_ns // 1000
            continue
        j = i0 + 1 + int(hit[0])
        # the first tick at or through a level, no bar in between (ledger times keep microseconds)
        assert ticks.ts_ns[j] // 1000 == exit_ns // 1000
        if row["exit_reason"] == "target":
            assert row["exit_fill"] == pytest.approx(row["target"])
        else:                                    # a market exit at that tick's price, paying one tick
            assert row["exit_fill"] == pytest.approx(ticks.price[j] - sign * 0.25)
    outcomes = ledger.frame("SELECT exit_reason, pnl_usd, costs_usd FROM outcomes")
    assert outcomes["costs_usd"].gt(0).all()
    ledger.close()


def test_guards_refuse_an_oversize_order_and_the_refusal_is_recorded(tmp_path: Path, ticks_dir: Path) -> None:
    cfg = config(sizing={"name": "fixed", "settings": {"contracts": 3}})
    ledger = run_orchestrator(tmp_path / "oversize.sqlite", ticks_dir, "replay", cfg)
    orders = ledger.frame("SELECT quantity, status, reason FROM orders WHERE purpose = 'entry'")
    assert len(orders) and (orders["status"] == "refused").all()
    assert orders["quantity"].eq(3).all()
    assert orders["reason"].str.startswith("MAX_POSITION").all()
    assert "max_position" in orders["reason"].iloc[0]
    refusals = ledger.rows("SELECT guard, code FROM risk_events WHERE kind = 'refusal'")
    assert {(r["guard"], r["code"]) for r in refusals} == {("max_position", "MAX_POSITION")}
    assert ledger.scalar("SELECT COUNT(*) FROM positions") == 0
    ledger.close()


def test_cli_tick_replay_runs_every_strategy_and_writes_strategy_reports(tmp_path: Path, ticks_dir: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["--tick", "--replay", str(ticks_dir), "--days", "4", "--output-dir", str(out), "--run-id", "t1"],
                reports=shadow_report_writer, tick_reports=tick_report_writer)
    assert code == 0
    printed = capsys.readouterr().out
    assert "SAMPLE DATA" in printed and "walk-forward" in printed
    folder = out / "runs" / "t1" / "strategies"
    document = json.loads((folder / "strategies.json").read_text())
    assert document["is_sample"] is True
    assert set(document["strategies"]) == {"mean_reversion", "momentum", "volatility_breakout", "volatility_carry"}
    for name, s in document["strategies"].items():
        assert (folder / f"{name}.json").is_file() and (folder / f"{name}.html").is_file()
        wf = s["walk_forward"]
        assert wf["available"] and wf["in_sample_days"] == DAYS[:2] and wf["out_of_sample_days"] == DAYS[2:]
        assert set(wf["out_of_sample"]) >= {"sharpe", "sortino", "calmar", "max_drawdown_usd", "profit_factor",
                                            "win_rate", "average_slippage_points"}
        assert isinstance(wf["meets_bar"], bool)
    assert "SAMPLE DATA" in (folder / "strategies.html").read_text()
    # the volatility carry read the options' term structure (options/ beside the ticks) and decided
    carry = document["strategies"]["volatility_carry"]
    assert carry["run"]["intents"] > 0 and "chain snapshot(s)" in carry["notes"][0]
    report = json.loads((folder / "volatility_carry.json").read_text())["strategies"]["volatility_carry"]
    assert report["run"]["intents"] == carry["run"]["intents"] and "chain snapshot" in (folder / "volatility_carry.html").read_text()
    ledger = Ledger.open_existing(out / "runs" / "t1" / "ledger.sqlite")
    rows = ledger.rows("SELECT evidence_json FROM signals WHERE source = 'volatility_carry'")
    ledger.close()
    assert len(rows) == carry["run"]["intents"]
    for row in rows:   # each names the snapshot it read: taken at or before the bar's end
        evidence = json.loads(row["evidence_json"])
        snapshot = pd.Timestamp(evidence["rule"].split("chain snapshot of ")[1].rstrip(")"))
        assert snapshot <= pd.Timestamp(evidence["bar_end"]) < snapshot + pd.Timedelta(minutes=60)
    assert (out / "runs" / "t1" / "final_results.json").is_file()
    assert list((out / DAYS[0] / "paper_trading").glob("daily_report_t1.json"))
    # the run resumes as completed without doing anything twice
    assert main(["--tick", "--resume", "t1", "--output-dir", str(out)], reports=shadow_report_writer,
                tick_reports=tick_report_writer) == 0
    # the emergency stop: the run's risk engine halted, a flatten queued for its process
    assert main(["--tick", "--flatten", "t1", "--output-dir", str(out)]) == 0
    ledger = Ledger.open_existing(out / "runs" / "t1" / "ledger.sqlite")
    assert ledger.rows("SELECT command, status FROM controls") == [{"command": "flatten", "status": "pending"}]
    assert ledger.scalar("SELECT state FROM risk_state") == "HALTED"
    ledger.close()


def test_volatility_carry_never_reads_a_snapshot_taken_after_the_bar(ticks_dir: Path) -> None:
    """One contango snapshot at 12:07 New York on the second day: the carry's 30m bars ending at 12:00
    must not see it (a look-ahead would decide there); the 12:30 bar is the first that may, and
    decides LONG; from 13:30 on the snapshot is older than max_age_minutes (60) and nothing follows."""
    at = pd.Timestamp(f"{DAYS[1]} 12:07", tz="America/New_York")
    source = TermStructureSource([TermStructure(at.value, pd.Timestamp(DAYS[1]), 0.15, pd.Timestamp(DAYS[2]), 0.20)])
    cfg = config()
    engine = TickDecisionEngine(build_strategies({"volatility_carry": {"period": "30m"}}),
                                SignalAggregator(AggregatorSettings()), build_sizer("fixed"),
                                sizing=SizingInputs(equity_usd=100_000.0, multiplier=2.0), term_structure=source.at)
    intents = [d.intent for s in recorded_sessions(ticks_dir, cfg, DAYS)
               for d in engine.replay(s.ts_ns, s.price, s.size, s.end_ns) if d.intent is not None]
    assert [(pd.Timestamp(i.time_ns, tz="UTC").tz_convert("America/New_York").strftime("%Y-%m-%d %H:%M"),
             i.direction) for i in intents] == [(f"{DAYS[1]} 12:30", "LONG")]
    assert "contango: next ATM IV 20.00% vs front 15.00%" in intents[0].reason


@pytest.mark.parametrize("argv", [
    ["--tick", "--days", "0"],
    ["--tick", "--replay", "DIR", "--limited-live"],
    ["--tick", "--replay", "DIR", "--broker", "ib"],
    ["--tick", "--replay", "DIR", "--broker", "tradovate"],
    ["--tick", "--replay", "MISSING"],
    ["--tick", "--replay", "DIR", "--profile", "no_such_profile"],
])
def test_cli_tick_bad_arguments_exit_2_before_creating_anything(argv: list[str], tmp_path: Path,
                                                                ticks_dir: Path) -> None:
    argv = [str(ticks_dir) if a == "DIR" else str(tmp_path / "missing") if a == "MISSING" else a for a in argv]
    try:
        code = main(argv + ["--output-dir", str(tmp_path / "out")], reports=shadow_report_writer,
                    tick_reports=tick_report_writer)
    except SystemExit as exc:          # argparse refuses the argument itself
        code = exc.code
    assert code == 2
    assert not (tmp_path / "out" / "runs").exists()


@pytest.mark.parametrize("stop_at", [0.3, 0.7])
def test_a_replay_stopped_anywhere_and_resumed_ends_with_the_same_ledger(tmp_path: Path, ticks_dir: Path,
                                                                        stop_at: float) -> None:
    cfg = config()
    whole = run_orchestrator(tmp_path / "whole.sqlite", ticks_dir, "replay", cfg)
    total = whole.transactions()
    whole.close()
    path = tmp_path / "stopped.sqlite"
    stop = threading.Event()
    ledger = new_ledger(path, ticks_dir, after_commit=lambda n: stop.set() if n >= int(total * stop_at) else None)
    first = TickExecutionOrchestrator(config=cfg, ledger=ledger, feed=ReplayTickFeed(ticks_dir), days=DAYS,
                                      mode="replay", stop=stop).run()
    assert first.status == "interrupted"
    ledger.close()
    resumed = Ledger(path)
    assert TickExecutionOrchestrator(config=cfg, ledger=resumed, feed=ReplayTickFeed(ticks_dir), days=DAYS,
                                     mode="replay").run().status == "completed"
    resumed.close()
    ignore = {"progress": ["transactions"]}
    assert dump_state(path, ignore_columns=ignore) == dump_state(tmp_path / "whole.sqlite", ignore_columns=ignore)


class MarketBroker(Broker):
    """A broker with its own market (the ticks the test shows it): it fills entries at the last
    trade plus a tick, works each bracket's stop and target itself and reports their fills as
    events, as a real broker holding an order-sends-order does."""

    name = "market"

    def __init__(self) -> None:
        self.price, self.now = float("nan"), pd.Timestamp(0, tz="UTC")
        self.working: dict[str, Any] = {}
        self.all_fills: list[Fill] = []
        self.queue: list[BrokerEvent] = []

    def market(self, ts_ns: int, price: float) -> None:
        self.price, self.now = price, pd.Timestamp(ts_ns, tz="UTC")
        for sid, bracket in list(self.working.items()):
            long = bracket.entry.side is Side.BUY
            stop, target = bracket.stop.stop_price, bracket.target.limit_price
            if (price - stop) * (1 if long else -1) <= 0:
                self._fill(bracket.stop, price - (0.25 if long else -0.25))
            elif (price - target) * (1 if long else -1) >= 0:
                self._fill(bracket.target, target)
            else:
                continue
            del self.working[sid]

    def _fill(self, order: Any, price: float) -> Fill:
        fill = Fill(f"{order.client_order_id}/fill", order.client_order_id, order.instrument, order.side,
                    order.quantity, price, self.now, commission_usd=0.62 * order.quantity)
        self.all_fills.append(fill)
        self.queue.append(BrokerEvent(EventKind.FILL, self.now, fill=fill))
        return fill

    def connect(self) -> None: ...

    def close(self) -> None: ...

    def account(self) -> AccountSnapshot:
        return AccountSnapshot("market", self.now)

    def place_bracket(self, bracket: Any) -> BracketAck:
        entry = bracket.entry
        fill = self._fill(entry, self.price + (0.25 if entry.side is Side.BUY else -0.25))
        self.working[entry.signal_id] = bracket
        state = OrderState(entry.client_order_id, OrderStatus.FILLED, average_price=fill.price)
        return BracketAck(state, OrderState(bracket.stop.client_order_id, OrderStatus.WORKING),
                          OrderState(bracket.target.client_order_id, OrderStatus.WORKING))

    def cancel(self, client_order_id: str) -> OrderState:
        return OrderState(client_order_id, OrderStatus.CANCELLED)

    def flatten(self, instrument: str | None = None) -> list[OrderState]:
        out = []
        for sid, bracket in list(self.working.items()):
            entry = bracket.entry
            exit_order = Order(f"{sid}/exit", sid, entry.instrument, entry.side.opposite, entry.quantity,
                               OrderType.MARKET, Purpose.EXIT)
            self._fill(exit_order, self.price - (0.25 if entry.side is Side.BUY else -0.25))
            out.append(OrderState(exit_order.client_order_id, OrderStatus.FILLED))
            del self.working[sid]
        return out

    def positions(self) -> list[Position]:
        return []

    def working_orders(self) -> list[OrderState]:
        return []

    def fills(self, since: pd.Timestamp | None = None) -> list[Fill]:
        return list(self.all_fills)

    def events(self) -> list[BrokerEvent]:
        drained, self.queue = self.queue, []
        return drained


class MarketFeed(TickFeed):
    """The recording's ticks, shown to the broker's market as they are delivered."""

    name = "replay"

    def __init__(self, folder: Path, broker: MarketBroker) -> None:
        super().__init__()
        self.inner, self.broker = ReplayTickFeed(folder), broker

    def __iter__(self):
        for tick in self.inner:
            self.broker.market(tick.ts_ns, tick.price)
            yield tick

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("trail", [0.0, 6.0])
def test_a_broker_holding_the_brackets_closes_positions_with_its_own_fills(tmp_path: Path, ticks_dir: Path,
                                                                          trail: float) -> None:
    broker = MarketBroker()
    ledger = new_ledger(tmp_path / "broker.sqlite", ticks_dir)
    outcome = TickExecutionOrchestrator(config=config(exits={"trail_points": trail}), ledger=ledger,
                                        feed=MarketFeed(ticks_dir, broker), days=DAYS, mode="stream",
                                        broker=broker).run()
    assert outcome.status == "completed"
    ours = ledger.rows("SELECT f.price, f.quantity, o.side, o.purpose FROM fills f "
                       "JOIN orders o ON o.order_id = f.order_id ORDER BY f.sim_time, f.fill_id")
    reasons = {r["exit_reason"] for r in ledger.rows("SELECT exit_reason FROM positions")}
    assert ledger.scalar("SELECT COUNT(*) FROM positions WHERE status = 'open'") == 0 and not broker.working
    ledger.close()
    assert len(ours) >= 2 and reasons <= {"stop", "target", "trailing_stop", "session_end"}
    if trail:                                           # a trailed stop is ours to liquidate
        assert "trailing_stop" in reasons
    else:                                               # closed by the broker's own legs
        assert {"stop", "target"} & reasons
    # every fill in the ledger is one the broker made, at its price
    assert sorted((round(r["price"], 4), r["quantity"], r["side"]) for r in ours) == \
        sorted((round(f.price, 4), f.quantity, f.side.value) for f in broker.all_fills)


@pytest.mark.parametrize("section, named", [
    ({"strategies": {"momentum": {"speed": 3}}}, "tick_execution.strategies.momentum"),
    ({"strategies": {"momentum": {"fast": 30}}}, "tick_execution.strategies.momentum"),
    ({"sizing": {"name": "kelly", "settings": {"fraction": 2}}}, "tick_execution.sizing.settings"),
    ({"walk_forward": {"candidates": {"momentum": [{"period": "2h"}]}}},
     "tick_execution.walk_forward.candidates.momentum[0]"),
    ({"session": {"start": "16:00", "end": "09:30"}}, "tick_execution.session"),
    ({"term_structure": {"chains": "no_such_folder"}}, "tick_execution.term_structure.chains"),
])
def test_a_bad_tick_setting_exits_2_naming_its_key(section: dict, named: str, tmp_path: Path, ticks_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "bad.json"
    profile.write_text(json.dumps({"description": "bad", "extends": "tick_execution", "tick_execution": section}))
    code = main(["--tick", "--replay", str(ticks_dir), "--profile", str(profile), "--output-dir", str(tmp_path / "o")],
                reports=shadow_report_writer, tick_reports=tick_report_writer)
    assert code == 2 and named in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_halt_control_refuses_every_entry_and_is_recorded_as_applied(tmp_path: Path, ticks_dir: Path) -> None:
    ledger = new_ledger(tmp_path / "halted.sqlite", ticks_dir)
    ledger.request_control("halt", reason="test halt", requested_by="dashboard",
                           requested_at=pd.Timestamp("2025-06-02T13:00Z"))
    TickExecutionOrchestrator(config=config(), ledger=ledger, feed=ReplayTickFeed(ticks_dir), days=DAYS,
                              mode="replay").run()
    entries = ledger.frame("SELECT status, reason FROM orders WHERE purpose = 'entry'")
    assert len(entries) and (entries["status"] == "refused").all() and entries["reason"].str.startswith("HALTED").all()
    assert ledger.rows("SELECT status, applied_at FROM controls")[0]["status"] == "applied"
    assert ledger.scalar("SELECT COUNT(*) FROM positions") == 0
    ledger.close()


def test_a_broker_holding_what_the_ledger_does_not_halts_the_run_at_start(tmp_path: Path, ticks_dir: Path) -> None:
    class Stray(MarketBroker):
        def positions(self) -> list[Position]:
            return [Position("MNQM5", 1, 21_500.0)]     # someone traded the account by hand

    broker = Stray()
    ledger = new_ledger(tmp_path / "stray.sqlite", ticks_dir)
    TickExecutionOrchestrator(config=config(), ledger=ledger, feed=MarketFeed(ticks_dir, broker), days=DAYS,
                              mode="stream", broker=broker).run()
    state = ledger.rows("SELECT state, reason FROM risk_state")[0]
    assert state["state"] == "HALTED" and "net position: ledger +0, broker +1" in state["reason"]
    entries = ledger.frame("SELECT status, reason FROM orders WHERE purpose = 'entry'")
    assert len(entries) and entries["reason"].str.startswith("HALTED").all()
    ledger.close()
