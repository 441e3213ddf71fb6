"""Data spend: one ledger per machine and account, and the budget check made before every paid request.

Where: `data_spend.sqlite3` in the machine's state directory (`state/state_dir.py`: `$NQ_STATE_DIR`,
else the profile's `state_dir`, else `$XDG_STATE_HOME/nq-options`, else `~/.local/state/nq-options`),
never under `--output-dir`, so a new output folder does not reset a budget. Each row is keyed by
*account*: a short fingerprint (SHA-256 prefix) of the API key, never the key itself, so two keys
have two budgets and the file holds nothing secret.

Concurrency: price, check and purchase are one step for any number of processes. A source
prices its whole plan first (`metadata.get_cost`), then `DataBudget.reserve` checks the day's and
the month's spend plus that price and writes a *reservation* inside one SQLite `BEGIN IMMEDIATE`
transaction (a cross-process write lock), so two runs can never both see the same headroom.
Each request bought turns its price from reserved into spent; what is left is released when the
plan ends. A reservation left by a killed process keeps counting (the conservative side): the
budget can be under-used, never broken. A quote that is not a finite, non-negative number is
refused as a bad quote (a NaN used to be spent as $0).

Budgets count UTC days and months of the `now` passed in, so replays and tests are deterministic.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd

from ..errors import DataBudgetExceededError, DataSourceError
from ..state.state_dir import resolve_state_dir
from .canonical import as_utc

log = logging.getLogger(__name__)

SPEND_DB = "data_spend.sqlite3"
LOCK_WAIT_S = 120.0     # longest wait for another process's budget step (they are short)
RESERVED, SPENT = "reserved", "spent"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,            -- the budget time (UTC ISO-8601) the spend counts in
    account TEXT NOT NULL,       -- fingerprint of the API key, never the key
    source TEXT NOT NULL,
    cost_usd REAL NOT NULL CHECK (cost_usd >= 0),
    what TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('reserved', 'spent')),
    pid INTEGER NOT NULL,
    written_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS spend_by_account ON spend (account, source, at);
"""


def account_fingerprint(api_key: str) -> str:
    """A short, stable, non-reversible name for the account behind `api_key`."""
    return "acct-" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12]


