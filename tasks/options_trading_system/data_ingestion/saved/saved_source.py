"""The `saved` source: the last resort when no live source answers.

Order (profile section `data_sources.saved`):

1. the newest capture the system saved itself, `<root>/*/api_data/*.json`, where the roots are
   the run's own output root (`--output-dir`, else `outputs.base_dir`) and any extra
   `search_dirs`. "Newest" is decided without opening every file: by the run-day folder name
   (`YYYYMMDD`, so copying or cloning files does not reorder them; a folder not named like a date
   counts by its files' modification day), then by file modification time. Captures of the run's
   trade date or earlier come before later ones, so a past `--date` is analysed with the data of
   its own time. Candidates are read in that order and the first one that reads *and* passes the
   chain gate wins; unreadable or refused files are skipped with a logged warning, sidecars
   (`*_metadata.json`) are not captures, and a capture flagged as sample data is skipped (it is
   the sample, not the market);
2. the bundled sample chain (`sample_file`), flagged `is_sample` with a note, when `use_sample`;
3. otherwise `DataSourceError` saying where it looked.

Relative `search_dirs` and `sample_file` are relative to the project root; the run's output root
is taken as the run was given it. Every served chain
carries a note saying how old it is against the run's trade date.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterator, Mapping

import pandas as pd

from ...errors import ChainValidationError, ConfigError, DataSourceError, InputFileError
from ..canonical import DEFAULT_BOUNDS, ChainBounds, OptionsChain, validate_chain
from ..sources_registry import CAPTURE_SUBDIR, ChainRequest, DataSource, SourceContext
from .formats import is_sidecar, read_capture

log = logging.getLogger(__name__)

CAPTURE_GLOB = "*.json"
DAY_FOLDER = re.compile(r"^\d{8}$")
EXCHANGE_TZ = "America/New_York"  # the trading day a capture belongs to is New York's


@dataclass(frozen=True, kw_only=True)
class SavedSourceConfig:
    """`data_sources.saved` of the profile (defaults live in config/schema/sources.schema.json)."""

    search_dirs: tuple[str, ...]
    use_sample: bool
    sample_file: str

    @classmethod
    def from_mapping(cls, section: Mapping[str, Any]) -> "SavedSourceConfig":
        """From the validated profile section (schema defaults already filled)."""
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in section]
        if missing:
            raise ConfigError(f"data_sources.saved: missing {', '.join(missing)} (load the profile through "
                              "config_manager.load_profile so the schema fills the defaults)")
        return cls(search_dirs=tuple(str(d) for d in section["search_dirs"]),
                   use_sample=bool(section["use_sample"]), sample_file=str(section["sample_file"]))


class SavedSource(DataSource):
    """Replays the newest saved capture, else the bundled sample chain."""

    name = "saved"

    def __init__(self, config: SavedSourceConfig, project_root: Path, output_root: Path | None = None,
                 bounds: ChainBounds = DEFAULT_BOUNDS) -> None:
        self.config = config
        self.bounds = bounds
        self.project_root = Path(project_root)
        self.output_root = Path(output_root) if output_root is not None else None

    @classmethod
    def from_context(cls, context: SourceContext) -> "SavedSource":
        return cls(SavedSourceConfig.from_mapping(context.profile.section("data_sources", "saved")),
                   context.project_root, context.output_root,
                   bounds=ChainBounds.from_section(context.profile.section("data_sources", "validation")))

    @property
    def search_roots(self) -> list[Path]:
        """The run's output root first, then the configured extra roots (duplicates dropped)."""
        roots = ([self.output_root.resolve()] if self.output_root is not None else []) + \
            [self._resolve(d).resolve() for d in self.config.search_dirs]
        return list(dict.fromkeys(roots))

    @property
    def sample_path(self) -> Path:
        return self._resolve(self.config.sample_file)

    def fetch(self, request: ChainRequest) -> OptionsChain:
        for path in self.captures(on_or_before=request.trade_date):
            chain = self._usable_capture(path)
            if chain is not None:
                note = f"saved capture {self._display(path)}: {_age(chain, request.trade_date)}"
                log.info("saved source serves %s", note)
                return _with_note(chain, note)
        where = ", ".join(f"{self._display(r)}/*/{CAPTURE_SUBDIR}/" for r in self.search_roots)
        if not self.config.use_sample:
            raise DataSourceError(f"no saved capture under {where} and the bundled sample is disabled "
                                  "(data_sources.saved.use_sample = false)")
        return self._sample(request, where)

    def captures(self, on_or_before: date | None = None) -> list[Path]:
        """Capture candidates under every search root, newest first (see the module docstring).

        With `on_or_before` (the run's trade date), captures of that day or earlier come first, so
        replaying a past date never analyses data from after it while such data exists; later
        captures follow (their note says how far after the run date they are)."""
        found = {p.resolve(): p for root in self.search_roots for p in _candidates(root)}
        newest_first = sorted(found.values(), key=_recency, reverse=True)
        if on_or_before is None:
            return newest_first
        return sorted(newest_first, key=lambda path: _recency(path)[0] > on_or_before)  # stable

    def _usable_capture(self, path: Path) -> OptionsChain | None:
        try:
            chain = read_capture(path, self.bounds)
        except InputFileError as exc:
            log.warning("saved source: skipping unreadable capture %s: %s", path, exc)
            return None
        if chain.meta.is_sample:
            log.info("saved source: skipping %s: it holds sample data, not a market capture", path)
            return None
        try:
            validate_chain(chain, self.bounds)
        except ChainValidationError as exc:
            log.warning("saved source: skipping capture %s refused by the chain gate: %s", path, exc)
            return None
        return chain

    def _sample(self, request: ChainRequest, where: str) -> OptionsChain:
        path = self.sample_path
        if not path.is_file():
            raise DataSourceError(f"no saved capture under {where} and the bundled sample {self._display(path)} "
                                  "is missing (regenerate it: python3 scripts/make_sample_data.py chain)")
        try:
            chain = read_capture(path, self.bounds)
        except InputFileError as exc:
            raise DataSourceError(f"no saved capture under {where} and the bundled sample is unreadable: {exc}") from exc
        note = (f"bundled SAMPLE chain {self._display(path)} (generated, not market data): "
                f"{_age(chain, request.trade_date)}")
        log.warning("saved source: no capture under %s; serving the %s", where, note)
        chain = dataclasses.replace(chain, meta=dataclasses.replace(chain.meta, is_sample=True))
        return _with_note(chain, note)

    def _resolve(self, configured: str) -> Path:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else self.project_root / path

    def _display(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.project_root))
        except ValueError:
            return str(path)


