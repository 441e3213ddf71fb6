"""What to keep of the raw input under `api_data/`: the bytes exactly as received, so the saved
source can replay the day later.

One exception: a sample chain must stay recognisable as sample when replayed (the saved source
skips captures whose `meta.is_sample` is true). The bundled sample is a canonical snapshot that
already says so and is kept byte for byte; a sample whose raw bytes do not say so is kept as a
canonical snapshot with `meta.is_sample` set (of the validated chain, when the raw bytes are not
a snapshot at all).
"""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..data_ingestion.canonical import OptionsChain
from ..data_ingestion.saved.snapshot_format import is_snapshot, snapshot_text

log = logging.getLogger(__name__)

__all__ = ["RawCopy", "raw_copy", "safe_filename"]

FALLBACK_NAME = "raw_input.json"
SAMPLE_SUFFIX = "_sample_snapshot.json"


@dataclass(frozen=True)
class RawCopy:
    """The file to write under api_data/: its name and content."""

    filename: str
    content: bytes


def safe_filename(name: str) -> str:
    """The bare file name of a capture (no folders, never hidden, never empty)."""
    bare = Path(str(name).replace("\\", "/")).name.strip()
    if not bare or bare.startswith(".") or bare in ("..",):
        return FALLBACK_NAME
    return bare


def raw_copy(chain: OptionsChain) -> RawCopy | None:
    """The raw input to keep for `chain`, or None when the source handed over no raw capture."""
    raw = chain.raw
    if raw is None:
        return None
    name = safe_filename(raw.filename)
    if not chain.meta.is_sample:
        return RawCopy(name, raw.content)
    try:
        document = json.loads(raw.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        document = None
    if is_snapshot(document) and isinstance(document.get("meta"), dict):
        if document["meta"].get("is_sample") is True:
            return RawCopy(name, raw.content)
        document["meta"]["is_sample"] = True
        log.info("raw input %s is sample data without the flag; saved with meta.is_sample = true", name)
        return RawCopy(name, (json.dumps(document, ensure_ascii=False) + "\n").encode("utf-8"))
    flagged = dataclasses.replace(chain, meta=dataclasses.replace(chain.meta, is_sample=True))
    stem = Path(name).stem
    log.info("raw input %s is sample data in a format that cannot carry the flag; saved as a flagged "
             "canonical snapshot instead", name)
    return RawCopy(f"{stem}{SAMPLE_SUFFIX}", snapshot_text(flagged).encode("utf-8"))
