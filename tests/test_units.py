"""Small units that a wrong number would hide in: checked on hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

from marketsim.firms.book import Pipeline
from marketsim.firms.population import capped_shares


def test_pipeline_delivers_on_the_step_it_was_scheduled_for():
    p = Pipeline(n_rows=2, horizon=3)
    p.add(0, 10.0, 2)  # arrives at the second pop
    p.add_spread(1, 9.0, 3)  # 3 a step over the next three pops
    assert p.pending().tolist() == [10.0, 9.0]
    assert p.pop().tolist() == [0.0, 3.0]
    assert p.pop().tolist() == [10.0, 3.0]
    assert p.pop().tolist() == [0.0, 3.0]
    assert p.pop().tolist() == [0.0, 0.0]
    assert p.pending().tolist() == [0.0, 0.0]


def test_pipeline_clips_delays_to_its_horizon_and_adds_repeated_rows():
    p = Pipeline(n_rows=3, horizon=2)
    p.add(0, 5.0, 0)  # no order arrives in the step it is placed: at least one step
    p.add(1, 7.0, 50)  # beyond the horizon: the last slot
    p.add_rows(np.array([2, 2]), np.array([1.0, 2.0]), 1)
    p.add_spread_rows(np.array([0, 0]), np.array([4.0, 2.0]), 2)
    assert p.pop().tolist() == [5.0 + 2.0 + 1.0, 0.0, 3.0]
    assert p.pop().tolist() == [2.0 + 1.0, 7.0, 0.0]


def test_capped_shares_redistribute_the_excess_pro_rata():
    np.testing.assert_allclose(capped_shares(np.array([1.0, 1.0, 8.0]), 0.5), [0.25, 0.25, 0.5])
    # two rounds: the first redistribution pushes the middle firm over the cap
    np.testing.assert_allclose(capped_shares(np.array([1.0, 3.0, 6.0]), 0.35), [0.3, 0.35, 0.35])


def test_capped_shares_fall_back_to_equal_shares_when_the_cap_cannot_hold():
    np.testing.assert_allclose(capped_shares(np.array([1.0, 2.0, 3.0]), 0.2), [1 / 3] * 3)
    assert capped_shares(np.array([2.0, 5.0, 3.0]), 1.0) == pytest.approx([0.2, 0.5, 0.3])
