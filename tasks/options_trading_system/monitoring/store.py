"""The monitor's files: the sample history (SQLite), production_metrics.json (snapshot) and alerts.json.

- metrics_history.sqlite: one row per sample, appended; rows older than the retention are
  deleted at each append; WAL journal, so the dashboard reads while the monitor writes. A
  30-day history (43,200 one-minute samples) costs one INSERT and one DELETE a minute instead
  of rewriting a ~50 MB JSON file.
- production_metrics.json: the documented latest snapshot (the newest sample, the full snapshot
  behind it, how many samples are kept and where), small, written atomically.
A production_metrics.json of the old format (every sample inside it) is moved into SQLite the
first time the store is opened. Everything is validated against its schema (monitoring/schemas/)
before it is written. Missing figures are JSON null.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import sqlite3
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import jsonschema
import pandas as pd

from ..data_ingestion.canonical import as_utc
from ..errors import OutputValidationError
from ..secrets_mask import mask_secrets
from ..state.atomic import atomic_write_text
from .alerts import ActiveAlert, AlertEvent, health_of
from .retention import prune_older_than

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
METRICS_SCHEMA = "production_metrics.schema.json"
ALERTS_SCHEMA = "alerts.schema.json"
SCHEMA_VERSION = 1          # alerts.json
METRICS_SCHEMA_VERSION = 2  # production_metrics.json (1 held every sample; see _migrate_json_history)
HISTORY_FILE = "metrics_history.sqlite"
BUSY_TIMEOUT_S = 10.0

__all__ = ["AlertStore", "MetricsStore", "jsonable", "read_json", "validate_output"]


def jsonable(value: Any) -> Any:
    """Plain JSON types; NaN/inf and pandas NA become None (missing), timestamps ISO strings."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


@lru_cache(maxsize=None)
def _validator(schema_file: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMA_DIR / schema_file).read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_output(document: Any, schema_file: str, *, target: Path) -> None:
    """Raise `OutputValidationError` naming the file, JSON path and problem when `document` is invalid."""
    error = jsonschema.exceptions.best_match(_validator(schema_file).iter_errors(document))
    if error is not None:
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise OutputValidationError(f"{target}: {where}: {error.message} (schema {schema_file}); nothing was written")


def read_json(path: Path) -> Any | None:
    """A JSON file's content, or None when it does not exist; a damaged file is logged and read as None."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.error("%s is unreadable (%s); treating it as absent", path, exc)
        return None


class MetricsStore:
    """The monitor's samples in SQLite (append-only, pruned by age) and production_metrics.json (the snapshot).

    `snapshot_path` is production_metrics.json; `history_path` the SQLite file beside it. Any
    number of processes may open the same store: the monitor appends, the dashboard reads.
    """

    def __init__(self, snapshot_path: Path, *, retention_days: float, history_path: Path | None = None) -> None:
        self.path = Path(snapshot_path)
        self.history_path = Path(history_path) if history_path is not None else self.path.with_name(HISTORY_FILE)
        self.retention_days = retention_days
        self._ready = False

    # --- connection -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in WAL mode (readers never wait for the writer); the first one creates and migrates."""
        self.history_path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.history_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if not self._ready:
                connection.execute("PRAGMA journal_mode = WAL")
                connection.executescript(_DDL)
                self._migrate_json_history(connection)   # a failure here is raised again at every open
                self._ready = True
            connection.execute("PRAGMA synchronous = NORMAL")
            yield connection
        finally:
            connection.close()

    def _migrate_json_history(self, connection: sqlite3.Connection) -> None:
        """A production_metrics.json of format 1 (every sample inside it) moves into SQLite, once.

        Samples already in the store (same `ts`) are skipped, so a migration cut short is simply
        run again; the JSON file is then rewritten as the format-2 snapshot."""
        document = read_json(self.path)
        if not isinstance(document, dict) or not isinstance(document.get("samples"), list):
            return
        samples = [jsonable(s) for s in document["samples"] if isinstance(s, dict)]
        rows, skipped = _rows(samples)
        with _transaction(connection):
            connection.executemany("INSERT OR IGNORE INTO samples (ts_ns, ts, sample) VALUES (?, ?, ?)", rows)
        log.info("moved %d sample(s) from %s into %s (%d with an unreadable time left out)", len(rows), self.path,
                 self.history_path, skipped)
        newest = json.loads(max(rows)[2]) if rows else None
        snapshot = self._snapshot_document(connection, newest, document.get("latest") or {},
                                           updated_at=document.get("updated_at"))
        validate_output(snapshot, METRICS_SCHEMA, target=self.path)
        atomic_write_text(self.path, _encode(snapshot))

    # --- writing ----------------------------------------------------------------------------------

    def append(self, sample: Mapping[str, Any], latest: Mapping[str, Any], now: pd.Timestamp) -> dict[str, Any]:
        """Add `sample` as one row, delete rows older than the retention, rewrite the snapshot; returns it.

        The sample is validated first: an invalid one is refused and neither file changes."""
        sample = jsonable(sample)
        with self._connect() as connection:
            snapshot = self._snapshot_document(connection, sample, jsonable(latest), updated_at=sample.get("ts"),
                                               pending=1)
            validate_output(snapshot, METRICS_SCHEMA, target=self.path)
            rows, _skipped = _rows([sample])
            if not rows:
                raise OutputValidationError(f"{self.path}: $.sample.ts: {sample.get('ts')!r} is not an ISO-8601 time; "
                                            "nothing was written")
            cutoff = _ns(as_utc(now) - pd.Timedelta(days=self.retention_days))
            with _transaction(connection):
                connection.execute("INSERT OR REPLACE INTO samples (ts_ns, ts, sample) VALUES (?, ?, ?)", rows[0])
                dropped = connection.execute("DELETE FROM samples WHERE ts_ns < ?", (cutoff,)).rowcount
            if dropped:
                log.info("pruned %d sample(s) older than %g days", dropped, self.retention_days)
            snapshot["samples_kept"] = _count(connection)
        atomic_write_text(self.path, _encode(snapshot))
        return snapshot

    def _snapshot_document(self, connection: sqlite3.Connection, sample: Mapping[str, Any] | None,
                           latest: Mapping[str, Any], *, updated_at: str | None, pending: int = 0) -> dict[str, Any]:
        return {"schema_version": METRICS_SCHEMA_VERSION, "updated_at": updated_at, "retention_days": self.retention_days,
                "history_file": self.history_path.name, "samples_kept": _count(connection) + pending,
                "sample": dict(sample) if sample is not None else None, "latest": dict(latest)}

    # --- reading ----------------------------------------------------------------------------------

    def samples(self, since: pd.Timestamp | None = None) -> list[dict[str, Any]]:
        """The stored samples taken at or after `since` (all when None), oldest first."""
        if not self.history_path.exists() and read_json(self.path) is None:
            return []
        with self._connect() as connection:
            if since is None:
                cursor = connection.execute("SELECT sample FROM samples ORDER BY ts_ns")
            else:
                cursor = connection.execute("SELECT sample FROM samples WHERE ts_ns >= ? ORDER BY ts_ns",
                                            (_ns(as_utc(since)),))
            return [json.loads(text) for (text,) in cursor]

    def count(self) -> int:
        """How many samples are kept."""
        if not self.history_path.exists() and read_json(self.path) is None:
            return 0
        with self._connect() as connection:
            return _count(connection)

    def snapshot(self) -> dict[str, Any]:
        """production_metrics.json (migrating a format-1 file first), or an empty snapshot when there is none."""
        if self.path.exists() and not self._ready:
            with self._connect():
                pass
        document = read_json(self.path)
        if not isinstance(document, dict) or document.get("schema_version") != METRICS_SCHEMA_VERSION:
            return {"schema_version": METRICS_SCHEMA_VERSION, "updated_at": None, "retention_days": self.retention_days,
                    "history_file": self.history_path.name, "samples_kept": 0, "sample": None, "latest": {}}
        return document