def finite_quote(value: object, what: str, *, source: str) -> float:
    """The vendor's quote as a price in USD, or a bad-quote refusal (NaN, inf, negative, not a number)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)) \
            or float(value) < 0:
        raise DataSourceError(f"{source}: bad quote for {what}: {value!r} is not a finite, non-negative price "
                              f"in USD; nothing was bought", code="BAD_QUOTE")
    return float(value)


@dataclass(frozen=True)
class SpendTotals:
    day_usd: float
    month_usd: float


class SpendLedger:
    """The machine's spend ledger (SQLite). Every write is its own short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def default(cls, state_dir: str | os.PathLike[str] | None = None) -> "SpendLedger":
        """The ledger in the state directory (`state_dir` = the profile's setting, if any)."""
        return cls(resolve_state_dir(state_dir) / SPEND_DB)

    @classmethod
    def under(cls, output_root: Path) -> "SpendLedger":  # noqa: ARG003 - kept for callers of the old API
        """The machine's ledger. Spend is no longer per output folder: `output_root` is ignored,
        so every reader (monitor, risk guards) and every source sees the same spend."""
        return cls.default()

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(_SCHEMA)
            yield connection
        except sqlite3.DatabaseError as exc:
            raise DataBudgetExceededError(
                f"{self.path}: the spend ledger cannot be used ({exc}); cannot tell the spend so far, refusing "
                f"paid requests until it is fixed") from exc
        finally:
            connection.close()

    def entries(self) -> Iterator[dict]:
        """Every row (reservations included: money committed counts), oldest first."""
        if not self.path.is_file():
            return
        with self._connect() as db:
            rows = db.execute("SELECT at, account, source, cost_usd, what, status FROM spend ORDER BY id").fetchall()
        for at, account, source, cost, what, status in rows:
            yield {"at": pd.Timestamp(at), "account": account, "source": source, "cost_usd": float(cost),
                   "what": what, "status": status}

    def totals(self, source: str, now: pd.Timestamp, account: str | None = None) -> SpendTotals:
        """Spend (reservations included) of `source` in `now`'s UTC day and month; all accounts when None."""
        if not self.path.is_file():
            return SpendTotals(0.0, 0.0)
        with self._connect() as db:
            return _totals(db, source, now, account)

    def append(self, source: str, cost_usd: float, what: str, at: pd.Timestamp, *, account: str = "") -> None:
        """Record spend that was already paid (no budget check)."""
        with self._connect() as db:
            _insert(db, account, source, float(cost_usd), what, at, SPENT)

    def reserve(self, *, account: str, source: str, cost_usd: float, what: str, at: pd.Timestamp,
                check: Callable[[SpendTotals, float], None]) -> int:
        """Under the cross-process write lock: `check(totals, cost)` (raises to refuse), then write a
        reservation of `cost_usd`. Returns the reservation's id."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                check(_totals(db, source, at, account), cost_usd)
                entry = _insert(db, account, source, cost_usd, what, at, RESERVED)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return entry

    def grow(self, entry: int, *, extra_usd: float, check: Callable[[SpendTotals, float], None],
             account: str, source: str, at: pd.Timestamp) -> None:
        """Add `extra_usd` to a reservation, after `check` under the same lock."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                check(_totals(db, source, at, account), extra_usd)
                db.execute("UPDATE spend SET cost_usd = cost_usd + ? WHERE id = ?", (extra_usd, entry))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def spend_from(self, entry: int, cost_usd: float, what: str) -> None:
        """Move `cost_usd` of a reservation to a spent row (one transaction: the total never dips)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT account, source, at FROM spend WHERE id = ?", (entry,)).fetchone()
                db.execute("UPDATE spend SET cost_usd = MAX(cost_usd - ?, 0) WHERE id = ?", (cost_usd, entry))
                _insert(db, row[0], row[1], cost_usd, what, pd.Timestamp(row[2]), SPENT)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def release(self, entry: int) -> None:
        """Drop what is left of a reservation (the plan ended)."""
        with self._connect() as db:
            db.execute("DELETE FROM spend WHERE id = ? AND status = ?", (entry, RESERVED))


def _insert(db: sqlite3.Connection, account: str, source: str, cost_usd: float, what: str, at: pd.Timestamp,
            status: str) -> int:
    cursor = db.execute(
        "INSERT INTO spend (at, account, source, cost_usd, what, status, pid, written_at) VALUES (?,?,?,?,?,?,?,?)",
        (as_utc(at).isoformat(), account, source, round(float(cost_usd), 6), what, status, os.getpid(),
         pd.Timestamp.now(tz="UTC").isoformat()))
    return int(cursor.lastrowid)


def _totals(db: sqlite3.Connection, source: str, now: pd.Timestamp, account: str | None) -> SpendTotals:
    now = as_utc(now)
    month_start = pd.Timestamp(year=now.year, month=now.month, day=1, tz="UTC")
    month_end = month_start + pd.offsets.MonthBegin(1)
    query = "SELECT at, cost_usd FROM spend WHERE source = ?" + (" AND account = ?" if account is not None else "")
    rows = db.execute(query, (source, account) if account is not None else (source,)).fetchall()
    if not rows:
        return SpendTotals(0.0, 0.0)
    frame = pd.DataFrame(rows, columns=["at", "cost_usd"])
    at = pd.to_datetime(frame["at"], utc=True, format="ISO8601")
    frame = frame[(at >= month_start) & (at < month_end)]
    today, this_month = budget_periods(frame["at"], now)
    return SpendTotals(day_usd=float(frame.loc[today, "cost_usd"].sum()),
                       month_usd=float(frame.loc[this_month, "cost_usd"].sum()))


def budget_periods(at: pd.Series, now: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """Which spend times fall in `now`'s budget day and budget month: (today, this_month) masks.

    Budgets count UTC days and months. This is the one place that says so: the budget check and
    the monitor's spend figures both use it, so they cannot disagree."""
    now = as_utc(now)
    at = pd.to_datetime(at, utc=True, format="ISO8601")
    this_month = (at.dt.year == now.year) & (at.dt.month == now.month)
    return this_month & (at.dt.day == now.day), this_month


def read_spend_totals(now: pd.Timestamp, *, state_dir: str | os.PathLike[str] | None = None,
                      source: str | None = None) -> SpendTotals:
    """Every paid source's spend (all accounts, reservations included) in `now`'s UTC day and month,
    from the machine ledger: what the risk engine's data_cost guard reads."""
    ledger = SpendLedger.default(state_dir)
    entries = [e for e in ledger.entries() if source is None or e["source"] == source]
    if not entries:
        return SpendTotals(0.0, 0.0)
    frame = pd.DataFrame(entries)
    today, this_month = budget_periods(frame["at"], now)
    return SpendTotals(day_usd=float(frame.loc[today, "cost_usd"].sum()),
                       month_usd=float(frame.loc[this_month, "cost_usd"].sum()))


