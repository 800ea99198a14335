"""The benchmarks' own arithmetic, on hand-worked numbers: the figures they print are read against
issue 14's targets, so the split into fixed and marginal cost and the study projection must be right.
(Speed itself is never asserted in a test.)"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench_model import fixed_and_marginal  # noqa: E402
from bench_study import projected_minutes  # noqa: E402


def test_fixed_and_marginal_between_consecutive_sizes():
    # 0.911 s at 1,000 firms, 4.330 s at 10,000, 120 steps: marginal 3.419 / 1,080,000 = 3.166 us,
    # fixed 7.592 ms - 3.166 ms = 4.43 ms a step
    (row,) = fixed_and_marginal([1000, 10000], [0.911, 4.330], 120)
    assert row == ["1,000 -> 10,000", "3.17", "4.43"]


def test_an_affine_cost_has_one_marginal_cost_and_one_fixed_cost():
    steps, fixed_s, per_firm_step = 120, 0.002, 3e-6
    sizes = [200, 1000, 10000, 50000]
    rows = fixed_and_marginal(sizes, [steps * (fixed_s + per_firm_step * n) for n in sizes], steps)
    assert {r[1] for r in rows} == {"3.00"} and {r[2] for r in rows} == {"2.00"}


def test_study_projection_reads_the_fitted_line_at_ten_thousand_runs():
    # 200 runs in 60 s and 600 in 160 s: 0.25 s a run, 10 s fixed -> 2,510 s
    assert projected_minutes([200, 600], [60.0, 160.0]) == pytest.approx(2510 / 60)


def test_study_projection_scales_the_largest_study_when_the_fit_is_unusable():
    assert projected_minutes([500], [138.0]) == pytest.approx(46.0)
    # noise made the larger study faster: no negative per-run cost, the largest scaled instead
    assert projected_minutes([10, 30], [20.0, 16.0]) == pytest.approx(16 * 10000 / 30 / 60)
