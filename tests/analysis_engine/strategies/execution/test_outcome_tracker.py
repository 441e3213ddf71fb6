"""Following signals on hand-made 1-minute bars: target or stop first, gaps, same-bar ties, start times."""
from __future__ import annotations

import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.strategies.execution.outcome_tracker import (close_at_session_end, resolve,
                                                                                           resolve_arrays)
from tasks.options_trading_system.analysis_engine.strategies.feeds.price_path import PricePath

T0 = pd.Timestamp("2025-06-02 14:30", tz="UTC")  # the first of the `four_bars` (conftest.py)


def _followers(*rows: tuple[str, float, float, float, int]) -> pd.DataFrame:
    return pd.DataFrame([{"signal_id": sid, "sign": sign, "target": target, "stop": stop,
                          "start_ns": (T0 + pd.Timedelta(minutes=minute)).value}
                         for sid, sign, target, stop, minute in rows])


def _by_id(frame: pd.DataFrame) -> dict[str, tuple[str, pd.Timestamp, float]]:
    return {r.signal_id: (r.exit_reason, pd.Timestamp(int(r.exit_ns), tz="UTC"), r.exit_reference)
            for r in frame.itertuples()}


def test_target_and_stop_are_found_on_the_first_bar_that_reaches_them(four_bars: PricePath) -> None:
    out = _by_id(resolve(_followers(("long_target", 1, 110.0, 95.0, 0),     # bar 2 high 111 >= 110
                                    ("short_stop", -1, 95.0, 104.0, 1),     # bar 1 high 104 >= 104
                                    ("long_stop", 1, 103.5, 99.5, 0)), four_bars))  # bar 0 low 99 <= 99.5
    assert out["long_target"] == ("target", T0 + pd.Timedelta(minutes=3), 110.0)   # known when bar 2 ends
    assert out["short_stop"] == ("stop", T0 + pd.Timedelta(minutes=2), 104.0)
    assert out["long_stop"] == ("stop", T0 + pd.Timedelta(minutes=1), 99.5)


def test_when_one_bar_touches_both_the_stop_is_taken_first_by_default(four_bars: PricePath) -> None:
    both = _followers(("tie", 1, 104.0, 100.0, 1))  # bar 1: high 104, low 100
    assert _by_id(resolve(both, four_bars))["tie"][0] == "stop"
    assert _by_id(resolve(both, four_bars, stop_first=False))["tie"][0] == "target"


def test_a_stop_gapped_through_fills_at_the_open(four_bars: PricePath) -> None:
    gap = _followers(("gap", 1, 120.0, 105.0, 3))  # bar 3 opens at 95, below the 105 stop
    assert _by_id(resolve(gap, four_bars))["gap"] == ("stop", T0 + pd.Timedelta(minutes=4), 95.0)


def test_bars_before_the_decision_are_not_used(four_bars: PricePath) -> None:
    late = _followers(("late", 1, 110.0, 93.0, 3))  # bar 2 reached 110, but the signal came at 14:33
    assert resolve(late, four_bars).empty


def test_results_come_in_the_order_they_happened(four_bars: PricePath) -> None:
    out = resolve(_followers(("b", 1, 110.0, 95.0, 0), ("a", 1, 103.5, 99.5, 0)), four_bars)
    assert list(out["signal_id"]) == ["a", "b"]


def test_session_end_closes_at_the_last_price_of_the_window(four_bars: PricePath) -> None:
    out = close_at_session_end(_followers(("open", 1, 130.0, 50.0, 0)), four_bars, T0 + pd.Timedelta(minutes=4))
    assert out.iloc[0]["exit_reason"] == "session_end" and out.iloc[0]["exit_reference"] == 95.0
    early = close_at_session_end(_followers(("open", 1, 130.0, 50.0, 0)), four_bars, T0)
    assert pd.isna(early.iloc[0]["exit_reference"])   # no bar ended by then: missing, not 0


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_exits_on_the_same_bar_come_by_signal_id_and_the_arrays_agree_with_the_table(four_bars: PricePath) -> None:
    followers = _followers(("z", 1, 110.0, 95.0, 0), ("m", 1, 110.0, 90.0, 0), ("a", -1, 90.0, 104.0, 0))
    table = resolve(followers, four_bars)
    arrays = resolve_arrays(followers["signal_id"].to_numpy(dtype="object"), followers["sign"].to_numpy(),
                            followers["target"].to_numpy(), followers["stop"].to_numpy(),
                            followers["start_ns"].to_numpy(), four_bars)
    assert list(table["signal_id"]) == ["a", "m", "z"]   # a stopped on bar 1; m and z both reach 110 on bar 2
    assert list(arrays.signal_id) == list(table["signal_id"])
    assert list(arrays.exit_reason) == list(table["exit_reason"])
    assert list(arrays.exit_ns) == list(table["exit_ns"]) and list(arrays.exit_reference) == list(table["exit_reference"])
