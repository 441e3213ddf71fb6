"""The sample chain generator: deterministic, on CME's grid and ticks, priced on its smile, with
believable OI/volume, some N/A volumes and planted spikes that IFD v1.0 finds."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tasks.options_trading_system.analysis_engine import black76
from tasks.options_trading_system.data_ingestion.canonical import validate_chain
from tasks.options_trading_system.data_ingestion.saved.snapshot_format import read_snapshot
from tasks.options_trading_system.sample_data.chain import (SampleChainParams, expiration_schedule, generate_chain,
                                                             strike_grid, years_to_settlement)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT_ROOT / "scripts" / "make_sample_data.py"
BUNDLED_SAMPLE = PROJECT_ROOT / "data" / "sample" / "nq_options_sample.json"
SPIKE_SCHEMA = PROJECT_ROOT / "config" / "schema" / "stage.volume_spike.schema.json"
PARAMS = SampleChainParams()


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return generate_chain().frame


def test_same_seed_same_chain_other_seed_other_chain() -> None:
    pd.testing.assert_frame_equal(generate_chain(seed=11).frame, generate_chain(seed=11).frame)
    assert not generate_chain(seed=11).frame["open_interest"].equals(generate_chain(seed=12).frame["open_interest"])


def test_meta_says_sample(sample: pd.DataFrame) -> None:
    chain = generate_chain()
    assert chain.meta.is_sample and chain.meta.source == "sample"
    assert chain.meta.underlying_symbol == "NQM25" and chain.meta.underlying_price == 21500.0
    assert any("not market data" in note for note in chain.meta.notes)


def test_expirations_follow_the_cme_schedule() -> None:
    # as of Monday 2025-06-02 14:30 New York: dailies Mon 2, Tue 3, Wed 4; Friday weeklies 6 and 13;
    # the quarterly (NQM25 options) on the 3rd Friday, 20 June
    got = expiration_schedule(pd.Timestamp("2025-06-02T18:30:00Z"), PARAMS)
    assert got == [date(2025, 6, d) for d in (2, 3, 4, 6, 13, 20)]
    # after the 16:00 settlement the day's expiry is gone: dailies Tue 3, Wed 4, Thu 5, then the
    # Friday weeklies 6 and 13, and the quarterly
    assert expiration_schedule(pd.Timestamp("2025-06-02T21:00:00Z"), PARAMS) == \
        [date(2025, 6, d) for d in (3, 4, 5, 6, 13, 20)]


def test_strike_grid_by_distance() -> None:
    # F = 21503, half range 700: every 10 within 600 (20903..22103 -> 20910..22100), then the
    # 50s out to 700 points (20803..22203 -> 20850, 20900 below; 22150, 22200 above)
    ks = strike_grid(21503.0, 700.0, PARAMS.strike_bands)
    assert ks[0] == 20850.0 and ks[-1] == 22200.0 and 22150.0 in ks
    assert 20910.0 in ks and 20900.0 in ks and 20860.0 not in ks and 22110.0 not in ks
    assert np.all(np.diff(ks[(ks >= 20910) & (ks <= 22100)]) == 10.0)


def test_every_strike_is_on_the_grid_for_its_distance(sample: pd.DataFrame) -> None:
    distance = (sample["strike"] - PARAMS.underlying).abs()
    inner = 0.0
    for max_distance, spacing in PARAMS.strike_bands:
        band = sample["strike"][(distance > inner) & (distance <= max_distance)]
        assert (band % spacing == 0).all(), f"strikes {inner}-{max_distance} points out must be multiples of {spacing}"
        inner = max_distance
    assert distance.max() <= PARAMS.strike_bands[-1][0]


def test_quotes_on_the_tick_two_sided_and_not_crossed(sample: pd.DataFrame) -> None:
    prices = pd.concat([sample["bid"], sample["ask"], sample["last"]]).dropna()
    cents = np.round(prices * 100).astype(int)
    assert (cents[prices <= 5.0] % 5 == 0).all()    # 0.05 at or below a 5.00 premium
    assert (cents[prices > 5.0] % 25 == 0).all()    # 0.25 above
    both = sample.dropna(subset=["bid", "ask"])
    assert (both["bid"] < both["ask"]).all() and (sample["bid"].dropna() > 0).all()
    assert (sample["ask"] > 0).all()


def test_model_prices_sit_inside_the_quotes(sample: pd.DataFrame) -> None:
    years = years_to_settlement(sample["expiration"].to_numpy(dtype="datetime64[D]"), pd.Timestamp("2025-06-02T18:30:00Z"))
    theo = black76.price(PARAMS.underlying, sample["strike"], years, sample["iv"], sample["right"] == "C")
    both = sample["bid"].notna()
    tolerance = 1e-3  # iv is published to 6 decimals
    assert (sample["bid"][both] <= theo[both] + tolerance).all() and (theo <= sample["ask"] + tolerance).all()


def test_smile_is_recovered_by_black76_implied_vol(sample: pd.DataFrame) -> None:
    implied_vol = getattr(black76, "implied_vol", None)
    if implied_vol is None:
        pytest.skip("black76.implied_vol is not available yet")
    years = years_to_settlement(sample["expiration"].to_numpy(dtype="datetime64[D]"), pd.Timestamp("2025-06-02T18:30:00Z"))
    is_call = (sample["right"] == "C").to_numpy()
    mid = ((sample["bid"] + sample["ask"]) / 2).to_numpy()
    otm = np.where(is_call, sample["strike"] >= PARAMS.underlying, sample["strike"] <= PARAMS.underlying)
    vega = black76.vega(PARAMS.underlying, sample["strike"], years, sample["iv"])
    usable = otm & np.isfinite(mid) & (vega > 1.0) & (years > 0)
    assert usable.sum() > 300
    solved = implied_vol(mid[usable], PARAMS.underlying, sample["strike"].to_numpy()[usable], years[usable],
                         is_call[usable])
    # the mid is within half a tick (at most 0.125 points) of the model price
    tolerance = 0.125 / vega[usable] + 1e-5
    assert np.all(np.abs(solved - sample["iv"].to_numpy()[usable]) <= tolerance)
    # and the smile has its skew: 300 points below > at the money > 300 points above
    week = sample[sample["expiration"] == pd.Timestamp("2025-06-13")].set_index(["strike", "right"])["iv"]
    assert week[(21200.0, "P")] > week[(21500.0, "C")] > week[(21800.0, "C")]


def test_open_interest_peaks_near_the_money_and_at_round_strikes(sample: pd.DataFrame) -> None:
    quarterly = sample[sample["expiration"] == pd.Timestamp("2025-06-20")]
    distance = (quarterly["strike"] - PARAMS.underlying).abs()
    near = quarterly["open_interest"][distance <= 300].mean()
    far = quarterly["open_interest"][distance >= 1500].mean()
    assert near > 1.5 * far  # a flat profile gives ~1
    band = quarterly[(distance <= 1000) & (quarterly["strike"] % 50 == 0)]
    round_500 = band["open_interest"][band["strike"] % 500 == 0].median()
    plain = band["open_interest"][(band["strike"] % 100 != 0)].median()
    assert round_500 > 1.5 * plain


def test_no_volume_is_missing_not_zero(sample: pd.DataFrame) -> None:
    missing = sample["volume"].isna()
    assert 0 < missing.sum() < len(sample) // 2
    assert (sample["volume"].dropna() > 0).all()
    assert sample.loc[missing, "last"].isna().all() and sample.loc[missing, "source_ts"].isna().all()


def _ifd_v1_spikes(frame: pd.DataFrame, multiplier: float) -> pd.DataFrame:
    """IFD v1.0 with the thresholds of the stage's schema defaults."""
    schema = json.loads(SPIKE_SCHEMA.read_text())["properties"]
    usable = frame[(frame["open_interest"] > 0) & (frame["volume"] > 0)]
    ratio = usable["volume"] / usable["open_interest"]
    spikes = usable[(ratio >= schema["min_vol_oi"]["default"]) & (usable["volume"] >= schema["min_volume"]["default"])
                    & (usable["volume"] * usable["last"] * multiplier >= schema["min_notional"]["default"])]
    return spikes.assign(ratio=ratio)


