"""Bitcoin protocol arithmetic: subsidy schedule, difficulty retargeting, hashprice, power <-> hashrate.

Everything here is a pure function of its arguments so the model, the data checks and the tests share a
single definition of the protocol. Heights may be fractional because the model advances the chain by
*expected* blocks; block number ``k`` is taken to occupy the height interval ``[k, k + 1)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# --- Subsidy schedule (consensus rules) -------------------------------------------------------------
HALVING_INTERVAL_BLOCKS = 210_000
SAT_PER_BTC = 100_000_000
INITIAL_SUBSIDY_SAT = 50 * SAT_PER_BTC
# Bitcoin Core returns 0 once the shift count reaches 64, because shifting a 64-bit int by >= 64 is
# undefined in C++; with 50 BTC the subsidy is already 0 from the 33rd halving on.
MAX_HALVINGS = 64

# --- Difficulty retargeting ---------------------------------------------------------------------------
RETARGET_INTERVAL_BLOCKS = 2016
TARGET_BLOCKS_PER_DAY = 144
RETARGET_PERIOD_DAYS = 14  # 2016 blocks at 144 a day
MAX_RETARGET_FACTOR = 4

# --- Units ---------------------------------------------------------------------------------------------
from marketsim.units import PH_PER_EH  # noqa: E402 (re-exported as protocol.PH_PER_EH)


def _check_height(height: float, name: str = "height") -> None:
    """Heights come from scenario files and model state; a NaN would silently poison every sum."""
    if not math.isfinite(height) or height < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {height!r}")


def subsidy_sat(height: int) -> int:
    """Block subsidy in satoshis, computed as Bitcoin Core does so the result is exact."""
    if isinstance(height, bool) or not math.isfinite(height) or height < 0 or int(height) != height:
        raise ValueError(f"height must be an integer block height >= 0, got {height!r}")
    height = int(height)
    halvings = height // HALVING_INTERVAL_BLOCKS
    if halvings >= MAX_HALVINGS:
        return 0
    return INITIAL_SUBSIDY_SAT >> halvings


def subsidy_btc(height: int) -> float:
    """Block subsidy in BTC; exact because every subsidy is a dyadic fraction of 50 BTC."""
    return subsidy_sat(height) / SAT_PER_BTC


def next_halving_height(height: float) -> int:
    """First height after ``height`` whose block earns half the subsidy of the block at ``height``.

    A block exactly at a halving height already pays the new subsidy, so its next halving is the
    following one: next_halving_height(840_000) == 1_050_000.
    """
    _check_height(height)
    return (int(height // HALVING_INTERVAL_BLOCKS) + 1) * HALVING_INTERVAL_BLOCKS


def subsidy_for_blocks(start_height: float, n_blocks: float) -> float:
    """Total subsidy (BTC) of the block range [start_height, start_height + n_blocks).

    The model mines fractional expected blocks per step, so the range is split exactly at halving
    boundaries and each piece is paid at its era's subsidy; this is what makes the simulated halving
    land at the height (and therefore the date) the hashrate path implies.
    """
    _check_height(start_height, "start_height")
    if not math.isfinite(n_blocks) or n_blocks < 0:
        raise ValueError(f"n_blocks must be a finite number >= 0, got {n_blocks!r}")
    end_height = start_height + n_blocks
    total_sat = 0.0
    height = start_height
    while height < end_height:
        era = int(height // HALVING_INTERVAL_BLOCKS)
        if era >= MAX_HALVINGS:
            break
        era_end = min(end_height, (era + 1) * HALVING_INTERVAL_BLOCKS)
        total_sat += (era_end - height) * (INITIAL_SUBSIDY_SAT >> era)
        height = era_end
    return total_sat / SAT_PER_BTC


@dataclass(frozen=True)
class ChainState:
    """Where the chain is, and how far into its retarget epoch, so difficulty can lag hashrate.

    ``difficulty_hashrate_ehs`` is difficulty expressed as the network hashrate at which blocks arrive
    exactly every 10 minutes: it keeps difficulty in the same unit as the model's hashrate.
    """

    height: float
    difficulty_hashrate_ehs: float
    epoch_blocks: float = 0.0
    epoch_days: float = 0.0

    def __post_init__(self) -> None:
        _check_height(self.height)
        if not math.isfinite(self.difficulty_hashrate_ehs) or self.difficulty_hashrate_ehs <= 0:
            raise ValueError(
                f"difficulty_hashrate_ehs must be a finite number > 0, got {self.difficulty_hashrate_ehs!r}"
            )
        if not (0 <= self.epoch_blocks < RETARGET_INTERVAL_BLOCKS):
            raise ValueError(
                f"epoch_blocks must be in [0, {RETARGET_INTERVAL_BLOCKS}), got {self.epoch_blocks!r}"
            )
        if not math.isfinite(self.epoch_days) or self.epoch_days < 0:
            raise ValueError(f"epoch_days must be a finite number >= 0, got {self.epoch_days!r}")


def retarget_factor(epoch_days: float) -> float:
    """Difficulty multiplier at the end of an epoch, clamped like Bitcoin to [1/4, 4].

    (Bitcoin measures the epoch over 2015 block intervals, an off-by-one we ignore: 0.05% in difficulty.)
    """
    if epoch_days <= 0:
        return MAX_RETARGET_FACTOR
    factor = RETARGET_PERIOD_DAYS / epoch_days
    return min(max(factor, 1 / MAX_RETARGET_FACTOR), MAX_RETARGET_FACTOR)


def advance_chain(state: ChainState, hashrate_ehs: float, days: float) -> tuple[ChainState, float]:
    """Mine for ``days`` at constant ``hashrate_ehs``; return the new state and blocks mined (float).

    Blocks arrive at 144 x hashrate / difficulty-hashrate per day and difficulty only moves every 2016
    blocks, so when hashrate grows faster than difficulty follows, blocks come early and the halving
    lands sooner -- the difficulty lag the model relies on. A step may cross several retargets.
    A hashrate <= 0 (e.g. the whole network curtailed) mines nothing while the epoch's clock runs on.
    """
    if not math.isfinite(hashrate_ehs):
        raise ValueError(f"hashrate_ehs must be finite, got {hashrate_ehs!r}")
    if not math.isfinite(days) or days < 0:
        raise ValueError(f"days must be a finite number >= 0, got {days!r}")
    if hashrate_ehs <= 0:
        return (
            ChainState(state.height, state.difficulty_hashrate_ehs, state.epoch_blocks, state.epoch_days + days),
            0.0,
        )

    height = state.height
    difficulty_ehs = state.difficulty_hashrate_ehs
    epoch_blocks = state.epoch_blocks
    epoch_days = state.epoch_days
    remaining_days = days
    mined_blocks = 0.0
    while True:
        blocks_per_day = TARGET_BLOCKS_PER_DAY * hashrate_ehs / difficulty_ehs
        step_blocks = blocks_per_day * remaining_days
        blocks_to_retarget = RETARGET_INTERVAL_BLOCKS - epoch_blocks
        # Compare the epoch's block count itself (not days to retarget): rounding must never leave
        # epoch_blocks == 2016 without a retarget, which ChainState rightly rejects.
        if epoch_blocks + step_blocks < RETARGET_INTERVAL_BLOCKS:
            height += step_blocks
            mined_blocks += step_blocks
            epoch_blocks += step_blocks
            epoch_days += remaining_days
            break
        days_to_retarget = min(blocks_to_retarget / blocks_per_day, remaining_days)
        height += blocks_to_retarget
        mined_blocks += blocks_to_retarget
        epoch_days += days_to_retarget
        remaining_days -= days_to_retarget
        difficulty_ehs *= retarget_factor(epoch_days)
        epoch_blocks = 0.0
        epoch_days = 0.0
    return ChainState(height, difficulty_ehs, epoch_blocks, epoch_days), mined_blocks


def hashprice_usd_per_ph_day(price_usd, subsidy_btc_per_block, fees_btc_per_block, blocks_per_day, hashrate_ehs):
    """Revenue a PH/s earns per day, USD -- the industry's unit of mining income.

    (subsidy + fees) [BTC/block] x blocks/day x price [USD/BTC] / hashrate [PH/s]; works elementwise
    on numpy arrays and pandas Series. Hashrate must be positive (zero gives inf / ZeroDivisionError).
    """
    revenue_usd_per_day = (subsidy_btc_per_block + fees_btc_per_block) * blocks_per_day * price_usd
    return revenue_usd_per_day / (hashrate_ehs * PH_PER_EH)


def _check_efficiency(efficiency_j_per_th) -> None:
    if np.any(~np.isfinite(efficiency_j_per_th)) or np.any(np.asarray(efficiency_j_per_th) <= 0):
        raise ValueError(f"efficiency_j_per_th must be finite and > 0, got {efficiency_j_per_th!r}")


def mw_to_ehs(mw, efficiency_j_per_th):
    """Hashrate (EH/s) of ``mw`` megawatts of machines at ``efficiency_j_per_th``.

    MW / (J/TH) = (1e6 J/s) / (J/TH) = 1e6 TH/s = 1e6 x 1e12 H/s = 1e18 H/s = 1 EH/s,
    so EH/s = MW / (J/TH) with no conversion factor; e.g. 1 MW at 20 J/TH = 0.05 EH/s = 50 PH/s.
    Works elementwise on numpy arrays.
    """
    _check_efficiency(efficiency_j_per_th)
    return mw / efficiency_j_per_th


def ehs_to_mw(hashrate_ehs, efficiency_j_per_th):
    """Power (MW) drawn by ``hashrate_ehs`` at ``efficiency_j_per_th``: the inverse of :func:`mw_to_ehs`."""
    _check_efficiency(efficiency_j_per_th)
    return hashrate_ehs * efficiency_j_per_th
