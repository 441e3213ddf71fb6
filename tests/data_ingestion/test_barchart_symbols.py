"""Barchart option roots -> expiration and underlying future, as listed on Barchart's NQM25 page.

June 2025 calendar (1 June is a Sunday): Mondays 2, 9, 16, 23, 30; Tuesdays 3...; Wednesdays 4...;
Thursdays 5...; Fridays 6, 13, 20, 27; the NQM25 future expires on the 3rd Friday, 20 June.
"""
from __future__ import annotations

from datetime import date

import pytest

from tasks.options_trading_system.data_ingestion.saved.barchart_symbols import (decode_root, encode_root,
                                                                               underlying_future)

REF = date(2025, 6, 2)


@pytest.mark.parametrize("root,expiration,underlying", [
    ("MC6M25", date(2025, 6, 2), "NQM25"),   # Monday weekly, week 1 ("0 Days to expiration on 06/02/25")
    ("MC7M25", date(2025, 6, 9), "NQM25"),   # Monday weekly, week 2
    ("MM1M25", date(2025, 6, 3), "NQM25"),   # Tuesday weekly, week 1
    ("MC1M25", date(2025, 6, 4), "NQM25"),   # Wednesday weekly, week 1
    ("MM6M25", date(2025, 6, 5), "NQM25"),   # Thursday weekly, week 1
    ("MQ1M25", date(2025, 6, 6), "NQM25"),   # Friday weekly, week 1
    ("MQ4M25", date(2025, 6, 27), "NQU25"),  # Friday weekly, week 4: after NQM25 expired
    ("MQ6M25", date(2025, 6, 30), "NQU25"),  # end of month (the page lists it under NQU25)
    ("NQM25", date(2025, 6, 20), "NQM25"),   # monthly: 3rd Friday
    ("MC6M5", date(2025, 6, 2), "NQM25"),    # one-digit year, as in the real capture
    ("MC6N5", date(2025, 7, 7), "NQU25"),
])
def test_roots_decode_to_their_expiration(root: str, expiration: date, underlying: str) -> None:
    series = decode_root(root, REF)
    assert series is not None
    assert series.expiration == expiration and series.underlying_symbol == underlying


@pytest.mark.parametrize("root", ["ZZ9Q5", "MQ9M5", "MC0M5", "NQ", "MC6M", "MC6A5"])
def test_unknown_roots_are_not_guessed(root: str) -> None:
    assert decode_root(root, REF) is None


def test_week_five_exists_only_in_months_that_have_it() -> None:
    # June 2025 has four Tuesdays, Wednesdays and Fridays; July 2025 has five Wednesdays (2..30)
    assert [decode_root(r, REF) for r in ("MM5M5", "MC5M5", "MQ5M5")] == [None, None, None]
    assert decode_root("MC5N5", REF).expiration == date(2025, 7, 30)


def test_one_digit_year_is_the_nearest_not_in_the_past() -> None:
    assert decode_root("NQH6", REF).expiration == date(2026, 3, 20)
    assert decode_root("NQH4", REF).expiration == date(2024, 3, 15)  # the year before the capture still counts


def test_december_options_roll_into_march() -> None:
    assert underlying_future(date(2025, 12, 26)) == "NQH26"


@pytest.mark.parametrize("day", [date(2025, 6, d) for d in range(2, 31)] + [date(2025, 7, d) for d in range(1, 32)])
def test_encode_is_the_inverse_of_decode_on_weekdays(day: date) -> None:
    root = encode_root(day)
    if day.weekday() > 4:
        assert root is None
        return
    if root is None:  # week-5 Monday/Thursday: no root seen on Barchart's page
        assert day.weekday() in (0, 3) and day.day > 28
        return
    assert decode_root(root, REF).expiration == day


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
