"""``fastnp.median`` stands in for ``np.median`` (entrants' beliefs, the used market's typical
power): it must give the same float, odd or even count, and NaN when a value is NaN."""

from __future__ import annotations

import numpy as np

from marketsim.fastnp import median as _median


def test_median_by_hand_and_against_numpy():
    assert _median(np.array([3.0])) == 3.0
    assert _median(np.array([5.0, 1.0, 4.0])) == 4.0
    assert _median(np.array([5.0, 1.0, 4.0, 2.0])) == 3.0  # (2 + 4) / 2
    assert _median(np.array([0.1, 0.2])) == (0.1 + 0.2) / 2
    rng = np.random.default_rng(7)
    for n in (1, 2, 3, 10, 11, 1000, 1001):
        values = rng.normal(size=n)
        assert _median(values) == float(np.median(values))
    assert np.isnan(_median(np.array([1.0, np.nan, 2.0])))
