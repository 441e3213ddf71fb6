"""A recorded market for replay: the futures price path, chain snapshots through each day, and
MBO files for the options, in one folder.

Layout (what `scripts/make_sample_data.py week` writes; `manifest.json` is optional):

```
<dir>/manifest.json              {"format": "nq-shadow-recording/1", "price_path": "futures/NQ_1min.csv",
                                  "price_timezone": "America/New_York", "is_sample": true, ...}
<dir>/futures/*.csv | *.dbn[.zst]   the price path (1-minute bar CSV, or DBN ohlcv / trades)
<dir>/chains/YYYY-MM-DD/*.json      chain snapshots (canonical snapshots or Barchart captures)
<dir>/mbo/YYYY-MM-DD.mbo.dbn[.zst]  the options' MBO stream of that day (IFD v3.0), with its
                                    definitions beside it (YYYY-MM-DD.definition.dbn[.zst])
<dir>/mbo/history/*.mbo.dbn[.zst]   earlier days, only for IFD v3.0's per-strike baselines
```

`manifest.price_path` may be absolute (e.g. the real NQ bars in ../shared/data, read in place).
Snapshot times come from the manifest when it lists them, else from each file's own `as_of`
(read once when the recording is opened).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ....data_ingestion.saved.formats import is_sidecar, read_capture
from ....errors import InputFileError
from .price_path import DBN_SUFFIXES, PricePath, load_price_path

log = logging.getLogger(__name__)

RECORDING_FORMAT = "nq-shadow-recording/1"
MANIFEST = "manifest.json"
PRICE_DIR, CHAIN_DIR, MBO_DIR = "futures", "chains", "mbo"
DEFINITION_TAG = ".definition."  # `<day>.definition.dbn.zst` holds the definitions of `<day>.mbo.dbn.zst`


@dataclass(frozen=True)
class SnapshotRef:
    """One chain snapshot file and the time it was captured (UTC)."""

    time: pd.Timestamp
    path: Path


@dataclass(frozen=True)
class Recording:
    """What a replay directory holds, indexed by trading day (the folder's date)."""

    root: Path
    price_path: Path | None
    price_timezone: str | None
    snapshots: Mapping[date, tuple[SnapshotRef, ...]]
    mbo: Mapping[date, tuple[Path, ...]]
    is_sample: bool = False
    description: str = ""
    manifest: Mapping[str, Any] = field(default_factory=dict)

    @property
    def days(self) -> list[date]:
        return sorted(set(self.snapshots) | set(self.mbo))

    def snapshots_of(self, day: date) -> tuple[SnapshotRef, ...]:
        return self.snapshots.get(day, ())

    def mbo_of(self, day: date) -> tuple[Path, ...]:
        return self.mbo.get(day, ())

    def prices(self, *, default_timezone: str, bar_seconds: int, root: str = "NQ") -> PricePath:
        """The recording's price path as a replay reads it (empty when it has none); naive CSV
        times are in the manifest's zone, else `default_timezone`."""
        if not self.price_path:
            return PricePath.empty()
        return load_price_path(self.price_path, csv_timezone=self.price_timezone or default_timezone,
                               bar_seconds=bar_seconds, root=root)


def open_recording(root: Path, *, price_path: Path | None = None) -> Recording:
    """Index a replay directory. `price_path` overrides the manifest's (e.g. the real NQ bars)."""
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(f"--replay {root}: no such directory (expected a recording: "
                             f"futures/, chains/YYYY-MM-DD/, mbo/; see docs/shadow_trading.md)")
    manifest = _manifest(root)
    listed = {entry["date"]: entry for entry in manifest.get("days", []) if isinstance(entry, Mapping)}
    snapshots: dict[date, tuple[SnapshotRef, ...]] = {}
    chain_root = root / CHAIN_DIR
    for folder in sorted(p for p in chain_root.glob("*") if p.is_dir()) if chain_root.is_dir() else []:
        day = _folder_date(folder)
        if day is None:
            continue
        refs = _listed_snapshots(root, listed.get(day.isoformat())) or _scan_snapshots(folder)
        if refs:
            snapshots[day] = tuple(sorted(refs, key=lambda r: (r.time, r.path.name)))
    mbo: dict[date, list[Path]] = {}
    mbo_root = root / MBO_DIR
    for file in sorted(mbo_root.glob("*")) if mbo_root.is_dir() else []:
        if file.name.lower().endswith(DBN_SUFFIXES) and DEFINITION_TAG not in file.name:
            day = _name_date(file.name)
            if day is not None:
                mbo.setdefault(day, []).append(file)
    chosen = Path(price_path) if price_path else _manifest_price_path(root, manifest) or _find_price_file(root)
    if not snapshots and not mbo and chosen is None:
        raise InputFileError(f"--replay {root}: nothing to replay (no chains/YYYY-MM-DD/ snapshots, no mbo/ files, "
                             f"no futures/ price path)")
    return Recording(root=root, price_path=chosen, price_timezone=manifest.get("price_timezone"),
                     snapshots=snapshots, mbo={d: tuple(v) for d, v in mbo.items()},
                     is_sample=bool(manifest.get("is_sample", False)),
                     description=str(manifest.get("description", "")), manifest=manifest)


def _manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(f"{path}: unreadable manifest ({exc}); fix or delete it") from exc
    if not isinstance(document, dict) or document.get("format") != RECORDING_FORMAT:
        raise InputFileError(f"{path}: not a recording manifest (expected \"format\": \"{RECORDING_FORMAT}\")")
    return document


def _manifest_price_path(root: Path, manifest: Mapping[str, Any]) -> Path | None:
    value = manifest.get("price_path")
    if not value:
        return None
    path = Path(value)
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise InputFileError(f"{root / MANIFEST}: price_path {value!r} does not exist ({path})")
    return path


def _find_price_file(root: Path) -> Path | None:
    folder = root / PRICE_DIR
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.is_file() and (p.suffix == ".csv" or p.name.endswith(DBN_SUFFIXES)))
    if len(files) > 1:
        log.warning("%s: several price files, using %s", folder, files[0].name)
    return files[0] if files else None


def _listed_snapshots(root: Path, entry: Mapping[str, Any] | None) -> list[SnapshotRef]:
    if not entry:
        return []
    refs = []
    for item in entry.get("snapshots", []):
        path = root / item["file"]
        if path.is_file():
            refs.append(SnapshotRef(time=_utc(item["as_of"]), path=path))
        else:
            log.warning("manifest lists %s but the file is missing; skipped", path)
    return refs


def _scan_snapshots(folder: Path) -> list[SnapshotRef]:
    refs = []
    for path in sorted(folder.glob("*.json")):
        if is_sidecar(path):
            continue
        try:
            chain = read_capture(path)
        except InputFileError as exc:
            log.warning("replay: %s skipped: %s", path, exc)
            continue
        refs.append(SnapshotRef(time=_utc(chain.meta.as_of), path=path))
    return refs


def _folder_date(folder: Path) -> date | None:
    try:
        return date.fromisoformat(folder.name)
    except ValueError:
        log.warning("replay: %s is not a YYYY-MM-DD folder; skipped", folder)
        return None


def _name_date(name: str) -> date | None:
    try:
        return date.fromisoformat(name[:10])
    except ValueError:
        log.warning("replay: %s does not start with YYYY-MM-DD; skipped", name)
        return None


def _utc(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