_DDL = """
CREATE TABLE IF NOT EXISTS samples (
    ts_ns  INTEGER NOT NULL,   -- the sample's time, UTC nanoseconds (what retention and ranges use)
    ts     TEXT NOT NULL,      -- the same time as written in the sample (ISO-8601)
    sample TEXT NOT NULL       -- the sample as compact JSON (schema production_metrics.schema.json $defs.sample)
);
CREATE UNIQUE INDEX IF NOT EXISTS samples_by_time ON samples (ts_ns);
"""


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _rows(samples: Sequence[Mapping[str, Any]]) -> tuple[list[tuple[int, str, str]], int]:
    """(ts_ns, ts, json) per sample whose time can be read (one vectorized parse), and how many could not."""
    if not samples:
        return [], 0
    stamps = pd.to_datetime(pd.Series([s.get("ts") for s in samples], dtype="object"), utc=True, errors="coerce",
                            format="ISO8601")
    rows = [(_ns(stamp), str(s["ts"]), _encode(s)) for s, stamp in zip(samples, stamps) if not pd.isna(stamp)]
    return rows, len(samples) - len(rows)


def _ns(stamp: pd.Timestamp) -> int:
    return int(pd.Timestamp(stamp).value)


def _count(connection: sqlite3.Connection) -> int:
    return int(connection.execute("SELECT COUNT(*) FROM samples").fetchone()[0])


def _encode(value: Any) -> str:
    """Compact, strict JSON (the form production_metrics.json and the stored samples are written in),
    secret values masked (`secrets_mask`)."""
    return mask_secrets(json.dumps(value, separators=(",", ":"), allow_nan=False))


class AlertStore:
    """alerts.json: the open alerts (the state machine's memory) and the history of alert changes."""

    def __init__(self, path: Path, *, retention_days: float) -> None:
        self.path = Path(path)
        self.retention_days = retention_days

    def load(self) -> tuple[dict[str, ActiveAlert], list[dict[str, Any]]]:
        """(open alerts by metric, past events oldest first); empty when there is no file yet."""
        document = read_json(self.path)
        if not isinstance(document, dict):
            return {}, []
        active = {item["metric"]: ActiveAlert.from_dict(item) for item in document.get("active", [])}
        return active, list(document.get("events", []))

    def save(self, active: Mapping[str, ActiveAlert], events: Sequence[AlertEvent], now: pd.Timestamp
             ) -> dict[str, Any]:
        """Store the open alerts and append `events` to the (pruned) history; returns the document."""
        _old_active, history = self.load()
        history = prune_older_than([*history, *(jsonable(e.to_dict()) for e in events)], now, self.retention_days)
        document = {"schema_version": SCHEMA_VERSION, "updated_at": jsonable(pd.Timestamp(now)),
                    "health": health_of(active),
                    "active": [jsonable(a.to_dict()) for a in sorted(active.values(), key=lambda a: a.metric)],
                    "events": history}
        validate_output(document, ALERTS_SCHEMA, target=self.path)
        atomic_write_text(self.path, mask_secrets(json.dumps(document, indent=1, allow_nan=False)))
        return document
