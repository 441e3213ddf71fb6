"""The shadow-trading ledger: one SQLite file (WAL) per run, the source of truth for every figure.

Every state change is one transaction, and every transaction also moves the run's cursor
(`progress`: day, event index, simulated time, transaction count), so after a crash the run
resumes at the event it was in and re-derives the rest from these rows. Rows carry simulated
(market) times only, and ids are built from the day and the event index, so a replay gives the
same rows every time (the run's own name aside: the default run id carries its wall-clock start).
Wall-clock measurements (latency, CPU, memory, process sessions) live in the `perf_*` tables,
which are the only tables a "same ledger" comparison leaves out.

Times are text, UTC, fixed width: `2023-11-20T14:45:00.000000Z` (sorts as time). Missing
numbers are NULL (never 0). The schema is documented in docs/shadow_trading.md.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import InputFileError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
LEDGER_FILE = "ledger.sqlite"
PERF_PREFIX = "perf_"

RUN_RUNNING = "running"
RUN_INTERRUPTED = "interrupted"
RUN_COMPLETED = "completed"
RUN_FAILED = "failed"

CONTROL_HALT = "halt"
CONTROL_RESUME = "resume"
CONTROL_STOP = "stop"
#: the emergency stop: halt the risk engine, cancel every working order, flatten every position
CONTROL_FLATTEN = "flatten"
CONTROL_COMMANDS = (CONTROL_HALT, CONTROL_RESUME, CONTROL_STOP, CONTROL_FLATTEN)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, mode TEXT NOT NULL, profile TEXT NOT NULL, config_json TEXT NOT NULL,
    data_dir TEXT, price_path TEXT, start_date TEXT, days INTEGER NOT NULL, trading_days_json TEXT NOT NULL,
    status TEXT NOT NULL, status_reason TEXT NOT NULL DEFAULT '', status_at TEXT);
CREATE TABLE IF NOT EXISTS progress (
    id INTEGER PRIMARY KEY CHECK (id = 1), day TEXT, event_index INTEGER, sim_time TEXT,
    transactions INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS observations (
    event_key TEXT PRIMARY KEY, day TEXT NOT NULL, event_index INTEGER NOT NULL, sim_time TEXT NOT NULL,
    kind TEXT NOT NULL, input TEXT NOT NULL, halted INTEGER NOT NULL, contracts INTEGER, quarantined INTEGER,
    missing_share REAL, underlying_price REAL, price REAL, price_staleness_s REAL, signals INTEGER NOT NULL,
    notes TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS signals (
    signal_id TEXT PRIMARY KEY, event_key TEXT NOT NULL, day TEXT NOT NULL, sim_time TEXT NOT NULL,
    source TEXT NOT NULL, algorithm TEXT NOT NULL, traded_source INTEGER NOT NULL, instrument TEXT NOT NULL,
    contract TEXT, strike REAL, option_right TEXT, direction TEXT NOT NULL, entry_reference REAL,
    target REAL NOT NULL, stop REAL NOT NULL, confidence REAL, tier TEXT, expected_value_points REAL,
    evidence_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS validations (
    signal_id TEXT PRIMARY KEY REFERENCES signals(signal_id), score REAL, passed INTEGER NOT NULL,
    false_positive INTEGER NOT NULL, technical REAL, market_context REAL, time_of_day REAL, history REAL,
    reasons_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY, signal_id TEXT NOT NULL REFERENCES signals(signal_id), day TEXT NOT NULL,
    sim_time TEXT NOT NULL, instrument TEXT NOT NULL, side TEXT NOT NULL, quantity INTEGER NOT NULL,
    order_type TEXT NOT NULL, purpose TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS fills (
    fill_id TEXT PRIMARY KEY, order_id TEXT NOT NULL REFERENCES orders(order_id), day TEXT NOT NULL,
    sim_time TEXT NOT NULL, price REAL, quantity INTEGER NOT NULL, reference_price REAL,
    slippage_points REAL NOT NULL, commission_usd REAL NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    position_id TEXT PRIMARY KEY, signal_id TEXT NOT NULL UNIQUE REFERENCES signals(signal_id),
    source TEXT NOT NULL, day TEXT NOT NULL, instrument TEXT NOT NULL, contract TEXT, direction TEXT NOT NULL,
    quantity INTEGER NOT NULL, multiplier REAL NOT NULL, entry_time TEXT NOT NULL, entry_price REAL,
    target REAL NOT NULL, stop REAL NOT NULL, option_strike REAL, option_right TEXT, option_iv REAL,
    option_expiration TEXT, status TEXT NOT NULL, exit_time TEXT, exit_price REAL, exit_reason TEXT,
    exit_price_origin TEXT);
CREATE TABLE IF NOT EXISTS outcomes (
    signal_id TEXT PRIMARY KEY REFERENCES signals(signal_id), position_id TEXT, day TEXT NOT NULL,
    resolved_at TEXT NOT NULL, exit_reason TEXT NOT NULL, exit_reference REAL, move_points REAL,
    correct INTEGER, pnl_points REAL, pnl_usd REAL, costs_usd REAL);
CREATE TABLE IF NOT EXISTS costs (
    cost_id TEXT PRIMARY KEY, day TEXT NOT NULL, sim_time TEXT NOT NULL, kind TEXT NOT NULL,
    amount_usd REAL NOT NULL, ref TEXT NOT NULL DEFAULT '', note TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS controls (
    control_id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    requested_by TEXT NOT NULL DEFAULT '', requested_at TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    applied_at TEXT, applied_event TEXT);
CREATE TABLE IF NOT EXISTS daily_summaries (
    day TEXT PRIMARY KEY, closed_at TEXT NOT NULL, signals INTEGER NOT NULL, validated INTEGER NOT NULL,
    resolved INTEGER NOT NULL, correct INTEGER NOT NULL, trades INTEGER NOT NULL, pnl_usd REAL NOT NULL,
    costs_usd REAL NOT NULL, summary_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS perf_latency (
    id INTEGER PRIMARY KEY AUTOINCREMENT, day TEXT NOT NULL, event_key TEXT NOT NULL, metric TEXT NOT NULL,
    ms REAL NOT NULL);
CREATE TABLE IF NOT EXISTS perf_process (
    id INTEGER PRIMARY KEY AUTOINCREMENT, wall_time TEXT NOT NULL, day TEXT NOT NULL, event_key TEXT NOT NULL,
    cpu_percent REAL, cpu_seconds REAL, rss_mb REAL);
CREATE TABLE IF NOT EXISTS perf_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, wall_started TEXT NOT NULL, wall_ended TEXT, pid INTEGER NOT NULL,
    resumed INTEGER NOT NULL, events INTEGER NOT NULL DEFAULT 0, exit TEXT);
CREATE INDEX IF NOT EXISTS signals_by_event ON signals(event_key);
CREATE INDEX IF NOT EXISTS signals_by_day ON signals(day);
CREATE INDEX IF NOT EXISTS outcomes_by_day ON outcomes(day);
CREATE INDEX IF NOT EXISTS positions_by_status ON positions(status);
"""


