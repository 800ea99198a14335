"""Valuation keeps each firm's discount row (``valuation._discount_rows``): the rows must be
``econ.monthly_discount``'s, float for float, follow a firm whose rate changes, cover firms that
join later, and start over for another horizon."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from marketsim import valuation
from marketsim.firms import economics as econ


def _model(rates):
    return SimpleNamespace(valuation_cache=valuation.ValuationCache(),
                           firms=SimpleNamespace(hurdle_rate_per_year=np.asarray(rates, dtype=float)))


def test_rows_are_the_discount_factors_of_each_firms_rate():
    model = _model([0.12, 0.30, 0.12])
    ids = np.array([2, 0, 1, 1])
    rows = valuation._discount_rows(model, ids, 24)
    np.testing.assert_array_equal(rows, econ.monthly_discount(np.array([0.12, 0.12, 0.30, 0.30]), 24))
    # by hand: month 12 at 12%/year is 1/1.12 (to rounding of the monthly root)
    assert rows[0, 11] == np.float64(1.12 ** (1 / 12)) ** -12.0
    assert abs(rows[0, 11] - 1 / 1.12) < 1e-12


def test_a_changed_rate_a_new_firm_and_another_horizon_are_recomputed():
    model = _model([0.12, 0.30])
    valuation._discount_rows(model, np.array([0, 1]), 24)
    model.firms.hurdle_rate_per_year[1] = 0.05  # a changed rate: its row follows
    model.firms.hurdle_rate_per_year = np.r_[model.firms.hurdle_rate_per_year, 0.20]  # a firm joins
    rows = valuation._discount_rows(model, np.array([1, 2, 0]), 24)
    np.testing.assert_array_equal(rows, econ.monthly_discount(np.array([0.05, 0.20, 0.12]), 24))
    assert rows[0, 11] < 1 and abs(rows[0, 11] - 1 / 1.05) < 1e-12
    other = valuation._discount_rows(model, np.array([2]), 12)  # another horizon: 12 columns
    np.testing.assert_array_equal(other, econ.monthly_discount(np.array([0.20]), 12))
