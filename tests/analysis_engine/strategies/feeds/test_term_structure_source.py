"""The term-structure source of tick runs: the latest snapshot at or before an instant, never a
later one; which chain folder a setting names."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.feeds.term_structure_source import (
    TermStructureSource, chain_folder)
from tasks.options_trading_system.analysis_engine.term_structure import TermStructure
from tasks.options_trading_system.errors import ConfigError

T1 = pd.Timestamp("2025-06-02 14:00", tz="UTC").value
T2 = pd.Timestamp("2025-06-02 14:15", tz="UTC").value


def point(at: int, front: float, nxt: float) -> TermStructure:
    return TermStructure(at, pd.Timestamp("2025-06-02"), front, pd.Timestamp("2025-06-03"), nxt)


def test_the_latest_snapshot_at_or_before_the_instant_never_a_later_one() -> None:
    incomplete = TermStructure(T1 - 1, None, math.nan, None, math.nan, "no contracts")
    source = TermStructureSource([point(T2, 0.30, 0.20), point(T1, 0.18, 0.22), incomplete])
    assert len(source.points) == 2 and source.skipped == 1      # an unusable snapshot is not an answer
    before = source.at(T1 - 1)                                  # 1 ns before the first snapshot: nothing yet
    assert before.term_structure_time_ns is None and math.isnan(before.front_atm_iv)
    assert source.at(T1).term_structure_time_ns == T1 and source.at(T1).next_atm_iv == 0.22
    assert source.at(T2 - 1).term_structure_time_ns == T1       # the 14:15 snapshot is still in the future
    assert source.at(T2).front_atm_iv == 0.30 and source.at(T2 + 10**12).term_structure_time_ns == T2


def test_chain_folder_setting(tmp_path: Path) -> None:
    replay = tmp_path / "ticks"
    replay.mkdir()
    assert chain_folder("none", replay) is None
    assert chain_folder("auto", replay) is None                 # no options/ beside the ticks: no term structure
    assert chain_folder("auto", None) is None
    (replay / "options").mkdir()
    assert chain_folder("auto", replay) == replay / "options"
    assert chain_folder("options", replay) == replay / "options"   # relative to the replay folder
    assert chain_folder(str(replay / "options"), None) == replay / "options"
    with pytest.raises(ConfigError, match="term_structure.chains"):
        chain_folder("elsewhere", replay)
