"""Firm-level valuation functions against hand sums."""

from __future__ import annotations

import numpy as np
import pytest

from marketsim.firms import economics as econ
from marketsim.metrics import hhi, top_n_share


@pytest.mark.parametrize("discount", [0.15, 0.03, 0.01])
def test_lease_pv_equals_the_monthly_sum_whatever_the_escalator(discount):
    rate, pue, margin, years, esc, delay = 120.0, 1.3, 0.8, 12, 0.03, 6
    r = (1 + discount) ** (1 / 12) - 1
    g = (1 + esc) ** (1 / 12) - 1
    noi = rate * 1000 / pue * margin
    by_hand = sum(noi * (1 + g) ** (k - 1) / (1 + r) ** k for k in range(1, years * 12 + 1)) / (1 + r) ** delay
    assert econ.lease_pv_per_gross_mw(rate, pue, margin, years, esc, discount, delay) == pytest.approx(by_hand, rel=1e-9)


def test_mining_value_keeps_the_option_to_curtail():
    hp = np.array([[100.0, 10.0]])  # one profitable month, one loss-making month
    disc = np.ones((1, 2))
    value = econ.pv_mining_margin_per_mw(hp, np.array([20.0]), np.array([50.0]), disc)
    # revenue 100*1000/20 = 5,000 $/MW-day vs cost 1,200: only the first month counts
    assert value[0] == pytest.approx((5000 - 1200) * econ.DAYS_PER_MONTH)


def test_breakeven_hashprice_is_where_margin_is_zero():
    be = econ.breakeven_hashprice(20.0, 40.0, 6.0)
    assert econ.revenue_usd_per_mw_day(be, 20.0) == pytest.approx(econ.cash_cost_usd_per_mw_day(40.0, 6.0))


def test_hashprice_outlook_declines_and_halves_at_the_halving():
    path = econ.hashprice_outlook(100.0, 24, 0.25, 6.5, 0.52)[0]
    assert path[0] == pytest.approx(100 * 0.75 ** (1 / 12))
    assert path[6] / path[5] == pytest.approx(0.52 * 0.75 ** (1 / 12))


def test_concentration_measures_by_hand():
    assert hhi([50, 30, 20]) == pytest.approx(0.25 + 0.09 + 0.04)
    assert top_n_share([5, 1, 3, 1], 2) == pytest.approx(0.8)
    assert hhi([]) == 0.0 and top_n_share([0, 0], 4) == 0.0


def test_revenue_cost_capex_and_payback_by_hand():
    # calibration.md section 4: $50/PH/day at 17.5 J/TH ~ $1.04M per MW-yr before power
    assert econ.revenue_usd_per_mw_day(50.0, 17.5) * 365 == pytest.approx(1.043e6, rel=1e-3)
    margin = econ.revenue_usd_per_mw_day(50.0, np.array([17.5, 35.0])) - econ.cash_cost_usd_per_mw_day(40.0, 5.0)
    assert margin == pytest.approx([50 * 1000 / 17.5 - 45 * 24, 50 * 1000 / 35 - 45 * 24])
    assert econ.revenue_usd_per_mw_day(20.0, 35.0) < econ.cash_cost_usd_per_mw_day(50.0, 5.0)  # curtail
    capex = econ.machine_capex_usd_per_mw(17.5, np.array([17.5, 35.0]))
    assert capex == pytest.approx([1e6, 0.5e6])  # $17.5/TH x 57,143 TH per MW at 17.5 J/TH
    pay = econ.payback_months(capex, np.array([30_000.0, -5.0]))
    assert pay[0] == pytest.approx(1e6 / 30_000.0) and pay[1] == np.inf


def test_discount_factors_are_the_same_numbers_whether_cached_or_not():
    # month 12 at 12% a year: (1.12^(1/12))^-12 = 1/1.12; the cache hands back, to the last bit,
    # the rows the formula gives, whatever was asked before and in whatever order
    rates = np.array([0.12, 0.05, 0.12, 0.3])
    first = econ.monthly_discount(rates, 24)
    assert first[0, 11] == pytest.approx(1 / 1.12, rel=1e-12)
    assert first[1, 23] == pytest.approx(1 / 1.05**2, rel=1e-12)
    again = econ.monthly_discount(np.array([0.3, 0.07, 0.12]), 24)  # two cached, one new
    direct = econ._discount_rows(np.array([0.3, 0.07, 0.12]), 24)
    assert np.array_equal(again, direct) and np.array_equal(first[[3, 0]], direct[[0, 2]])
    assert econ.monthly_discount(0.12, 12).shape == (1, 12)  # another horizon: its own rows
    assert econ.monthly_discount(np.array([]), 12).shape == (0, 12)
    assert np.isnan(econ.monthly_discount(np.array([np.nan, 0.1]), 12)[0]).all()


def test_a_full_discount_cache_starts_over_without_losing_the_keys_it_is_asked_for(monkeypatch):
    """A request that mixes cached rates with new ones and overflows the cache: the cache starts
    over and must hold every rate of that request (it lost the cached ones, and a 10,000-firm
    second run crashed on the lookup)."""
    monkeypatch.setattr(econ._RowCache, "MAX_ROWS", 4)
    cache = econ._RowCache(econ._discount_rows)
    cache.get(np.array([0.1, 0.2, 0.3]), 6)
    mixed = np.array([0.3, 0.1, 0.4, 0.5])  # two cached, two new: 3 + 2 > 4
    assert np.array_equal(cache.get(mixed, 6), econ._discount_rows(mixed, 6))
    big = np.linspace(0.01, 0.2, 9)  # more distinct rates than the cache holds at all
    assert np.array_equal(cache.get(big, 6), econ._discount_rows(big, 6))
    assert np.array_equal(cache.get(big[::-1], 6), econ._discount_rows(big[::-1], 6))


def test_hashprice_outlook_is_cut_from_the_first_month_after_the_halving():
    # decline 19% a year: month 6 is 0.9 of today (0.81^(6/12)); the halving at month 5.5 halves months 6 on
    path = econ.hashprice_outlook(np.array([100.0, 200.0]), 8, np.array([0.19, 0.0]), 5.5, 0.5)
    assert path[0, 4] == pytest.approx(100 * 0.81 ** (5 / 12), rel=1e-12)
    assert path[0, 5] == pytest.approx(100 * 0.9 * 0.5, rel=1e-12)
    assert np.array_equal(path[1], [200.0] * 5 + [100.0] * 3)
    assert np.array_equal(econ.hashprice_outlook(100.0, 3, 0.0, float("nan"), 0.5), [[100.0] * 3])  # no halving known
