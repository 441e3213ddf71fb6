"""Where the risk engine keeps its state and its events, so a halt survives restarts.

`RiskStateStore` is the interface: `load()` the current `RiskStatus` (state, reason, who, when),
`record(event, status)` an event and, for a state change, the new status in one transaction,
and `events(...)` to read them back (reports, the order-rate window after a restart).

- `InMemoryRiskStore`: for tests and runs that need no persistence;
- `SqliteRiskStore`: two tables in any SQLite file, normally the run's ledger
  (`runs/<run_id>/ledger.sqlite`): `risk_state` (one row: the current state) and `risk_events`
  (every approval, refusal and state change). Every write is one `BEGIN IMMEDIATE` transaction,
  so processes sharing the file never see half a change. Given the ledger's own connection while
  it is inside a transaction, the writes join that transaction instead (committed or rolled back
  with the ledger's state change; opening a second connection there would wait on the ledger's
  own write lock).
"""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol, Sequence

import pandas as pd

from ....state.ledger import iso
from .base import Figure, RiskState


class EventKind(str, Enum):
    APPROVAL = "approval"            # an order passed every guard
    REFUSAL = "refusal"              # an order (or a paid data request) was refused
    STATE_CHANGE = "state_change"    # ACTIVE / REDUCING / HALTED, by a guard or a person
    CONTROL_REFUSED = "control_refused"  # a resume without a valid token, or without a name


@dataclass(frozen=True)
class RiskStatus:
    """The engine's current state and what put it there."""

    state: RiskState = RiskState.ACTIVE
    reason: str = ""
    guard: str = ""
    code: str = ""
    changed_by: str = ""
    changed_at: pd.Timestamp | None = None


@dataclass(frozen=True)
class RiskEvent:
    """One recorded decision: an approval, a refusal (with its guard, code and numbers) or a
    state change (from, to, by whom)."""

    at: pd.Timestamp
    kind: EventKind
    guard: str = ""
    code: str = ""
    message: str = ""
    figures: tuple[Figure, ...] = ()
    client_order_id: str = ""
    state_from: RiskState | None = None
    state_to: RiskState | None = None
    by: str = ""


class RiskStateStore(Protocol):
    def load(self) -> RiskStatus:  # pragma: no cover - protocol
        """The stored status (ACTIVE when nothing was ever stored)."""

    def record(self, event: RiskEvent, status: RiskStatus | None = None, *,
               escalate_only: bool = False, only_from: RiskStatus | None = None
               ) -> RiskStatus:  # pragma: no cover - protocol
        """Append `event`; with `status`, also replace the current status, in one transaction.
        `escalate_only`: write nothing unless `status` is more severe than the stored one (an
        automatic escalation never overwrites a halt another process recorded meanwhile);
        `only_from`: write nothing unless the stored status is still exactly this one (a lapse
        never overwrites a change recorded meanwhile). Returns the status stored afterwards."""

    def events(self, *, since: pd.Timestamp | None = None,
               kinds: Sequence[EventKind] | None = None) -> list[RiskEvent]:  # pragma: no cover
        """Events at or after `since`, of `kinds`, in the order they were recorded."""


class InMemoryRiskStore:
    """A store that lives as long as the object (tests; runs without a ledger)."""

    def __init__(self) -> None:
        self._status = RiskStatus()
        self._events: list[RiskEvent] = []

    def load(self) -> RiskStatus:
        return self._status

    def record(self, event: RiskEvent, status: RiskStatus | None = None, *,
               escalate_only: bool = False, only_from: RiskStatus | None = None) -> RiskStatus:
        if status is not None and escalate_only and self._status.state.severity >= status.state.severity:
            return self._status
        if status is not None and only_from is not None and self._status != only_from:
            return self._status
        self._events.append(event)
        if status is not None:
            self._status = status
        return self._status

    def events(self, *, since: pd.Timestamp | None = None,
               kinds: Sequence[EventKind] | None = None) -> list[RiskEvent]:
        return [e for e in self._events
                if (since is None or e.at >= since) and (kinds is None or e.kind in kinds)]


SCHEMA = """
CREATE TABLE IF NOT EXISTS risk_state (
    id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
    guard TEXT NOT NULL DEFAULT '', code TEXT NOT NULL DEFAULT '', changed_by TEXT NOT NULL DEFAULT '',
    changed_at TEXT);
CREATE TABLE IF NOT EXISTS risk_events (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, guard TEXT NOT NULL DEFAULT '',
    code TEXT NOT NULL DEFAULT '', message TEXT NOT NULL DEFAULT '', figures_json TEXT NOT NULL DEFAULT '[]',
    client_order_id TEXT NOT NULL DEFAULT '', state_from TEXT, state_to TEXT, by TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS risk_events_at ON risk_events (at);
"""


