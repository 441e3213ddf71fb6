"""Reading a ledger: the read API every named query speaks, and a read-only view for monitors.

`Ledger` (the writer) and `ReadOnlyLedger` (a monitor's `mode=ro` connection, one consistent
snapshot) both answer `frame` / `rows` / `row` / `scalar`, so the queries in `queries.py` and
`report_queries.py` serve the trader, its reports and the dashboard alike.
"""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import pandas as pd

from .ledger import clean


class LedgerReading(Protocol):
    """What a named query needs from a ledger."""

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame: ...

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any: ...


class ReadOnlyLedger:
    """A ledger opened read-only (`mode=ro`): a running orchestrator never waits on it."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def _execute(self, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        return self.connection.execute(sql, tuple(clean(p) for p in params))

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        cursor = self._execute(sql, params)
        return pd.DataFrame.from_records(cursor.fetchall(), columns=[d[0] for d in cursor.description])

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._execute(sql, params)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._execute(sql, params).fetchone()
        return None if row is None else row[0]


@contextlib.contextmanager
def open_read_only(path: Path, *, timeout_s: float = 5.0) -> Iterator[ReadOnlyLedger]:
    """The ledger at `path`, read-only, inside one transaction: one consistent view of every table
    (a WAL read snapshot). sqlite3 errors pass through (the caller names the file)."""
    connection = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=timeout_s)
    try:
        connection.execute("BEGIN")
        yield ReadOnlyLedger(connection)
    finally:
        connection.close()


def first_row(reader: LedgerReading, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
    """The first row of a query as a dict, None when there is none."""
    rows = reader.rows(sql, params)
    return rows[0] if rows else None