def _candidates(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for path in root.glob(f"*/{CAPTURE_SUBDIR}/{CAPTURE_GLOB}"):
        if path.is_file() and not is_sidecar(path) and not path.name.startswith("."):
            yield path


def _recency(path: Path) -> tuple[date, float, str]:
    """Sort key: run-day folder date (else the file's modification day), then mtime, then name."""
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    day = _folder_day(path.parent.parent.name) or datetime.fromtimestamp(mtime).date()
    return day, mtime, path.name


def _folder_day(name: str) -> date | None:
    """The date of a `YYYYMMDD` run folder, None for any other name."""
    if not DAY_FOLDER.match(name):
        return None
    try:
        return datetime.strptime(name, "%Y%m%d").date()
    except ValueError:
        return None


def _age(chain: OptionsChain, trade_date: date) -> str:
    """'capture from 2025-06-02, 3 days old' against the run's trade date (New York days)."""
    captured = pd.Timestamp(chain.meta.as_of).tz_convert(EXCHANGE_TZ).date()
    days = (trade_date - captured).days
    if days == 0:
        age = "from the run date"
    elif days > 0:
        age = f"{days} day{'s' if days != 1 else ''} old"
    else:
        age = f"{-days} day{'s' if days != -1 else ''} after the run date"
    return f"capture from {captured.isoformat()}, {age}"


def _with_note(chain: OptionsChain, note: str) -> OptionsChain:
    return dataclasses.replace(chain, meta=dataclasses.replace(chain.meta, notes=(*chain.meta.notes, note)))