def test_planted_spikes_are_exactly_what_ifd_v1_finds(sample: pd.DataFrame) -> None:
    chain = generate_chain()
    spikes = _ifd_v1_spikes(chain.frame, chain.meta.multiplier)
    assert len(spikes) == PARAMS.n_spikes == 4
    assert ((spikes["strike"] - PARAMS.underlying).abs() / PARAMS.underlying <= 0.02).all()  # actionable
    # one per tier: MODERATE (10-20), HIGH (20-30), VERY_HIGH (30-50), EXTREME (>= 50)
    tiers = pd.cut(spikes["ratio"], [10, 20, 30, 50, np.inf], right=False, labels=False)
    assert sorted(tiers) == [0, 1, 2, 3]
    assert all(c in " ".join(chain.meta.notes) for c in spikes["contract"])


@pytest.mark.parametrize("n", [1000, 10_000])
def test_sizes_are_exact_and_still_valid(n: int) -> None:
    chain = generate_chain(n)
    assert len(chain.frame) == n
    valid = validate_chain(chain)
    assert valid.quarantine_counts() == {}
    assert len(_ifd_v1_spikes(chain.frame, 20.0)) == PARAMS.n_spikes


def test_bundled_file_is_the_default_output(sample: pd.DataFrame) -> None:
    bundled = read_snapshot(BUNDLED_SAMPLE)
    pd.testing.assert_frame_equal(bundled.frame, sample)
    assert bundled.meta == generate_chain().meta


def test_script_reproduces_the_bundled_file_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "sample.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "-q", "--output", str(out)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == BUNDLED_SAMPLE.read_bytes()


def test_script_chain_command_options(tmp_path: Path) -> None:
    out = tmp_path / "small.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "chain", "--contracts", "300", "--seed", "5",
                           "--as-of", "2025-06-25T18:00:00Z", "--output", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    chain = read_snapshot(out)
    assert len(chain.frame) == 300 and chain.meta.as_of == pd.Timestamp("2025-06-25T18:00:00Z")
    assert chain.meta.is_sample


def test_script_help_and_bad_arguments() -> None:
    helped = subprocess.run([sys.executable, str(SCRIPT), "chain", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert helped.returncode == 0
    assert all(flag in helped.stdout for flag in ("--output", "--seed", "--contracts", "--as-of"))
    bad = subprocess.run([sys.executable, str(SCRIPT), "--contracts", "0"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "positive" in bad.stderr


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
