"""Read any saved capture file into the canonical chain: detect the format, hand it to its parser.

Understood formats (detected from the JSON itself, never from the file name):

1. Barchart's raw `quotes/get` response `{count, total, data: {Call, Put}, meta}`
   (`barchart_format`); a sidecar `<name>_metadata.json` beside it may state `expiration`,
   `underlying_symbol`, `underlying_price` or `captured_at` (ISO-8601 with offset); the real
   sidecars only carry a local timestamp without a zone, which is not used;
2. the project's capture envelope around such a response (`"format": "nq-options-capture/1"`);
3. the project's canonical snapshot (`"format": "nq-options-canonical/1"`, `snapshot_format`).

The chain comes back unvalidated (the caller runs `validate_chain`) with the file's bytes as
`raw`. Anything else raises `InputFileError` naming the file and what was expected.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ...errors import DataSourceError, InputFileError
from ..canonical import DEFAULT_BOUNDS, ChainBounds, OptionsChain, RawCapture
from .barchart_format import (CAPTURE_FORMAT, CaptureFacts, capture_facts, is_barchart_capture,
                              is_barchart_response, parse_barchart_capture, parse_barchart_response)
from .snapshot_format import SNAPSHOT_FORMAT, is_snapshot, parse_snapshot, read_snapshot, write_snapshot

log = logging.getLogger(__name__)

__all__ = ["read_capture", "read_snapshot", "write_snapshot", "sidecar_path", "is_sidecar",
           "FORMAT_SNAPSHOT", "FORMAT_BARCHART", "FORMAT_BARCHART_CAPTURE", "detect_format"]

SIDECAR_SUFFIX = "_metadata.json"
FORMAT_SNAPSHOT = "canonical snapshot"
FORMAT_BARCHART = "barchart response"
FORMAT_BARCHART_CAPTURE = "barchart capture envelope"
EXPECTED = (f"Barchart's quotes/get response ({{count, total, data: {{Call, Put}}}}), "
            f"a \"{CAPTURE_FORMAT}\" capture envelope or a \"{SNAPSHOT_FORMAT}\" snapshot")


def detect_format(document: Any) -> str | None:
    """Which supported format a decoded JSON document is, or None."""
    if is_snapshot(document):
        return FORMAT_SNAPSHOT
    if is_barchart_capture(document):
        return FORMAT_BARCHART_CAPTURE
    if is_barchart_response(document):
        return FORMAT_BARCHART
    return None


def read_capture(path: Path, bounds: ChainBounds = DEFAULT_BOUNDS) -> OptionsChain:
    """Read one capture file (any supported format) into an unvalidated chain, raw bytes kept.

    A file too large for `bounds.max_contracts` is refused before it is read, and a chain with more
    contracts before its frame is built (`InputFileError`), so memory stays bounded."""
    path = Path(path)
    try:
        bounds.refuse_too_big(path.stat().st_size, str(path))
        content = path.read_bytes()
    except DataSourceError as exc:
        raise InputFileError(str(exc)) from exc
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        document = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: not JSON ({exc}); expected {EXPECTED}") from exc
    kind = detect_format(document)
    raw = RawCapture(content=content, filename=path.name)
    label = str(path)
    try:
        if kind == FORMAT_SNAPSHOT:
            return parse_snapshot(document, raw, label=label, bounds=bounds)
        if kind == FORMAT_BARCHART_CAPTURE:
            return parse_barchart_capture(document, raw, label=label, bounds=bounds)
        if kind == FORMAT_BARCHART:
            return parse_barchart_response(document, _sidecar_facts(path), raw=raw, label=label, bounds=bounds)
    except DataSourceError as exc:
        raise InputFileError(str(exc)) from exc
    found = f"an object with keys {sorted(document)[:8]}" if isinstance(document, dict) \
        else f"a JSON {type(document).__name__}"
    raise InputFileError(f"{path}: not a supported capture: found {found}; expected {EXPECTED}")


def sidecar_path(path: Path) -> Path:
    """Where the metadata sidecar of a capture file lives (`x.json` -> `x_metadata.json`)."""
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def is_sidecar(path: Path) -> bool:
    """True for a `*_metadata.json` sidecar (not a capture itself)."""
    return path.name.endswith(SIDECAR_SUFFIX)


def _sidecar_facts(path: Path) -> CaptureFacts:
    """Facts from the sidecar beside a raw response; none when there is no usable sidecar."""
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return CaptureFacts()
    try:
        document = json.loads(sidecar.read_bytes())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        log.warning("%s: sidecar unreadable (%s); deriving everything from the response", sidecar, exc)
        return CaptureFacts()
    if not isinstance(document, dict):
        log.warning("%s: sidecar is not a JSON object; ignored", sidecar)
        return CaptureFacts()
    stated = {k: document[k] for k in ("captured_at", "expiration", "expiration_date", "underlying_symbol",
                                       "underlying_price", "multiplier") if k in document}
    return capture_facts(stated, str(sidecar))
