"""Every fault of the Tradovate stand-in, injected while a limited-live replay trades through it.

Each test runs the command's path (`start_run` with `--limited-live --broker tradovate`, or the
command line itself) over one sample day; the fault is injected when the replay sends its first
bracket (or before the start, for the login faults). Throughout the run, every clock step checks
that no position at the stand-in is without its working stop; at the end the books must be equal:
no client order id sent twice, the stand-in flat with nothing working, the ledger's fills the
stand-in's fills, the risk engine never halted (docs/limited_live.md has the table of what each
fault does).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import pytest

from tasks.options_trading_system.analysis_engine.strategies.shadow_cli import main
from tasks.options_trading_system.analysis_engine.strategies.shadow_run import (RunHooks, ShadowRunRequest,
                                                                                start_run)
from tests.vendor_servers.base import Fault, Request
from tests.vendor_servers.tradovate_server import TradovateFault, TradovateStandIn

from .brokers.test_tradovate_faults import assert_protected
from .test_limited_live_tradovate import CREDENTIALS, replay_standin  # noqa: F401 (fixture)
from .tradovate_replay import assert_books_equal, ledger_rows, standin_profile

PLACE = "/v1/order/placeoso"
SETTLE_LIMIT_S = 8.0   # below the stand-in clock's 10 s request timeout


class Watch:
    """Injects a fault when the first bracket arrives and checks protection at every clock step."""

    def __init__(self, server: TradovateStandIn, inject: Callable[[], None] | None = None,
                 settled: Callable[[], bool] | None = None) -> None:
        self.server, self.inject, self.settled = server, inject, settled
        self.unprotected: list[str] = []
        self.injected = False
        server.on_request = self

    def __call__(self, request: Request) -> None:
        if request.path == PLACE and not self.injected and self.inject is not None:
            self.injected = True
            self.inject()
        if request.path == "/standin/advance":
            if self.injected and self.settled is not None:
                # the replay's clock waits (bounded) until the fault has taken its effect
                deadline = time.monotonic() + SETTLE_LIMIT_S
                while not self.settled() and time.monotonic() < deadline:
                    time.sleep(0.02)
                self.settled = None
            try:
                assert_protected(self.server)
            except AssertionError as exc:
                self.unprotected.append(str(exc))


def run_day(recording: Path, tmp_path: Path, server: TradovateStandIn, **broker: object) -> Callable[..., list]:
    """One sample day through the stand-in (the command's path); a function running SQL on its ledger."""
    profile = standin_profile(tmp_path, server, **broker)
    result = start_run(ShadowRunRequest(profile=str(profile), replay=recording, days=1, output_dir=tmp_path,
                                        run_id="faulted", limited_live=True, broker="tradovate"), RunHooks())
    return ledger_rows(result.run_dir / "ledger.sqlite")


def faulted_day(recording: Path, tmp_path: Path, server: TradovateStandIn, inject: Callable[[], None], *,
                settled: Callable[[], bool] | None = None, **broker: object) -> Callable[..., list]:
    """`run_day` with `inject` called at the first bracket; the fault was injected, no position was
    ever without its stop, and the books are equal at the end."""
    watch = Watch(server, inject, settled)
    rows = run_day(recording, tmp_path, server, **broker)
    assert watch.injected and not watch.unprotected, watch.unprotected
    assert_books_equal(rows, server)
    return rows


def entries(rows: Callable[..., list]) -> int:
    return rows("SELECT COUNT(*) FROM orders WHERE purpose = 'entry' AND status = 'filled'")[0][0]


def test_a_refused_login_exits_2_naming_the_variables_and_a_resume_then_trades(
        small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path, capsys) -> None:
    server = replay_standin
    profile = standin_profile(tmp_path, server)
    server.inject(TradovateFault.BAD_LOGIN)
    args = ["--limited-live", "--broker", "tradovate", "--profile", str(profile), "--output-dir", str(tmp_path),
            "--no-progress", "-q"]
    assert main(args + ["--replay", str(small_recording), "--days", "1", "--run-id", "login"]) == 2
    err = capsys.readouterr().err
    assert "TRADOVATE_" in err and CREDENTIALS["TRADOVATE_PASSWORD"] not in err
    assert server.count(PLACE) == 0 and not server.engine.orders           # nothing was sent
    assert main(args + ["--resume", "login"]) == 0                          # the login is fixed: it trades
    rows = ledger_rows(tmp_path / "runs" / "login" / "ledger.sqlite")
    assert entries(rows) >= 1
    assert_books_equal(rows, server)


def test_a_penalty_ticket_is_waited_out_once_and_the_login_resent_with_it(
        small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path) -> None:
    server = replay_standin
    server.penalty_s = 0.3
    server.inject(TradovateFault.PENALTY)
    rows = run_day(small_recording, tmp_path, server)
    logins = [json.loads(r.body) for r in server.requests if r.path == "/v1/auth/accesstokenrequest"]
    assert len(logins) == 2 and "p-ticket" not in logins[0] and logins[1].get("p-ticket")
    assert entries(rows) >= 1
    assert_books_equal(rows, server)


def test_a_token_expired_early_mid_run_is_replaced_and_the_bracket_placed_once(
        small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path) -> None:
    server = replay_standin
    rows = faulted_day(small_recording, tmp_path, server,
                       lambda: server.inject(TradovateFault.TOKEN_EXPIRED, path_prefix=PLACE))
    assert server.count("/v1/auth/renewaccesstoken") >= 1
    assert server.count("/v1/auth/accesstokenrequest") == 2                      # renewal refused: a new login
    assert server.count(PLACE) == entries(rows) + 1                              # the 401 was not carried out


@pytest.mark.parametrize("fault", [TradovateFault.DROP_SOCKET, TradovateFault.MISSED_HEARTBEATS])
def test_a_lost_websocket_reconnects_resyncs_and_reconciles(
        fault: TradovateFault, small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path,
        caplog) -> None:
    server = replay_standin

    def lose_socket() -> None:
        server.inject(fault)
        if fault is TradovateFault.MISSED_HEARTBEATS:   # the next connection goes silent: cut this one
            server.cut_websockets(market_data=False)
    connections = 2 if fault is TradovateFault.DROP_SOCKET else 3   # the silent one is given up too
    with caplog.at_level("INFO"):
        faulted_day(small_recording, tmp_path, server, lose_socket,
                    settled=lambda: server.ws_connections >= connections, server_timeout_s=0.6)
    assert server.ws_connections >= connections
    assert "reconciled with tradovate" in caplog.text


def test_a_rejected_bracket_is_recorded_with_the_brokers_reason_and_not_retried(
        small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path) -> None:
    server = replay_standin
    rows = faulted_day(small_recording, tmp_path, server,
                       lambda: server.inject(TradovateFault.REJECT, path_prefix=PLACE))
    rejected = rows("SELECT order_id, reason FROM orders WHERE status = 'rejected'")
    assert len(rejected) == 1 and "MaxPosLimitReached" in rejected[0][1]
    assert rows("SELECT COUNT(*) FROM positions WHERE signal_id || '/entry' = ?", (rejected[0][0],)) == [(0,)]
    assert server.count(PLACE) == entries(rows) + 1


def test_a_slow_answer_is_looked_up_not_resent(
        small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path) -> None:
    server = replay_standin
    server.slow_s = 2.0
    rows = faulted_day(small_recording, tmp_path, server,
                       lambda: server.inject(TradovateFault.SLOW, path_prefix=PLACE), request_timeout_s=0.8)
    assert server.count(PLACE) == entries(rows)                          # timed out, found, never resent
    assert server.count("/v1/command/list") >= 2


def test_http_500_on_a_placement_and_on_reads_is_checked_then_resent_once(
        small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path) -> None:
    server = replay_standin

    def fail() -> None:
        server.inject(Fault.HTTP_500, path_prefix=PLACE)              # not carried out: looked up, then resent
        server.inject(Fault.HTTP_500, times=2, path_prefix="/v1/fill/list")
    rows = faulted_day(small_recording, tmp_path, server, fail)
    assert server.count(PLACE) == entries(rows) + 1


def test_a_partly_filled_entry_keeps_what_filled_protected_and_cancels_the_rest(
        small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path) -> None:
    server = replay_standin
    profile = standin_profile(tmp_path, server, contracts=2)
    watch = Watch(server, lambda: server.inject(TradovateFault.PARTIAL_FILL, path_prefix=PLACE))
    result = start_run(ShadowRunRequest(profile=str(profile), replay=small_recording, days=1, output_dir=tmp_path,
                                        run_id="partial", limited_live=True, broker="tradovate"), RunHooks())
    rows = ledger_rows(result.run_dir / "ledger.sqlite")
    first = rows("SELECT o.order_id, o.quantity, f.quantity, p.quantity, o.reason FROM orders o "
                 "JOIN fills f ON f.order_id = o.order_id JOIN positions p ON p.signal_id = o.signal_id "
                 "WHERE o.purpose = 'entry' ORDER BY o.sim_time LIMIT 1")
    assert first[0][1:4] == (2, 1, 1) and "PARTIAL" in first[0][4]     # asked 2, 1 filled: a 1-lot position
    assert not watch.unprotected
    assert_books_equal(rows, server)


def test_an_order_not_placed_by_this_run_halts_at_the_start_naming_it(
        small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path) -> None:
    server = replay_standin
    engine = server.engine
    contract = engine.find_contract("MNQM5")
    engine.place(contract_id=contract["id"], action="Sell", qty=1, order_type="Limit", price=99_000.0,
                 stop_price=None, cl_ord_id="placed-by-hand-7")              # someone else's order, working
    rows = run_day(small_recording, tmp_path, server)
    (state, reason), = rows("SELECT state, reason FROM risk_state")
    assert state == "HALTED"
    assert "unknown order at the broker, not placed by this run: placed-by-hand-7" in reason
    assert server.count(PLACE) == 0                                        # halted before any bracket