class SqliteRiskStore:
    """`risk_state` + `risk_events` in a SQLite file (the run's ledger) or on a given connection."""

    def __init__(self, path_or_connection: Path | str | sqlite3.Connection, *, timeout_s: float = 30.0) -> None:
        if isinstance(path_or_connection, sqlite3.Connection):
            self.connection = path_or_connection
            self._owned = False
        else:
            self.connection = sqlite3.connect(str(path_or_connection), isolation_level=None, timeout=timeout_s)
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")
            self._owned = True
        if not self.connection.in_transaction:
            self.connection.executescript(SCHEMA)
        else:  # executescript would commit the caller's transaction: create the tables inside it
            for statement in filter(str.strip, SCHEMA.split(";")):
                self.connection.execute(statement)

    def close(self) -> None:
        if self._owned:
            self.connection.close()

    def load(self) -> RiskStatus:
        row = self.connection.execute(
            "SELECT state, reason, guard, code, changed_by, changed_at FROM risk_state WHERE id = 1").fetchone()
        if row is None:
            return RiskStatus()
        return RiskStatus(state=RiskState(row[0]), reason=row[1], guard=row[2], code=row[3], changed_by=row[4],
                          changed_at=None if row[5] is None else pd.Timestamp(row[5]))

    def record(self, event: RiskEvent, status: RiskStatus | None = None, *,
               escalate_only: bool = False, only_from: RiskStatus | None = None) -> RiskStatus:
        connection = self.connection
        own_transaction = not connection.in_transaction
        if own_transaction:
            connection.execute("BEGIN IMMEDIATE")
        try:
            stored = self.load()
            if status is not None and ((escalate_only and stored.state.severity >= status.state.severity)
                                       or (only_from is not None and stored != only_from)):
                if own_transaction:
                    connection.execute("COMMIT")
                return stored
            connection.execute(
                "INSERT INTO risk_events (at, kind, guard, code, message, figures_json, client_order_id, state_from, "
                "state_to, by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (iso(event.at), event.kind.value, event.guard, event.code, event.message,
                 _figures_json(event.figures), event.client_order_id,
                 None if event.state_from is None else event.state_from.value,
                 None if event.state_to is None else event.state_to.value, event.by))
            if status is not None:
                connection.execute(
                    "INSERT INTO risk_state (id, state, reason, guard, code, changed_by, changed_at) "
                    "VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                    "reason = excluded.reason, guard = excluded.guard, code = excluded.code, "
                    "changed_by = excluded.changed_by, changed_at = excluded.changed_at",
                    (status.state.value, status.reason, status.guard, status.code, status.changed_by,
                     iso(status.changed_at)))
            if own_transaction:
                connection.execute("COMMIT")
        except BaseException:
            if own_transaction:
                connection.execute("ROLLBACK")
            raise
        return stored if status is None else status

    def events(self, *, since: pd.Timestamp | None = None,
               kinds: Sequence[EventKind] | None = None) -> list[RiskEvent]:
        sql = ("SELECT at, kind, guard, code, message, figures_json, client_order_id, state_from, state_to, by "
               "FROM risk_events")
        clauses: list[str] = []
        params: list[str] = []
        if since is not None:
            clauses.append("at >= ?")
            params.append(iso(since) or "")
        if kinds:
            clauses.append(f"kind IN ({', '.join('?' for _ in kinds)})")
            params.extend(k.value for k in kinds)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        rows = self.connection.execute(sql + " ORDER BY id", params).fetchall()
        return [RiskEvent(at=pd.Timestamp(r[0]), kind=EventKind(r[1]), guard=r[2], code=r[3], message=r[4],
                          figures=_figures_from_json(r[5]), client_order_id=r[6],
                          state_from=None if r[7] is None else RiskState(r[7]),
                          state_to=None if r[8] is None else RiskState(r[8]), by=r[9]) for r in rows]


def _figures_json(figures: Sequence[Figure]) -> str:
    # Non-finite amounts (an unbounded risk) are written as text: plain JSON has no Infinity.
    return json.dumps([{"name": f.name, "value": f.value if math.isfinite(f.value) else str(f.value),
                        "unit": f.unit} for f in figures])


def _figures_from_json(text: str) -> tuple[Figure, ...]:
    return tuple(Figure(name=f["name"], value=float(f["value"]), unit=f["unit"]) for f in json.loads(text))
