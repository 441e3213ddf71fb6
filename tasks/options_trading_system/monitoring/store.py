"""The monitor's files: production_metrics.json (time series + latest snapshot) and alerts.json.

Both are validated against their schema (monitoring/schemas/) before they are written, and
written atomically, so the dashboard never reads half a file. Missing figures are JSON null.
To keep a 30-day file (43,200 one-minute samples, ~50 MB) cheap to rewrite, a write validates the
envelope with the new sample only (older samples were validated when they were written), and
each sample is JSON-encoded once: the text of the samples already written is kept in memory and
joined with the new one, so the file is byte for byte what `json.dumps` of the whole document gives.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import jsonschema
import pandas as pd

from ..errors import OutputValidationError
from ..state.atomic import atomic_write_text
from .alerts import ActiveAlert, AlertEvent, health_of
from .retention import prune_older_than, young_mask

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
METRICS_SCHEMA = "production_metrics.schema.json"
ALERTS_SCHEMA = "alerts.schema.json"
SCHEMA_VERSION = 1

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


@dataclass(frozen=True)
class _Written:
    """What this store last wrote: the file's stamp, the document, and each sample's JSON text."""

    stamp: tuple[int, int]
    document: dict[str, Any]
    encoded_samples: list[str]


class MetricsStore:
    """production_metrics.json: append a sample, prune by age, keep the latest full snapshot."""

    def __init__(self, path: Path, *, retention_days: float) -> None:
        self.path = Path(path)
        self.retention_days = retention_days
        self._written: _Written | None = None

    def load(self) -> dict[str, Any]:
        """The stored document, or an empty one when there is none yet.

        A month of samples is tens of megabytes: when the file is still exactly what this store
        wrote last (same modification time and size), the copy in memory is used instead."""
        if self._written is not None and self._written.stamp == _stamp(self.path):
            return self._written.document
        document = read_json(self.path)
        if not isinstance(document, dict) or not isinstance(document.get("samples"), list):
            return {"schema_version": SCHEMA_VERSION, "updated_at": None, "retention_days": self.retention_days,
                    "samples": [], "latest": {}}
        return document

    def append(self, sample: Mapping[str, Any], latest: Mapping[str, Any], now: pd.Timestamp) -> dict[str, Any]:
        """Add `sample`, drop samples older than the retention, store `latest`; returns the document."""
        document = self.load()
        written = self._written if self._written is not None and self._written.document is document else None
        sample = jsonable(sample)
        candidates = [*document["samples"], sample]
        keep = young_mask(candidates, now, self.retention_days)
        samples = [s for s, kept in zip(candidates, keep) if kept]
        dropped = len(candidates) - len(samples)
        if dropped:
            log.info("pruned %d sample(s) older than %g days", dropped, self.retention_days)
        new = {"schema_version": SCHEMA_VERSION, "updated_at": sample["ts"], "retention_days": self.retention_days,
               "samples": samples, "latest": jsonable(latest)}
        validate_output({**new, "samples": [sample]}, METRICS_SCHEMA, target=self.path)
        old_text = written.encoded_samples if written is not None else [_encode(s) for s in document["samples"]]
        encoded = [text for text, kept in zip([*old_text, _encode(sample)], keep) if kept]
        atomic_write_text(self.path, _document_text(new, encoded))
        self._written = _Written(stamp=_stamp(self.path), document=new, encoded_samples=encoded)
        return new


def _encode(value: Any) -> str:
    """Compact, strict JSON (the form production_metrics.json is written in)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _document_text(document: Mapping[str, Any], encoded_samples: Sequence[str]) -> str:
    """`_encode(document)`, with the samples' text given already encoded (same bytes, less work)."""
    parts = (f"{_encode(key)}:" + ("[" + ",".join(encoded_samples) + "]" if key == "samples" else _encode(value))
             for key, value in document.items())
    return "{" + ",".join(parts) + "}"


def _stamp(path: Path) -> tuple[int, int]:
    """(modification time in ns, size) of a file; (-1, -1) when it does not exist."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (-1, -1)
    return (stat.st_mtime_ns, stat.st_size)


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
        atomic_write_text(self.path, json.dumps(document, indent=1, allow_nan=False))
        return document
