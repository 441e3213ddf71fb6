"""A replay day's cache key: the same recording, bars, sources and code give the same key; a
touched recording file, other bars or another source setting give another, and a source that
cannot describe its settings makes the day uncacheable."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd

from tasks.options_trading_system.analysis_engine.greeks import GreeksConfig
from tasks.options_trading_system.analysis_engine.strategies.day_cache import day_key
from tasks.options_trading_system.analysis_engine.strategies.feeds.recording import open_recording
from tasks.options_trading_system.analysis_engine.strategies.feeds.trading_calendar import TradingCalendar
from tasks.options_trading_system.analysis_engine.strategies.shadow_config import ShadowTradingConfig, WindowConfig
from tasks.options_trading_system.analysis_engine.strategies.signals import build_signal_sources
from tasks.options_trading_system.config_manager import load_profile


def _inputs(recording: Path, top_n: int = 1):
    profile = load_profile("shadow_trading")
    config = ShadowTradingConfig.from_profile(profile)
    config = dataclasses.replace(config, signals=dataclasses.replace(config.signals, ev_top_n=top_n))
    day = TradingCalendar("CMES", WindowConfig()).day(pd.Timestamp("2025-06-02").date())
    bars = open_recording(recording).prices(default_timezone="America/New_York", bar_seconds=60).between(day.session_open, day.session_close)
    return day, bars, build_signal_sources(profile, config)


def test_the_key_names_everything_a_computed_day_depends_on(small_recording: Path, tmp_path: Path) -> None:
    copy = tmp_path / "week"
    for file in small_recording.rglob("*"):
        if file.is_file():
            (copy / file.relative_to(small_recording)).parent.mkdir(parents=True, exist_ok=True)
            (copy / file.relative_to(small_recording)).write_bytes(file.read_bytes())
    day, bars, sources = _inputs(copy)
    key = day_key(day, copy, bars, sources, GreeksConfig())
    assert key is not None and key == day_key(day, copy, bars, _inputs(copy)[2], GreeksConfig())
    assert day_key(day, copy, bars, _inputs(copy, top_n=2)[2], GreeksConfig()) != key    # a source setting
    assert day_key(day, copy, bars, sources, GreeksConfig(risk_free_rate=0.05)) != key   # the greeks settings
    shorter = bars.between(day.session_open, day.window_close)
    assert day_key(day, copy, shorter, sources, GreeksConfig()) != key                   # other bars
    history = next((copy / "mbo" / "history").glob("*.mbo.dbn*"))                        # any recorded file
    os.utime(history, ns=(history.stat().st_atime_ns, history.stat().st_mtime_ns + 1_000_000_000))
    assert day_key(day, copy, bars, sources, GreeksConfig()) != key


def test_a_source_that_cannot_describe_its_settings_is_never_cached(small_recording: Path) -> None:
    day, bars, sources = _inputs(small_recording)

    class Opaque(type(sources[0])):
        def settings_identity(self) -> str | None:
            return None

    opaque = Opaque.__new__(Opaque)
    opaque.__dict__.update(vars(sources[0]))
    assert day_key(day, small_recording, bars, [opaque, *sources[1:]], None) is None
