"""``fastnp.median`` stands in for ``np.median`` (entrants' beliefs, the used market's typical
power): it must give the same float, odd or even count, and NaN when a value is NaN."""

from __future__ import annotations

import warnings

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


def test_clip_is_np_clip_bit_for_bit():
    from marketsim.fastnp import clip

    assert clip(1.5, 0.0, 1.0) == 1.0 and clip(-2.0, 0.0, 1.0) == 0.0 and clip(0.25, 0.0, 1.0) == 0.25
    rng = np.random.default_rng(3)
    x = np.concatenate((rng.normal(size=500), [np.nan, -0.0, 0.0, np.inf, -np.inf]))
    upper = np.abs(rng.normal(size=len(x)))  # an array bound, as the vintages and funding use
    for lo, hi in ((0.0, 1.0), (-0.5, 0.9), (0.0, upper)):
        got, want = clip(x, lo, hi), np.clip(x, lo, hi)
        assert got.dtype == want.dtype
        assert np.array_equal(got, want, equal_nan=True)
        assert np.array_equal(np.signbit(got), np.signbit(want))  # signed zeros too
    assert type(clip(0.5, 0.0, 1.0)) is type(np.clip(0.5, 0.0, 1.0))


def test_unique_inverse_is_np_unique_with_inverse():
    from marketsim.fastnp import unique_inverse

    bins, inverse = unique_inverse(np.array([3.0, -1.0, 3.0, 2.0, -1.0]))
    assert bins.tolist() == [-1.0, 2.0, 3.0] and inverse.tolist() == [2, 0, 2, 1, 0]
    rng = np.random.default_rng(11)
    for n in (1, 2, 7, 50, 400):
        values = np.round(rng.normal(size=n) * 3)  # many repeats, as the used market's bins
        got, want = unique_inverse(values), np.unique(values, return_inverse=True)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        assert got[1].dtype == want[1].dtype and np.array_equal(got[0][got[1]], values)


def test_full_and_as_1d_are_numpys():
    from marketsim.fastnp import as_1d, full

    for shape, value, dtype in ((5, np.inf, np.float64), (3, -1, np.int64), ((2, 3), 2.5, np.float64), (0, 1.0, float)):
        got, want = full(shape, value, dtype), np.full(shape, value, dtype=dtype)
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
    ids = np.array([4, 2])
    assert as_1d(ids) is ids  # a 1-D array as it is
    for value in (3, 2.5, [1, 2], np.float64(7.0), np.zeros((2, 2))):
        assert np.array_equal(as_1d(value), np.atleast_1d(value)) and as_1d(value).shape == np.atleast_1d(value).shape


def test_median_of_nothing_is_nan_as_numpy_says():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy warns about the empty slice
        expected = np.median(np.zeros(0))
    assert np.isnan(expected) and np.isnan(_median(np.zeros(0)))
