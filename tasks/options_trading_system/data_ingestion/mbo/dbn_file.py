"""A DBN file of MBO data (.dbn or .dbn.zst), read through databento.DBNStore.

Two layouts are read:
- one schema per file, as Databento's historical downloads come: `x.mbo.dbn.zst` holds the MBO
  records and the definitions sit beside it in `x.definition.dbn.zst` (`definition_path_for`);
  this is the fast path (DBNStore decodes a homogeneous file straight into numpy);
- mixed files (a live recording: definitions, symbol mappings, MBO...), whose definitions are
  inside; DBNStore filters those record by record, which is slower.

`definitions()` decodes the definition records (an empty table when there are none), `iter_mbo()`
yields the MBO records as numpy structured arrays in chunks (the replay path), `records()` yields
record objects one at a time, definitions first (the streaming path).
"""
from __future__ import annotations

import json
import logging
import warnings
import warnings
from datetime import date
from pathlib import Path
from typing import Any, Iterator

import databento as db
import databento_dbn
import numpy as np
import pandas as pd

from .definitions import definitions_from_ndarray, empty_definitions
from ...errors import InputFileError

log = logging.getLogger(__name__)

SUFFIXES = (".dbn", ".dbn.zst")
TRUNCATED = "DBN file is truncated"  # the start of databento's BentoWarning for a cut-off file
MBO_TAG = ".mbo"
TRUTH_SUFFIX = ".truth.json"  # beside a generated (sample) day: its answer key, "is_sample": true
DEFINITION_TAG = ".definition"


def day_stem(path: Path) -> str:
    """`x.mbo.dbn.zst` -> `x` (also `x.dbn`, `x.dbn.zst`, `x.mbo.dbn`)."""
    name = path.name
    for suffix in (".dbn.zst", ".dbn"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name[: -len(MBO_TAG)] if name.endswith(MBO_TAG) else name


def truth_path_for(path: Path) -> Path:
    """`x.mbo.dbn.zst` -> `x.truth.json`: the answer key `sample_data/mbo.py` writes beside a
    generated day."""
    return path.with_name(day_stem(path) + TRUTH_SUFFIX)


def is_sample_day(path: Path | str) -> bool:
    """Whether an MBO file is one of this generator's sample days (its truth file says so), so
    every report built on it can say it is not the market."""
    truth = truth_path_for(Path(path))
    try:
        return bool(json.loads(truth.read_text(encoding="utf-8")).get("is_sample"))
    except (OSError, ValueError):
        return False


def definition_path_for(path: Path) -> Path:
    """Where the definitions of an MBO file sit: `x.mbo.dbn.zst` -> `x.definition.dbn.zst`
    (same compression suffix as the MBO file)."""
    suffix = ".dbn.zst" if path.name.endswith(".dbn.zst") else ".dbn"
    return path.with_name(day_stem(path) + DEFINITION_TAG + suffix)


class MBOFile:
    """One DBN file opened for MBO replay. Raises `InputFileError` when it cannot be read."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputFileError(f"MBO file {self.path}: no such file")
        if not self.path.name.endswith(SUFFIXES):
            raise InputFileError(f"MBO file {self.path}: expected a Databento DBN file ending in .dbn or .dbn.zst")
        try:
            self.store = db.DBNStore.from_file(self.path)
        except Exception as exc:  # the decoder raises plain ValueError/RuntimeError/BentoError
            raise InputFileError(f"MBO file {self.path}: not a readable DBN file ({exc})") from exc
        schema = self.store.schema
        if schema is not None and str(schema) != "mbo":
            raise InputFileError(f"MBO file {self.path}: holds {schema} records, expected mbo "
                                 f"(request schema='mbo' from Databento)")

    @property
    def dataset(self) -> str:
        return str(self.store.dataset)

    @property
    def metadata(self) -> Any:
        return self.store.metadata

    def trade_date(self) -> date:
        """The UTC date the file starts (metadata start, else its first MBO record)."""
        start = int(self.store.metadata.start)
        if start <= 0:
            first = next(iter(self.iter_mbo(1)), None)
            if first is None or len(first) == 0:
                raise InputFileError(f"MBO file {self.path}: no MBO records and no start time")
            start = int(first["ts_recv"][0])
        return pd.Timestamp(start, unit="ns", tz="UTC").date()

    @property
    def definition_file(self) -> Path | None:
        """The definition file beside a one-schema MBO file, when there is one."""
        if self.store.schema is None:
            return None
        candidate = definition_path_for(self.path)
        return candidate if candidate.is_file() else None

    def definitions(self) -> pd.DataFrame:
        """The instruments' definitions: the file's own definition records (mixed file) or the
        definition file beside it; an empty table when there are none (nothing can be scored)."""
        source = self.path if self.store.schema is None else self.definition_file
        if source is None:
            log.warning("MBO file %s: no definitions inside and no %s beside it; contracts cannot be scored",
                        self.path, definition_path_for(self.path).name)
            return empty_definitions()
        try:
            store = self.store if source == self.path else db.DBNStore.from_file(source)
            records = store.to_ndarray(schema="definition") if store.schema is None else store.to_ndarray()
        except Exception as exc:
            raise InputFileError(f"definitions {source}: cannot decode its definition records ({exc})") from exc
        return definitions_from_ndarray(records)

    def iter_mbo(self, chunk_events: int) -> Iterator[np.ndarray]:
        """MBO records in file order, as structured arrays of at most `chunk_events` rows. A
        truncated file is an error (the decoder only warns and hands back part of the day)."""
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("error", message=TRUNCATED)
                for chunk in self.store.to_ndarray(schema="mbo", count=chunk_events):
                    if len(chunk):
                        yield chunk
        except InputFileError:
            raise
        except Exception as exc:
            raise InputFileError(f"MBO file {self.path}: decoding stopped ({exc}); the file may be truncated") from exc

    def records(self) -> Iterator[Any]:
        """Every record object in order, the definition file's first (the streaming path)."""
        if self.definition_file is not None:
            yield from db.DBNStore.from_file(self.definition_file)
        yield from self.store


def read_dbn_table(path: Path) -> tuple[pd.DataFrame, str]:
    """Any DBN file (ohlcv, trades...) as the SDK's table, and its schema name; the decoder's own
    exceptions pass through (callers name the file)."""
    store = db.DBNStore.from_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = store.to_df()
    return frame, str(store.schema)


RECORD_MBO, RECORD_DEFINITION, RECORD_OTHER = "mbo", "definition", "other"
#: the SDK's MBO record class, for the streaming hot path's one-step type test (the engine itself
#: never imports the SDK)
MBO_RECORD_CLASS = databento_dbn.MBOMsg


def record_kind(record: Any) -> str:
    """What one live/streamed DBN record is: an MBO message, an instrument definition, or other
    (symbol mappings, system messages), so the engine never needs the SDK's types."""
    if isinstance(record, databento_dbn.MBOMsg):
        return RECORD_MBO
    if isinstance(record, databento_dbn.InstrumentDefMsg):
        return RECORD_DEFINITION
    return RECORD_OTHER