def iso(ts: pd.Timestamp | None) -> str | None:
    """Fixed-width UTC text for a timestamp (None stays None)."""
    if ts is None or pd.isna(ts):
        return None
    ts = pd.Timestamp(ts)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def clean(value: Any) -> Any:
    """A value SQLite stores as written: numpy scalars unwrapped, NaN/NaT as NULL."""
    if value is None:
        return None
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_, bool)):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return iso(value)
    if value is pd.NaT:
        return None
    return value


class Transaction:
    """Writes inside one ledger transaction (use `Ledger.transaction`)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> None:
        if isinstance(rows, Mapping):
            rows = [rows]
        if not rows:
            return
        columns = list(rows[0])
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        self.connection.executemany(sql, [tuple(clean(row[c]) for c in columns) for row in rows])

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.connection.execute(sql, tuple(clean(p) for p in params))


class Ledger:
    """One run's ledger file. `after_commit(n)` is called after the n-th state transaction
    (progress bars, tests that stop a process at an exact point)."""

    def __init__(self, path: Path, *, after_commit: Callable[[int], None] | None = None) -> None:
        self.path = Path(path)
        self.after_commit = after_commit
        self._perf_latency: list[tuple[str, str, str, float]] = []
        self._perf_process: list[tuple[str, str, str, float | None, float | None, float | None]] = []
        self.connection = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.execute("PRAGMA foreign_keys=ON")
        self.connection.executescript(SCHEMA)
        self.connection.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                                (str(SCHEMA_VERSION),))
        self.connection.execute("INSERT OR IGNORE INTO progress (id, transactions) VALUES (1, 0)")

    @classmethod
    def open_existing(cls, path: Path, **kwargs: Any) -> "Ledger":
        """Open a ledger that must already exist (resume, reports)."""
        if not Path(path).is_file():
            raise InputFileError(f"ledger {path}: no such file (was the run id right? runs live in <output-dir>/runs/)")
        return cls(path, **kwargs)

    def close(self) -> None:
        try:
            self.flush_perf()
        finally:
            self.connection.close()

    # --- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self, *, day: str | None, event_index: int | None, sim_time: pd.Timestamp | None
                    ) -> Iterator[Transaction]:
        """One state change: the writes in the block plus the cursor move, committed together."""
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield Transaction(connection)
            connection.execute(
                "UPDATE progress SET day = ?, event_index = ?, sim_time = ?, transactions = transactions + 1 "
                "WHERE id = 1", (day, event_index, iso(sim_time)))
            self._write_perf(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # SQLite has already rolled back after a full disk
                connection.execute("ROLLBACK")
            raise
        if self.after_commit is not None:
            self.after_commit(self.transactions())

    def set_status(self, status: str, reason: str, at: pd.Timestamp | None) -> None:
        """The run row's status (running, interrupted, completed, failed), why and when, in one
        transaction that leaves the cursor where it is."""
        progress = self.progress()
        with self.transaction(day=progress["day"], event_index=progress["event_index"],
                              sim_time=pd.Timestamp(progress["sim_time"]) if progress["sim_time"] else None) as tx:
            tx.execute("UPDATE runs SET status = ?, status_reason = ?, status_at = ?", (status, reason, iso(at)))

    def resume_run(self) -> dict[str, Any]:
        """The run row, marked running again ("resumed") when the run was interrupted or failed;
        a RuntimeError when the ledger has no run row (create the run before running it)."""
        run = self.run()
        if run is None:
            raise RuntimeError("the ledger has no run row: create the run before running it")
        if run["status"] in (RUN_INTERRUPTED, RUN_FAILED):
            self.set_status(RUN_RUNNING, "resumed", None)
        return run

    def add_latency(self, day: str, event_key: str, metric: str, ms: float) -> None:
        """Buffer a wall-clock latency sample (written with the next transaction or flush)."""
        self._perf_latency.append((day, event_key, metric, float(ms)))

    def add_process_sample(self, wall_time: pd.Timestamp, day: str, event_key: str, cpu_percent: float | None,
                           cpu_seconds: float | None, rss_mb: float | None) -> None:
        self._perf_process.append((iso(wall_time) or "", day, event_key, cpu_percent, cpu_seconds, rss_mb))

    def flush_perf(self) -> None:
        if self._perf_latency or self._perf_process:
            with contextlib.suppress(sqlite3.ProgrammingError):
                self.connection.execute("BEGIN IMMEDIATE")
                self._write_perf(self.connection)
                self.connection.execute("COMMIT")

    def _write_perf(self, connection: sqlite3.Connection) -> None:
        if self._perf_latency:
            connection.executemany("INSERT INTO perf_latency (day, event_key, metric, ms) VALUES (?, ?, ?, ?)",
                                   self._perf_latency)
            self._perf_latency = []
        if self._perf_process:
            connection.executemany("INSERT INTO perf_process (wall_time, day, event_key, cpu_percent, cpu_seconds, "
                                   "rss_mb) VALUES (?, ?, ?, ?, ?, ?)", self._perf_process)
            self._perf_process = []

    def start_session(self, wall_started: pd.Timestamp, *, resumed: bool) -> int:
        """Record this process (wall clock, pid) in perf_sessions; returns the session id."""
        cursor = self.connection.execute(
            "INSERT INTO perf_sessions (wall_started, pid, resumed) VALUES (?, ?, ?)",
            (iso(wall_started), os.getpid(), int(resumed)))
        return int(cursor.lastrowid)

    def end_session(self, session_id: int, wall_ended: pd.Timestamp, *, events: int, exit: str) -> None:
        self.connection.execute("UPDATE perf_sessions SET wall_ended = ?, events = ?, exit = ? WHERE id = ?",
                                (iso(wall_ended), events, exit, session_id))

    def request_control(self, command: str, *, reason: str = "", requested_by: str = "",
                        requested_at: pd.Timestamp) -> int:
        """Queue a halt/resume/stop for the orchestrator (a monitor calls this); it obeys within one cycle."""
        if command not in CONTROL_COMMANDS:
            raise ValueError(f"control command {command!r} (expected one of {', '.join(CONTROL_COMMANDS)})")
        cursor = self.connection.execute(
            "INSERT INTO controls (command, reason, requested_by, requested_at) VALUES (?, ?, ?, ?)",
            (command, reason, requested_by, iso(requested_at)))
        return int(cursor.lastrowid)

    # --- reading ---------------------------------------------------------------------------

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """A query's rows as a DataFrame (columns named as selected)."""
        cursor = self.connection.execute(sql, tuple(clean(p) for p in params))
        columns = [d[0] for d in cursor.description]
        return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        cursor = self.connection.execute(sql, tuple(clean(p) for p in params))
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]  # type: ignore[misc]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.connection.execute(sql, tuple(clean(p) for p in params)).fetchone()
        return None if row is None else row[0]

    def transactions(self) -> int:
        return int(self.scalar("SELECT transactions FROM progress WHERE id = 1") or 0)

    def progress(self) -> dict[str, Any]:
        return self.rows("SELECT day, event_index, sim_time, transactions FROM progress WHERE id = 1")[0]

    def run(self) -> dict[str, Any] | None:
        rows = self.rows("SELECT * FROM runs")
        if not rows:
            return None
        run = rows[0]
        run["config"] = json.loads(run.pop("config_json"))
        run["trading_days"] = json.loads(run.pop("trading_days_json"))
        return run


def dump_state(path: Path, *, ignore_columns: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[tuple]]:
    """Every non-`perf_*` table's rows, sorted: what "the same ledger" means (tests, audits).

    `ignore_columns` drops named columns per table (e.g. the run id of two different runs)."""
    ignore = {k: set(v) for k, v in (ignore_columns or {}).items()}
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        out: dict[str, list[tuple]] = {}
        for name in names:
            if name.startswith(PERF_PREFIX) or name == "sqlite_sequence":
                continue
            cursor = connection.execute(f"SELECT * FROM {name}")
            columns = [d[0] for d in cursor.description]
            keep = [i for i, c in enumerate(columns) if c not in ignore.get(name, set())]
            out[name] = sorted((tuple(row[i] for i in keep) for row in cursor.fetchall()), key=repr)
        return out
    finally:
        connection.close()
