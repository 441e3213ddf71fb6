"""Circuit breaker: opens after N consecutive failures, skips until its reset time, half-opens for one
try, and keeps its state in the day's folder so the runs of one day share it (a new day starts closed)."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tasks.options_trading_system.data_ingestion.breaker import (BreakerBoard, BreakerConfig, BreakerState,
                                                                 BreakerStore, CircuitBreaker)

DAY = date(2025, 6, 2)


class Clock:
    """Wall clock in epoch seconds that a test moves by hand."""

    def __init__(self, start: float = 1_748_872_800.0) -> None:  # 2025-06-02 14:00:00 UTC
        self.now = start

    def __call__(self) -> float:
        return self.now


def make(tmp_path: Path, clock: Clock, threshold: int = 3, reset: float = 300.0) -> CircuitBreaker:
    board = BreakerBoard(tmp_path, BreakerConfig(failure_threshold=threshold, reset_after_s=reset), now=clock)
    return board.breaker("databento", DAY)


def test_opens_after_threshold_consecutive_failures_and_a_success_resets_the_count(tmp_path: Path) -> None:
    clock = Clock()
    breaker = make(tmp_path, clock)
    assert breaker.record_failure("TIMEOUT") is BreakerState.CLOSED
    assert breaker.record_failure("TIMEOUT") is BreakerState.CLOSED
    assert breaker.record_success() is BreakerState.CLOSED      # the run of failures is broken
    assert breaker.record_failure("HTTP_500") is BreakerState.CLOSED
    assert breaker.record_failure("HTTP_500") is BreakerState.CLOSED
    assert breaker.allows()
    assert breaker.record_failure("HTTP_500") is BreakerState.OPEN  # third in a row
    assert not breaker.allows()


def test_open_breaker_skips_until_reset_then_half_opens_and_a_failure_reopens_it(tmp_path: Path) -> None:
    clock = Clock()
    breaker = make(tmp_path, clock, threshold=1, reset=300.0)
    breaker.record_failure("CONNECTION: refused")
    clock.now += 299.0
    assert breaker.state() is BreakerState.OPEN
    assert "skipped until 14:05:00 UTC" in breaker.skip_reason()
    assert "CONNECTION: refused" in breaker.skip_reason()
    clock.now += 1.0                                           # exactly the reset time
    assert breaker.state() is BreakerState.HALF_OPEN and breaker.allows()
    assert breaker.record_failure("CONNECTION: refused") is BreakerState.OPEN
    assert breaker.reopens_at() == pytest.approx(clock.now + 300.0)  # a fresh 300 s from the failed try


def test_half_open_success_closes_the_breaker(tmp_path: Path) -> None:
    clock = Clock()
    breaker = make(tmp_path, clock, threshold=2, reset=60.0)
    breaker.record_failure("x")
    breaker.record_failure("x")
    clock.now += 61.0
    assert breaker.state() is BreakerState.HALF_OPEN
    assert breaker.record_success() is BreakerState.CLOSED
    assert breaker.record_failure("x") is BreakerState.CLOSED   # the count started again from zero


def test_state_survives_a_new_process_on_the_same_day_but_not_the_next_day(tmp_path: Path) -> None:
    clock = Clock()
    make(tmp_path, clock, threshold=1).record_failure("HTTP_503")
    state_file = tmp_path / "20250602" / "state" / "circuit_breakers.json"
    stored = json.loads(state_file.read_text())
    assert stored["databento"]["state"] == "open" and stored["databento"]["consecutive_failures"] == 1
    again = BreakerBoard(tmp_path, BreakerConfig(failure_threshold=1, reset_after_s=300), now=clock)
    assert again.breaker("databento", DAY).state() is BreakerState.OPEN          # a second run the same day
    assert again.breaker("databento", date(2025, 6, 3)).state() is BreakerState.CLOSED  # the next day
    assert again.breaker("polygon", DAY).state() is BreakerState.CLOSED           # one breaker per source


def test_unreadable_state_file_starts_closed_rather_than_crashing(tmp_path: Path) -> None:
    path = tmp_path / "20250602" / "state" / "circuit_breakers.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert BreakerStore(path).get("barchart").state == "closed"
    assert make(tmp_path, Clock()).allows()


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
