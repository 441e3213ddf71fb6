"""IFD v3.0 signals: the enhanced MBO engine (`analysis_engine/ifd_v3/`) on the options' order flow.

Replay (`replay_day`): the day's MBO files go through the engine's batch path with the baselines
of the recorded days before it (`ifd_v3/replay.py`; the baseline store is a SQLite file in the
run's folder, fed from the recording's `mbo/` and `mbo/history/` files); each emission becomes an
`mbo` event at its own time. Live, the same engine runs one record at a time.

An emission says which contract saw one-sided aggressive flow, the direction it implies (buying
calls or selling puts: LONG) and a confidence that can reach 1.0. Its trade idea follows IFD
v1.0's levels: the strike is the target when it lies on the trade's side of the price, the stop
half that distance on the other side; flow at a strike behind the price names no target and is not
signalled (the observation notes count it).
"""
from __future__ import annotations

import glob
import hashlib
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import pandas as pd

from ....config_manager import Profile, validate_document
from ....errors import ConfigError
from ....data_ingestion import mbo as mbo_package
from ....state.state_dir import state_path
from ... import ifd_v3 as ifd_v3_package
from ...ifd_v3.config import IFDv3Config, ifd_config_from_mapping
from ..feeds.market_events import EVENT_MBO
from ..feeds.disk_cache import code_salt, read_entry, write_entry
from ..shadow_config import SignalSourceConfig, thaw
from .base import SignalInput, SignalSource, _deep_merge, empty_ideas, ideas_frame

log = logging.getLogger(__name__)

BASELINE_FILE = "ifd_v3_baselines.sqlite"
HISTORY_DIR = "history"
MBO_PATTERN = "*.mbo.dbn*"  # MBO days (their definitions sit beside them as *.definition.dbn*)
DAY_CACHE_FORMAT = "nq-ifd-v3-day-cache/1"
DAY_CACHE_DIR = "ifd_v3"
EVIDENCE_COLUMNS = ("aggressor", "pressure_ratio", "net_volume", "buy_volume", "sell_volume", "trades", "notional",
                    "z_score", "percentile", "baseline_days", "baseline_quality", "significance", "persistence",
                    "trend", "concentration", "anomaly", "book_imbalance")


