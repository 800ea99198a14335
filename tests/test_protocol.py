"""Protocol arithmetic against known Bitcoin values and hand-computed cases."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketsim.protocol import (
    HALVING_INTERVAL_BLOCKS,
    MAX_RETARGET_FACTOR,
    RETARGET_INTERVAL_BLOCKS,
    RETARGET_PERIOD_DAYS,
    TARGET_BLOCKS_PER_DAY,
    ChainState,
    advance_chain,
    ehs_to_mw,
    hashprice_usd_per_ph_day,
    mw_to_ehs,
    next_halving_height,
    subsidy_btc,
    subsidy_for_blocks,
    subsidy_sat,
)


# --- subsidy ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("height", "expected_btc"),
    [
        (0, 50.0),
        (209_999, 50.0),
        (210_000, 25.0),
        (629_999, 12.5),
        (630_000, 6.25),
        (839_999, 6.25),
        (840_000, 3.125),
        (1_050_000, 1.5625),
    ],
)
def test_subsidy_known_heights(height, expected_btc):
    assert subsidy_btc(height) == expected_btc


def test_subsidy_reaches_zero_and_shift_cap():
    # 50 BTC = 5e9 sat < 2^33, so the 33rd halving pays nothing; shift >= 64 is special-cased.
    assert subsidy_sat(32 * HALVING_INTERVAL_BLOCKS) == 1
    assert subsidy_sat(33 * HALVING_INTERVAL_BLOCKS) == 0
    assert subsidy_sat(64 * HALVING_INTERVAL_BLOCKS) == 0
    assert subsidy_sat(10**12) == 0


@pytest.mark.parametrize("bad", [-1, 1.5, math.nan])
def test_subsidy_rejects_bad_height(bad):
    with pytest.raises(ValueError, match="height"):
        subsidy_btc(bad)


def test_next_halving_height():
    assert next_halving_height(839_999) == 840_000
    assert next_halving_height(839_999.9) == 840_000
    assert next_halving_height(840_000) == 1_050_000
    assert next_halving_height(0) == 210_000


def test_subsidy_for_blocks_across_boundary():
    assert subsidy_for_blocks(839_990, 20) == 10 * 6.25 + 10 * 3.125
    # Fractional: 9.5 blocks at 6.25 then 0.25 at 3.125.
    assert subsidy_for_blocks(839_990.5, 9.75) == 9.5 * 6.25 + 0.25 * 3.125
    assert subsidy_for_blocks(840_000, 0) == 0.0
    # Across two halvings: 1 block at 12.5, 210,000 at 6.25, 1 at 3.125.
    assert subsidy_for_blocks(629_999, 210_002) == 12.5 + 210_000 * 6.25 + 3.125


def test_subsidy_for_blocks_rejects_negative():
    with pytest.raises(ValueError, match="n_blocks"):
        subsidy_for_blocks(840_000, -1)


@given(
    start=st.floats(min_value=0, max_value=2_000_000),
    first=st.floats(min_value=0, max_value=500_000),
    second=st.floats(min_value=0, max_value=500_000),
)
def test_subsidy_for_blocks_is_additive(start, first, second):
    whole = subsidy_for_blocks(start, first + second)
    split = subsidy_for_blocks(start, first) + subsidy_for_blocks(start + first, second)
    assert math.isclose(whole, split, rel_tol=1e-12, abs_tol=1e-6)


@given(
    # Ends below 2,100,000 (era 10) so every subsidy is a dyadic BTC amount and sums are exact floats.
    start=st.integers(min_value=0, max_value=1_000_000),
    first=st.integers(min_value=0, max_value=500_000),
    second=st.integers(min_value=0, max_value=500_000),
)
def test_subsidy_for_whole_blocks_is_additive_exactly_and_matches_per_block_sum(start, first, second):
    whole = subsidy_for_blocks(start, first + second)
    assert whole == subsidy_for_blocks(start, first) + subsidy_for_blocks(start + first, second)
    end = start + first + second
    # Per-era closed form of the per-block sum.
    expected = 0
    for era in range(start // HALVING_INTERVAL_BLOCKS, end // HALVING_INTERVAL_BLOCKS + 1):
        lo = max(start, era * HALVING_INTERVAL_BLOCKS)
        hi = min(end, (era + 1) * HALVING_INTERVAL_BLOCKS)
        expected += max(hi - lo, 0) * subsidy_sat(era * HALVING_INTERVAL_BLOCKS)
    assert whole == expected / 100_000_000


# --- difficulty ----------------------------------------------------------------------------------------
def test_chain_at_equilibrium_mines_144_a_day_without_drift():
    state = ChainState(height=840_000, difficulty_hashrate_ehs=600.0)
    total = 0.0
    for _ in range(100):  # ~7 retargets in daily steps
        state, mined = advance_chain(state, 600.0, 1.0)
        assert mined == pytest.approx(TARGET_BLOCKS_PER_DAY, rel=1e-12)
        total += mined
    assert state.difficulty_hashrate_ehs == pytest.approx(600.0, rel=1e-12)
    assert state.height == pytest.approx(840_000 + 100 * TARGET_BLOCKS_PER_DAY, rel=1e-12)


def test_hashrate_above_difficulty_mines_faster_until_retarget():
    state = ChainState(height=0, difficulty_hashrate_ehs=100.0)
    state, mined = advance_chain(state, 110.0, 1.0)
    assert mined == pytest.approx(1.1 * TARGET_BLOCKS_PER_DAY)
    # The epoch completes after 2016 / 158.4 = 12.727 days; difficulty catches up by 14 / 12.727 = 1.1.
    state, _ = advance_chain(state, 110.0, RETARGET_INTERVAL_BLOCKS / (1.1 * TARGET_BLOCKS_PER_DAY) - 1.0)
    assert state.epoch_blocks == pytest.approx(0.0, abs=1e-9)
    assert state.difficulty_hashrate_ehs == pytest.approx(110.0)
    state, mined = advance_chain(state, 110.0, 1.0)
    assert mined == pytest.approx(TARGET_BLOCKS_PER_DAY)


def test_step_crossing_two_retargets():
    # Hashrate 2x difficulty: epoch 1 lasts 7 days (difficulty -> 200), epoch 2 then runs at 144/day for
    # 14 days (no change), leaving 9 days of a 30-day step in epoch 3.
    state = ChainState(height=0, difficulty_hashrate_ehs=100.0)
    state, mined = advance_chain(state, 200.0, 30.0)
    assert state.difficulty_hashrate_ehs == pytest.approx(200.0)
    assert mined == pytest.approx(2 * RETARGET_INTERVAL_BLOCKS + 9 * TARGET_BLOCKS_PER_DAY)
    assert state.epoch_days == pytest.approx(9.0)
    assert state.epoch_blocks == pytest.approx(9 * TARGET_BLOCKS_PER_DAY)
    assert state.height == pytest.approx(mined)


def test_retarget_is_clamped_at_4x():
    # Hashrate 10x difficulty: epoch lasts 1.4 days, unclamped factor 10 -> clamped to 4; the remaining
    # 0.1 day runs at 144 x 1000 / 400 = 360 blocks/day -> 36 blocks into the next epoch.
    state = ChainState(height=0, difficulty_hashrate_ehs=100.0)
    state, mined = advance_chain(state, 1000.0, 1.5)
    assert state.difficulty_hashrate_ehs == pytest.approx(MAX_RETARGET_FACTOR * 100.0)
    assert mined == pytest.approx(RETARGET_INTERVAL_BLOCKS + 36)
    assert state.epoch_days == pytest.approx(0.1)
    # And downward: hashrate 1/10 of difficulty -> epoch of 140 days -> factor 1/4.
    state = ChainState(height=0, difficulty_hashrate_ehs=100.0)
    state, _ = advance_chain(state, 10.0, 10 * RETARGET_PERIOD_DAYS)
    assert state.difficulty_hashrate_ehs == pytest.approx(100.0 / MAX_RETARGET_FACTOR)


def test_step_ending_on_a_retarget_within_rounding_keeps_a_valid_state():
    # 1.4 x 1440 rounds to just under 2016: the state must stay valid (epoch_blocks < 2016) either way.
    state = ChainState(height=0, difficulty_hashrate_ehs=100.0)
    for _ in range(3):
        state, _ = advance_chain(state, 1000.0, RETARGET_PERIOD_DAYS / 10)
        assert 0 <= state.epoch_blocks < RETARGET_INTERVAL_BLOCKS


def test_zero_hashrate_mines_nothing_but_time_passes():
    state = ChainState(height=5.0, difficulty_hashrate_ehs=100.0, epoch_blocks=10.0, epoch_days=1.0)
    new, mined = advance_chain(state, 0.0, 3.0)
    assert mined == 0.0
    assert (new.height, new.epoch_blocks, new.epoch_days) == (5.0, 10.0, 4.0)


def test_growing_hashrate_brings_the_halving_forward():
    # Difficulty lag: with hashrate rising 5% a month, the halving lands before the 144/day schedule.
    start = ChainState(height=next_halving_height(830_000) - 30 * 144 * 6, difficulty_hashrate_ehs=100.0)
    state, hashrate, days = start, 100.0, 0
    while state.height < 840_000:
        state, _ = advance_chain(state, hashrate, 1.0)
        hashrate *= 1.05 ** (1 / 30)
        days += 1
    assert days < 180


def test_chain_state_validates():
    with pytest.raises(ValueError, match="difficulty_hashrate_ehs"):
        ChainState(height=0, difficulty_hashrate_ehs=0.0)
    with pytest.raises(ValueError, match="epoch_blocks"):
        ChainState(height=0, difficulty_hashrate_ehs=1.0, epoch_blocks=RETARGET_INTERVAL_BLOCKS)
    with pytest.raises(ValueError, match="days"):
        advance_chain(ChainState(height=0, difficulty_hashrate_ehs=1.0), 1.0, -1.0)


# --- hashprice and power -----------------------------------------------------------------------------
def test_hashprice_hand_computed():
    # (3.125 + 0.1) BTC x 144 blocks/day = 464.4 BTC/day; x $60,000 = $27,864,000/day;
    # 600 EH/s = 600,000 PH/s -> $27,864,000 / 600,000 = $46.44 per PH/s per day.
    assert hashprice_usd_per_ph_day(60_000, 3.125, 0.1, 144, 600) == pytest.approx(46.44, rel=1e-12)


def test_hashprice_on_arrays():
    result = hashprice_usd_per_ph_day(np.array([60_000.0, 30_000.0]), 3.125, 0.1, 144, np.array([600.0, 300.0]))
    np.testing.assert_allclose(result, [46.44, 46.44])


def test_mw_ehs_round_trip():
    # 1 MW at 20 J/TH = 1e6 J/s / 20 J/TH = 50,000 TH/s = 0.05 EH/s.
    assert mw_to_ehs(1.0, 20.0) == 0.05
    assert ehs_to_mw(0.05, 20.0) == pytest.approx(1.0)
    np.testing.assert_allclose(mw_to_ehs(np.array([100.0, 200.0]), np.array([25.0, 20.0])), [4.0, 10.0])
    with pytest.raises(ValueError, match="efficiency_j_per_th"):
        mw_to_ehs(1.0, 0.0)
