"""The stages' shared helpers give the same answers as the plain pandas/numpy they stand in for."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine.greeks import with_columns
from tasks.options_trading_system.analysis_engine.stage_tools import (empty_rows, fast_frame, json_records,
                                                                       json_value, select_first, take_rows,
                                                                       text_array)


def mixed_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "int": np.arange(4, dtype=np.int64),
        "small": np.arange(4, dtype=np.uint8),
        "f32": np.array([1.5, np.nan, np.inf, 2], dtype=np.float32),
        "float": [0.25, np.nan, -np.inf, 3.0],
        "objects": np.array([1, "a", None, 2.5], dtype=object),
        "flag": [True, False, True, False],
        "label": pd.Categorical(["x", None, "y", "x"]),
        "number_label": pd.Categorical([1, 2, 1, 2]),
        "day": pd.to_datetime(["2025-06-02", None, "2025-06-03", "2025-06-04"]),
        "text": pd.array(["a", None, "b", "c"], dtype="str"),
        "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
    }, index=list("abcd"))


def plain_records(frame: pd.DataFrame) -> list[dict]:
    """The straightforward conversion: every value through `json_value`."""
    names = frame.columns.tolist()
    return [dict(zip(names, map(json_value, row))) for row in frame.to_numpy(dtype=object).tolist()]


def test_json_records_match_value_by_value_conversion_including_types() -> None:
    frame = mixed_frame()
    got, want = json_records(frame), plain_records(frame)
    assert got == want
    assert [[type(v) for v in row.values()] for row in got] == [[type(v) for v in row.values()] for row in want]
    assert got[0]["int"] == 0 and type(got[0]["int"]) is int  # ints stay ints (not 0.0)
    assert got[1]["float"] is None and got[2]["float"] is None  # NaN and inf: no JSON number
    assert got[0]["day"] == "2025-06-02" and got[1]["label"] is None


@pytest.mark.parametrize("limit", [0, 1, 3, 10])
def test_json_records_limit_is_the_head(limit: int) -> None:
    frame = mixed_frame()
    assert json_records(frame, limit=limit) == plain_records(frame.head(limit))


def test_select_first_is_np_select() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        size = int(rng.integers(0, 40))
        conditions = [rng.random(size) < 0.3 for _ in range(int(rng.integers(1, 6)))]
        choices = rng.integers(0, 9, len(conditions)).tolist()
        for picks, default in ((choices, 3), ([c + 0.5 for c in choices], 0.25)):
            want = np.select(conditions, picks, default)
            got = select_first(conditions, picks, default)
            assert got.dtype == want.dtype and np.array_equal(got, want)


def test_fast_frame_is_the_ordinary_constructor() -> None:
    columns = {"strike": np.array([1.0, 2.0]), "count": np.array([1, 2]), "ok": np.array([True, False]),
               "when": np.array(["2025-06-02", "2025-06-03"], dtype="datetime64[ns]"),
               "side": pd.Categorical.from_codes([0, 1], categories=["CALL", "PUT"]),
               "note": text_array(["a", "b"])}
    pd.testing.assert_frame_equal(fast_frame(columns), pd.DataFrame(columns))
    index = pd.Index([10, 11])
    pd.testing.assert_frame_equal(fast_frame(columns, index), pd.DataFrame(columns, index=index))
    # anything not a typed array goes the ordinary way (pandas infers the column)
    pd.testing.assert_frame_equal(fast_frame({"words": ["a", "b"]}), pd.DataFrame({"words": ["a", "b"]}))
    assert text_array(["a"]).dtype == pd.DataFrame({"words": ["a"]})["words"].dtype


def test_a_frame_built_on_another_frames_columns_copies_on_write() -> None:
    # the greeks stage's enriched chain reuses the chain's own arrays: writing into either frame
    # afterwards must not change the other (pandas' copy-on-write, as with `pd.DataFrame(dict of Series)`)
    chain = pd.DataFrame({"strike": [1.0, 2.0], "right": pd.array(["C", "P"], dtype="str"), "mark": [3.0, 4.0]})
    enriched = with_columns(chain, {"mark": np.array([5.0, 6.0]), "iv": np.array([0.1, 0.2])})
    assert enriched.columns.tolist() == ["strike", "right", "mark", "iv"]
    enriched.loc[0, "strike"] = 99.0
    assert chain["strike"].tolist() == [1.0, 2.0]
    chain.loc[1, "strike"] = -1.0
    assert enriched["strike"].tolist() == [99.0, 2.0]
    assert enriched["mark"].tolist() == [5.0, 6.0] and chain["mark"].tolist() == [3.0, 4.0]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))


@pytest.mark.parametrize("rows", [[4, 0, 2, 3], [], [1, 1, 1], [5, 4, 3, 2, 1, 0]])
def test_taking_rows_of_text_is_pandas_indexing(rows: list[int]) -> None:
    text = pd.array(["MC6N5 C21500", "", "é€ unicode", "P", "a much longer contract name", "x"], dtype="str")
    positions = np.array(rows, dtype=np.intp)
    for values in (text, text[1:]):  # a slice: its buffers start at an offset
        picked = positions[positions < len(values)]
        got = take_rows(values, picked)
        assert got.dtype == values.dtype
        assert list(got) == list(values[picked])


def test_taking_rows_of_text_with_missing_values_or_bad_positions() -> None:
    text = pd.array(["a", None, "c"], dtype="str")
    assert [v if isinstance(v, str) else None for v in take_rows(text, np.array([2, 1]))] == ["c", None]
    with pytest.raises(IndexError):
        take_rows(pd.array(["a", "b"], dtype="str"), np.array([2]))


def test_empty_rows_keep_every_column_and_dtype_run_after_run() -> None:
    frame = mixed_frame()
    for _ in range(2):  # the second time from the empty arrays made the first time
        pd.testing.assert_frame_equal(empty_rows(frame), frame.iloc[0:0])