class IfdV3SignalSource(SignalSource):
    """IFD v3.0 emissions as trade ideas (see the module docstring)."""

    algorithm: ClassVar[str] = "ifd_v3"
    event_kind: ClassVar[str] = EVENT_MBO

    def __init__(self, name: str, config: IFDv3Config, *, trade: bool = True, tick_size: float = 0.25) -> None:
        super().__init__(name, trade=trade)
        self.config = config
        self.tick_size = tick_size
        self.baseline_path: Path | None = None
        self.baseline_db: Path | None = None

    @classmethod
    def from_profile(cls, source: SignalSourceConfig, profile: Profile, shadow: Any) -> "IfdV3SignalSource":
        merged = _deep_merge(thaw(profile.section("ifd_v3")), thaw(source.settings))
        try:
            validate_document(merged, "ifd_v3.schema.json", source=profile.path)
        except ConfigError as exc:
            raise ConfigError(f"`shadow_trading.signals.sources` {source.name!r} settings: {exc}") from exc
        # replays keep their own baseline store in the run folder; live reads the IFD v3.0 tools' store
        baseline_db = merged.pop("baseline_db", None)
        known = {k: v for k, v in merged.items() if k in IFDv3Config.__dataclass_fields__}
        built = cls(source.name, ifd_config_from_mapping(known), trade=source.trade,
                    tick_size=float(profile.section("instrument").get("tick_size", 0.25)))
        built.baseline_db = state_path(baseline_db) if baseline_db else None
        return built

    def settings_identity(self) -> str | None:
        # where the baseline store lives does not change what it holds (`baseline_fingerprint`)
        return repr((type(self).__name__, self.name, self.trade, self.config, self.tick_size))

    def bind(self, run_dir: Path) -> None:
        """Keep the baseline store in the run's folder (each run learns its own history)."""
        self.baseline_path = Path(run_dir) / f"{self.name}_{BASELINE_FILE}"

    def baseline_fingerprint(self, mbo_folder: Path) -> str:
        """What a baseline store's content depends on: this source's engine settings and every MBO
        file `replay_day` may record from that folder (path, size, modification time). Stores with
        the same fingerprint hold the same days with the same figures, so they can be shared."""
        folder = Path(mbo_folder)
        files = sorted({f for pattern in (str(folder / HISTORY_DIR / MBO_PATTERN), str(folder / MBO_PATTERN))
                        for f in glob.glob(pattern)})
        stats = [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files]
        return hashlib.sha256(repr((self.config, stats)).encode()).hexdigest()[:20]

    def day_cache_key(self, day: Any, files: Sequence[Path]) -> str:
        """What `replay_day(day, files)` returns depends on, as one key: the source's name and
        engine settings (the baseline fingerprint of the files' folder: every MBO file it may
        record, by path, size and modification time), the day, the day's files, and the code and
        library versions that decode and score them (`replay_day_code`)."""
        folder = Path(files[0]).parent
        text = "\x1f".join((DAY_CACHE_FORMAT, self.name, self.baseline_fingerprint(folder), str(day.session),
                            *(str(Path(f).absolute()) for f in files), replay_day_code()))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]

    def replay_day(self, day: Any, files: Sequence[Path], cache_dir: Path | None = None) -> pd.DataFrame:
        """The engine's emissions over the day's MBO files, with baselines from the days before.

        With `cache_dir` (a replay's `<output_dir>/cache/ifd_v3`) the emissions are computed once
        per key (`day_cache_key`) and read back by every later replay of the same recording with
        the same settings; the baseline store is then not touched (it only serves this computation)."""
        if not files:
            return pd.DataFrame()
        key = self.day_cache_key(day, files) if cache_dir is not None else ""
        cached = read_entry(cache_dir, key, pd.DataFrame, "IFD v3.0 day") if cache_dir is not None else None
        if cached is not None:
            return cached
        emissions = self._replay_day(day, files)
        if cache_dir is not None:
            write_entry(cache_dir, key, emissions, "IFD v3.0 day")
        return emissions

    def _replay_day(self, day: Any, files: Sequence[Path]) -> pd.DataFrame:
        # the engine (numba kernels, the DBN reader): loaded only when a day is replayed, not read back
        from ...ifd_v3.baselines import BaselineStore
        from ...ifd_v3.replay import baselines_for, record_history, replay_file
        folder = Path(files[0]).parent
        patterns = [str(folder / HISTORY_DIR / MBO_PATTERN), str(folder / MBO_PATTERN)]
        store_path = self.baseline_path or folder / BASELINE_FILE
        with BaselineStore(store_path) as store:
            record_history(store, patterns, before=day.session, config=self.config, recorded_at=day.window_open)
            table = baselines_for(store, day.session, self.config)
        frames = [replay_file(path, self.config, baselines=table).signals for path in files]
        emissions = pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(
            not f.empty for f in frames) else pd.DataFrame()
        if emissions.empty:
            return emissions
        emissions = emissions.assign(source=self.name, time=pd.to_datetime(emissions["time"], utc=True))
        return emissions.sort_values(["time", "signal_id"], kind="stable").reset_index(drop=True)

    def generate(self, event: SignalInput) -> pd.DataFrame:
        rows = event.mbo_signals
        if rows is None or rows.empty or not np.isfinite(event.price):
            return empty_ideas()
        rows = rows[rows["source"] == self.name] if "source" in rows.columns else rows
        if rows.empty:
            return empty_ideas()
        price = float(event.price)
        strike = rows["strike"].to_numpy(dtype="float64")
        long_ = (rows["direction"] == "LONG").to_numpy()
        ahead = np.where(long_, strike > price, strike < price)
        half = np.abs(strike - price) / 2.0
        stop = np.where(long_, price - half, price + half)
        evidence = [{"engine_signal_id": str(r["signal_id"]), "contract": str(r["contract"]),
                     "expiration": _day(r.get("expiration")),
                     "market_making": bool(r["market_making"]), "reasons": str(r.get("reasons", "")),
                     **{c: _plain(r.get(c)) for c in EVIDENCE_COLUMNS}} for r in rows.to_dict("records")]
        return ideas_frame({
            "contract": rows["contract"].astype("str").to_numpy(),
            "strike": strike,
            "option_right": rows["right"].to_numpy(),
            "direction": rows["direction"].to_numpy(),
            "target": np.where(ahead, strike, np.nan),
            "stop": np.where(ahead, np.round(stop / self.tick_size) * self.tick_size, np.nan),
            "confidence": rows["confidence"].to_numpy(dtype="float64"),
            "tier": rows["tier"].astype("str").to_numpy(),
            "expected_value_points": np.full(len(rows), np.nan),
            "evidence": evidence,
        })


@lru_cache(maxsize=1)
def replay_day_code() -> str:
    """The code a day's emissions come from: the source text of the IFD v3.0 engine, the MBO
    readers and this module, and the versions of the libraries they run on (numba compiles the
    kernels, databento decodes the files)."""
    from importlib.metadata import version
    engine, readers = Path(ifd_v3_package.__file__).parent, Path(mbo_package.__file__).parent
    files = [*sorted(engine.glob("*.py")), *sorted(readers.glob("*.py")), Path(__file__)]
    versions = tuple(version(name) for name in ("numpy", "pandas", "numba", "databento", "databento-dbn"))
    return "\x1f".join((code_salt(files=files), *versions))


def day_cache_dir_under(output_dir: Path) -> Path:
    """Where replays under `output_dir` keep IFD v3.0 day emissions: `<output_dir>/cache/ifd_v3`."""
    return Path(output_dir) / "cache" / DAY_CACHE_DIR


def _day(value: Any) -> str | None:
    """An expiration as YYYY-MM-DD (None when the emission has none)."""
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _plain(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value if isinstance(value, (str, int, bool)) or value is None else str(value)
