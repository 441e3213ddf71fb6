"""SIGKILL at several points of a limited-live replay through the Tradovate stand-in, then restart.

A real `run_shadow_trading.py --limited-live --broker tradovate --replay ...` process trades
against the stand-in served on 127.0.0.1 by this test. The test watches what the stand-in receives
and kills the process (os.kill(pid, SIGKILL)) at an exact point, seen from the broker's side:

1. the broker has taken the bracket (entry filled, stop and target working) but its answer has
   not reached the process (the placement's answer is held back), so the ledger has nothing;
2. the bracket is working and the ledger has committed it (killed at the next clock step);
3. the stop or target leg has just filled at the broker, before the process could record it;
4. the process has the broker's answer to a placement (the entry filled) but has not committed it;
5. the broker is liquidating the last position at the session's end, before the exit is recorded.

After each kill: no position at the stand-in without its working stop. Each restart is
`--resume RUN_ID`; at the end: the run completed, no client order id was sent twice, the
stand-in is flat with nothing working, and the ledger's fills are the stand-in's fills.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pandas as pd

from tests.vendor_servers.base import Fault, Request
from tests.vendor_servers.tradovate_server import TradovateFault, TradovateStandIn

from .brokers.test_tradovate_faults import assert_protected
from .test_limited_live_tradovate import CREDENTIALS, replay_standin  # noqa: F401 (fixture)
from .tradovate_replay import assert_books_equal, leg_fills, ledger_rows, standin_profile

PROJECT_ROOT = Path(__file__).resolve().parents[3]
RUN_ID = "killed"
PROCESS_LIMIT_S = 300.0     # one process of a 2-day replay, at the most (a loaded machine)
POLL_S = 0.02


class Run:
    """`run_shadow_trading.py` in a child process, and SIGKILL for it."""

    def __init__(self, tmp_path: Path, profile: Path, recording: Path) -> None:
        self.tmp_path, self.profile, self.recording = tmp_path, profile, recording
        self.process: subprocess.Popen | None = None
        self.killed = threading.Event()
        self.logs: list[Path] = []

    @property
    def ledger_path(self) -> Path:
        return self.tmp_path / "out" / "runs" / RUN_ID / "ledger.sqlite"

    def start(self, *, resume: bool) -> None:
        args = ["--resume", RUN_ID] if resume else ["--replay", str(self.recording), "--days", "2",
                                                     "--run-id", RUN_ID, "--broker", "tradovate"]
        env = {**os.environ, **CREDENTIALS, "PYTHONPATH": str(PROJECT_ROOT)}
        log = self.tmp_path / f"process-{len(self.logs) + 1}.log"
        self.logs.append(log)
        self.killed.clear()
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                [sys.executable, str(PROJECT_ROOT / "run_shadow_trading.py"), "--limited-live", "--profile",
                 str(self.profile), "--output-dir", str(self.tmp_path / "out"), "--no-progress", *args],
                cwd=PROJECT_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL now (from any thread); the process gets no chance to clean up."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.killed.set()

    def wait(self) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=PROCESS_LIMIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"the run did not end within {PROCESS_LIMIT_S:.0f} s:\n{self.log_tail()}")

    def wait_killed(self) -> None:
        code = self.wait()
        assert self.killed.is_set() and code == -signal.SIGKILL, \
            f"the process ended ({code}) before the kill point was reached:\n{self.log_tail()}"

    def log_tail(self) -> str:
        return self.logs[-1].read_text()[-3000:] if self.logs else ""

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        return ledger_rows(self.ledger_path)(sql, params)


def kill_on(server: TradovateStandIn, run: Run, when: Callable[[Request], bool], *, carry_out: bool = True) -> None:
    """Kill `run` when the stand-in receives a request for which `when` is true; unless
    `carry_out`, that request is then never carried out (it hangs until the stand-in stops)."""
    def hook(request: Request) -> None:
        if run.killed.is_set() or not when(request):
            return
        run.kill()
        server.on_request = None
        if not carry_out:
            server.inject(Fault.HANG, path_prefix=request.path)
    server.on_request = hook


def wait_until(condition: Callable[[], bool], what: str, run: Run, limit_s: float = PROCESS_LIMIT_S) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return
        if run.process is not None and run.process.poll() is not None:
            raise AssertionError(f"the process ended before {what}:\n{run.log_tail()}")
        time.sleep(POLL_S)
    raise AssertionError(f"{what}: not within {limit_s:.0f} s")


def test_sigkill_at_five_points_then_resume_leaves_no_duplicate_no_unprotected_position_and_equal_books(
        small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path) -> None:
    server = replay_standin
    profile = standin_profile(tmp_path, server, request_timeout_s=30)
    run = Run(tmp_path, profile, small_recording)

    # 1. the broker took the first bracket; its answer is held back (30 s), the process is killed meanwhile
    server.slow_s = 30.0
    server.inject(TradovateFault.SLOW, path_prefix="/v1/order/placeoso")
    run.start(resume=False)
    wait_until(lambda: bool(leg_fills(server, ("entry",))), "the first entry filled at the stand-in", run)
    run.kill()
    run.wait_killed()
    first = leg_fills(server, ("entry",))[0].rpartition("/")[0]
    assert run.rows("SELECT COUNT(*) FROM positions") == [(0,)]         # the ledger never heard of it
    assert run.rows("SELECT COUNT(*) FROM signals WHERE signal_id = ?", (first,)) == [(1,)]
    assert_protected(server)                                              # the broker holds the stop

    # 2. restart: the bracket is adopted; killed at the next clock step, with the bracket working
    def adopted(request: Request) -> bool:
        return request.path == "/standin/advance" and run.rows(
            "SELECT COUNT(*) FROM positions WHERE signal_id = ? AND status = 'open'", (first,)) == [(1,)]
    kill_on(server, run, adopted, carry_out=False)
    run.start(resume=True)
    run.wait_killed()
    order = run.rows("SELECT status, reason FROM orders WHERE order_id = ?", (f"{first}/entry",))
    assert order and order[0][0] == "filled" and order[0][1].startswith("ADOPTED")
    assert run.rows("SELECT state FROM risk_state") in ([], [("ACTIVE",)])   # adopted, not halted
    assert_protected(server)

    # 3. restart: killed as soon as the first stop or target fills at the stand-in, before it is recorded
    def exit_filled(request: Request) -> bool:
        if request.path != "/standin/advance":
            return False
        server.advance_to(_time(request))          # carried out here first, to see what it fills
        return bool(leg_fills(server, ("stop", "target")))
    kill_on(server, run, exit_filled)
    run.start(resume=True)
    run.wait_killed()
    exited = leg_fills(server, ("stop", "target"))
    assert [e.rpartition("/")[0] for e in exited] == [first]
    assert run.rows("SELECT status FROM positions WHERE signal_id = ?", (first,)) == [("open",)]  # not recorded yet
    assert all(p.net_pos == 0 for p in server.engine.positions.values())

    # 4. restart: killed once the process has the answer to its next placement (entry filled), before commit
    placed = server.count("/v1/order/placeoso")
    kill_on(server, run, lambda r: r.path == "/v1/order/list" and server.count("/v1/order/placeoso") > placed)
    run.start(resume=True)
    run.wait_killed()
    assert_protected(server)

    # 5. restart: killed inside the session-end flatten, as the broker liquidates the last position
    kill_on(server, run, lambda r: r.path == "/v1/order/liquidateposition")
    run.start(resume=True)
    run.wait_killed()
    deadline = time.monotonic() + 10
    while any(p.net_pos for p in server.engine.positions.values()) and time.monotonic() < deadline:
        time.sleep(POLL_S)                      # the liquidation is carried out after the kill
    assert all(p.net_pos == 0 for p in server.engine.positions.values())
    assert run.rows("SELECT COUNT(*) FROM positions WHERE status = 'open'") == [(1,)]   # not recorded yet

    # the last restart runs to the end
    run.start(resume=True)
    assert run.wait() == 0, run.log_tail()
    assert_books_equal(run.rows, server)
    assert run.rows("SELECT COUNT(*) FROM orders WHERE reason LIKE 'ADOPTED%'")[0][0] >= 2


def test_sigkill_after_a_partly_filled_placement_adopts_what_filled_and_cancels_the_rest(
        small_recording: Path, replay_standin: TradovateStandIn, tmp_path: Path) -> None:
    server = replay_standin
    profile = standin_profile(tmp_path, server, contracts=2, request_timeout_s=30)
    run = Run(tmp_path, profile, small_recording)
    server.slow_s = 30.0
    server.inject(TradovateFault.SLOW, path_prefix="/v1/order/placeoso")
    server.inject(TradovateFault.PARTIAL_FILL, path_prefix="/v1/order/placeoso")
    run.start(resume=False)
    wait_until(lambda: bool(leg_fills(server, ("entry",))), "the first entry filled in part at the stand-in", run)
    run.kill()
    run.wait_killed()
    first = leg_fills(server, ("entry",))[0].rpartition("/")[0]
    assert [p.net_pos for p in server.engine.positions.values() if p.net_pos] in ([1], [-1])   # 1 of 2 filled
    assert_protected(server)
    run.start(resume=True)
    assert run.wait() == 0, run.log_tail()
    (reason, quantity), = run.rows("SELECT o.reason, p.quantity FROM orders o JOIN positions p "
                                   "ON p.signal_id = o.signal_id WHERE o.order_id = ?", (f"{first}/entry",))
    assert reason.startswith("ADOPTED") and "the rest, still working, cancelled" in reason and quantity == 1
    assert_books_equal(run.rows, server)


def _time(request: Request) -> pd.Timestamp:
    """The simulated time a `/standin/advance` request moves the clock to."""
    ts = pd.Timestamp(json.loads(request.body)["time"])
    return ts if ts.tzinfo else ts.tz_localize("UTC")
