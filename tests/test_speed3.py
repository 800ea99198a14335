"""Shortcuts of the third speed round (issue 14) give the numbers of the long way, bit for bit:
the fixed point tried on its narrow bracket before the whole fleet's excess, and a new hall's
reservation rate without a hashprice path."""

from __future__ import annotations

import numpy as np
import pytest

from marketsim import IndustryModel, load_scenario
from marketsim.firms import economics as econ
from marketsim.firms import operations
from marketsim.firms.rules import Candidates, NPVRule

from test_units_more import outlook  # the worked outlook (halving in 100 months, 24-month horizon)


def test_fixed_point_tried_on_the_narrow_bracket_first_is_the_fixed_point_of_the_long_way(monkeypatch):
    """Each step of a small run, the hashprice with the narrow bracket tried first equals the one
    found the long way (the whole fleet's excess first), for last step's hashrate and for
    hashrates far off it (no narrow bracket holds the root, or the bracket reaches the top)."""
    model = IndustryModel(load_scenario("baseline", n_firms=16, months=24), rng=5, check=False)
    compared = 0
    while model.running and model.steps < model.n_steps:
        model.step()
        power = model.seen.site_power_usd_per_mwh
        capacity = float((model.sites.cohort_mw / model.sites.cohort_efficiency_j_per_th).sum())
        for last in (model.network_hashrate_ehs, model.network_hashrate_ehs * 1.7, model.network_hashrate_ehs / 3,
                     capacity * 0.95, capacity, 0.0):
            short = operations.consistent_hashprice(model, power, 1.0, last)
            with monkeypatch.context() as m:
                m.setattr(operations, "FIXED_POINT_SLOPE_MARGIN_LOG", np.inf)  # never first: the long way
                long = operations.consistent_hashprice(model, power, 1.0, last)
            assert short == long or (np.isnan(short) and np.isnan(long)), (model.steps, last)
            compared += 1
    assert compared == 6 * model.n_steps


def test_new_hall_reservation_needs_no_path_and_is_capex_over_the_lease_value():
    """A new hall gives up no mining (efficiency inf): its NPV reservation rate is the host's
    capex over the PV of $1/kW-month, the same float as with the forgone mining's PV of 0 added."""
    k = 3
    hall = Candidates(efficiency_j_per_th=np.full(k, np.inf), cost_usd_per_mwh=np.array([30.0, 55.0, 0.0]),
                      expected_hashprice=np.array([45.0, 80.0, 60.0]), expected_decline_per_year=np.zeros(k),
                      hurdle_rate_per_year=np.array([0.0, 0.1, 0.25]),
                      conversion_capex_usd_per_mw=np.array([2e6, 3.5e6, 1e6]))
    o = outlook()
    got = NPVRule().conversion_reservation_rate(hall, o)
    per_rate = econ.lease_pv_per_gross_mw(1.0, 1.0, o.ai_margin, o.ai_term_years, o.ai_escalator_per_year,
                                          hall.hurdle_rate_per_year, o.conversion_lead_months)
    hp = econ.hashprice_outlook(hall.expected_hashprice, o.horizon_months, 0.0, o.months_to_halving,
                                o.post_halving_ratio)
    forgone = econ.pv_mining_margin_per_mw(hp, hall.efficiency_j_per_th, hall.cost_usd_per_mwh,
                                           econ.monthly_discount(hall.hurdle_rate_per_year, o.horizon_months))
    assert np.array_equal(got, (hall.conversion_capex_usd_per_mw + forgone * o.ai_pue) / per_rate)
    # at a zero hurdle: 2e6 / (1000 kW x margin 0.8 x 60 months) = 41.67 $/kW-month
    assert got[0] == pytest.approx(2e6 / (1000 * 0.8 * 60))
    # a negative cash cost would earn on an empty hall: that is valued the long way (not 0)
    paid = Candidates(**{**hall.__dict__, "cost_usd_per_mwh": np.array([-5.0, 55.0, 0.0])})
    assert NPVRule().conversion_reservation_rate(paid, o)[0] > got[0]


def test_payback_is_the_masked_division_of_the_long_way():
    """capex / gain where the gain is positive, inf elsewhere (NaN, 0, negative gains), with no
    warning even for inf / inf; the same floats and shapes as the where-expression it replaced."""
    import warnings

    def long_way(capex, gain):
        gain = np.asarray(gain, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(gain > 0, np.asarray(capex) / np.where(gain > 0, gain, 1.0), np.inf)

    rng = np.random.default_rng(2)
    gains = np.concatenate((rng.normal(1e4, 2e4, 200), [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-300]))
    cases = [(5e5, gains), (rng.uniform(0, 2e6, len(gains)), gains), (np.inf, gains), (3.0, 2.0), (np.array([3.0]), 0.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for capex, gain in cases:
            got, want = econ.payback_months(capex, gain), long_way(capex, gain)
            assert got.shape == want.shape and np.array_equal(got, want, equal_nan=True)
    assert econ.payback_months(500_000.0, np.array([25_000.0, 0.0])).tolist() == [20.0, np.inf]