class DataBudget:
    """The daily and monthly budget of one paid source and account, checked before each purchase."""

    def __init__(self, source: str, *, daily_usd: float, monthly_usd: float, ledger: SpendLedger,
                 now: pd.Timestamp, setting_prefix: str, account: str = "") -> None:
        for name, value in (("daily_budget_usd", daily_usd), ("monthly_budget_usd", monthly_usd)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise DataBudgetExceededError(f"{source}: {setting_prefix}.{name} is {value!r}, not a finite "
                                              f"non-negative amount; refusing every paid request")
        self.source = source
        self.daily_usd = float(daily_usd)
        self.monthly_usd = float(monthly_usd)
        self.ledger = ledger
        self.now = as_utc(now)
        self.setting_prefix = setting_prefix  # e.g. data_sources.databento, named in refusals
        self.account = account
        self.spent_this_run = 0.0

    def _refuse_if_over(self, totals: SpendTotals, cost: float, what: str) -> None:
        if totals.day_usd + cost > self.daily_usd + 1e-9:
            raise DataBudgetExceededError(
                f"{self.source}: {what} would cost ${cost:.2f}; today's spend ${totals.day_usd:.2f} + ${cost:.2f} "
                f"exceeds the daily data budget ${self.daily_usd:.2f} ({self.setting_prefix}.daily_budget_usd); "
                f"refused before sending", cost_usd=self.spent_this_run)
        if totals.month_usd + cost > self.monthly_usd + 1e-9:
            raise DataBudgetExceededError(
                f"{self.source}: {what} would cost ${cost:.2f}; this month's spend ${totals.month_usd:.2f} + "
                f"${cost:.2f} exceeds the monthly data budget ${self.monthly_usd:.2f} "
                f"({self.setting_prefix}.monthly_budget_usd); refused before sending", cost_usd=self.spent_this_run)
        log.info("%s: %s quoted at $%.4f (today $%.2f of $%.2f, month $%.2f of $%.2f)", self.source, what, cost,
                 totals.day_usd, self.daily_usd, totals.month_usd, self.monthly_usd)

    def check(self, cost_usd: float, what: str) -> None:
        """Refuse a request quoted at `cost_usd` that would break a budget (read-only; `reserve` to buy)."""
        cost = finite_quote(cost_usd, what, source=self.source)
        self._refuse_if_over(self.ledger.totals(self.source, self.now, self.account), cost, what)

    def reserve(self, cost_usd: float, what: str) -> "Reservation":
        """Check and reserve `cost_usd` in one locked step; spend from it with `Reservation.spend`."""
        cost = finite_quote(cost_usd, what, source=self.source)
        entry = self.ledger.reserve(account=self.account, source=self.source, cost_usd=cost, what=what, at=self.now,
                                    check=lambda totals, c: self._refuse_if_over(totals, c, what))
        return Reservation(self, entry, cost)

    def record(self, cost_usd: float, what: str) -> None:
        """Count a request that was paid for outside a reservation."""
        if cost_usd <= 0:
            return
        self.ledger.append(self.source, cost_usd, what, self.now, account=self.account)
        self.spent_this_run += float(cost_usd)


class Reservation:
    """Money set aside for a priced plan. Use as a context manager: what is unspent is released."""

    def __init__(self, budget: DataBudget, entry: int, amount_usd: float) -> None:
        self.budget = budget
        self.entry = entry
        self.left_usd = amount_usd

    def ensure(self, cost_usd: float, what: str) -> None:
        """Make sure `cost_usd` is reserved, growing the reservation (checked, locked) when short."""
        cost = finite_quote(cost_usd, what, source=self.budget.source)
        if cost > self.left_usd + 1e-12:
            extra = cost - self.left_usd
            self.budget.ledger.grow(self.entry, extra_usd=extra, account=self.budget.account,
                                    source=self.budget.source, at=self.budget.now,
                                    check=lambda totals, c: self.budget._refuse_if_over(totals, c, what))
            self.left_usd += extra

    def spend(self, cost_usd: float, what: str) -> None:
        """A request priced at `cost_usd` was bought: move it from reserved to spent."""
        if cost_usd <= 0:
            return
        self.budget.ledger.spend_from(self.entry, cost_usd, what)
        self.left_usd = max(self.left_usd - cost_usd, 0.0)
        self.budget.spent_this_run += float(cost_usd)

    def __enter__(self) -> "Reservation":
        return self

    def __exit__(self, *exc: object) -> None:
        self.budget.ledger.release(self.entry)
