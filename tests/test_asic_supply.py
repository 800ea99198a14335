"""ASIC supply (issue 12, Deliver item 5): shipments limited by a growing capacity, frontier
prices that clear between that supply and the order backlog, tier prices by earning power."""

from __future__ import annotations

import numpy as np
import pytest

from marketsim.firms import asic_orders
from marketsim.market import asic
from marketsim.model import IndustryModel
from marketsim.scenario import Scenario


def test_capacity_grows_from_its_anchor():
    assert asic.supply_capacity_ehs_per_month(0.0, 25.0, 0.35) == pytest.approx(25.0)
    # two years at ln 2 / 2 a year double it; three years before the anchor: 25 e^-1.05 = 8.75
    assert asic.supply_capacity_ehs_per_month(2.0, 25.0, np.log(2) / 2) == pytest.approx(50.0)
    assert asic.supply_capacity_ehs_per_month(-3.0, 25.0, 0.35) == pytest.approx(8.748, abs=1e-3)


def test_shipments_never_exceed_capacity():
    assert asic.shipped_share(10.0, 25.0) == 1.0
    assert asic.shipped_share(0.0, 25.0) == 1.0
    assert asic.shipped_share(50.0, 25.0) == pytest.approx(0.5)
    due = np.array([1.0, 30.0, 100.0, 1e6])
    assert np.all(due * asic.shipped_share(due, 30.0) <= 30.0 + 1e-9)


def test_price_rises_when_orders_exceed_capacity_and_falls_when_they_do_not():
    # spot value $17/TH; capacity 25 EH/s a month; the backlog implies backlog / 25 months of lead
    spot = asic.clearing_price_usd_per_th(17.0, 25.0, 25.0, 0.1, 3.0)
    assert spot == pytest.approx(17.0)
    # an 8-month backlog: 17 x 8^0.1 = 20.93; a 4-month one: 17 x 4^0.1 = 19.53
    long = asic.clearing_price_usd_per_th(17.0, 200.0, 25.0, 0.1, 3.0)
    assert long == pytest.approx(20.929, abs=1e-3)
    assert asic.clearing_price_usd_per_th(17.0, 100.0, 25.0, 0.1, 3.0) == pytest.approx(19.528, abs=1e-3)
    # orders within a month of capacity: back to the spot price, never below it (nor the floor)
    assert asic.clearing_price_usd_per_th(17.0, 10.0, 25.0, 0.1, 3.0) == pytest.approx(17.0)
    assert asic.clearing_price_usd_per_th(17.0, 0.0, 25.0, 0.1, 3.0) == pytest.approx(17.0)
    assert asic.clearing_price_usd_per_th(1.0, 0.0, 25.0, 0.1, 3.0) == 3.0
    # twice the capacity for the same backlog: cheaper; no scarcity elasticity: the value price
    assert asic.clearing_price_usd_per_th(17.0, 200.0, 50.0, 0.1, 3.0) < long
    assert asic.clearing_price_usd_per_th(17.0, 400.0, 25.0, 0.0, 3.0) == pytest.approx(17.0)


def test_the_2021_and_2022_price_points_are_reproduced():
    """The calibration's two points: 2021 ($101-119/TH at ~$315/PH/day, 8-month leads) and Dec
    2022 ($15.7-20/TH at ~$60/PH/day, spot machines)."""
    boom_value = asic.machine_price_usd_per_th(315.0, 60.0, 17.0, 1.0, 3.0)
    boom = asic.clearing_price_usd_per_th(boom_value, 8.0 * 25.0, 25.0, 0.1, 3.0)
    bust = asic.clearing_price_usd_per_th(17.0, 0.0, 25.0, 0.1, 3.0)
    assert 101.0 < boom < 119.0
    assert 15.7 <= bust <= 20.0


def test_tier_prices_are_ordered_by_efficiency_and_priced_by_earning_power():
    # hashprice $60/PH/day = $0.06/TH/day; power $50/MWh costs $0.0012 per W a day
    tiers = np.array([20.0, 30.0, 40.0, 70.0])
    p = asic.tier_prices_usd_per_th(17.0, 20.0, tiers, 60.0, 50.0)
    assert p[0] == pytest.approx(17.0)
    # 30 J/TH: margin 0.06 - 0.036 = 0.024 against 0.036 at the frontier: 17 x 2/3
    assert p[1] == pytest.approx(17.0 * 0.024 / 0.036)
    assert np.all(np.diff(p) <= 0) and p[-1] == 0.0  # 70 J/TH loses money: worth nothing


def flat(**overrides) -> Scenario:
    base = dict(
        n_firms=40, months=12, price_model="gbm", price_drift_per_year=0.0, price_volatility_per_year=0.0,
        price_initial_usd=20_000.0, fee_share_mean=0.02, fee_volatility_per_year=0.0,
        fee_spike_intensity_per_year=0.0, ai_demand_initial_mw=0.0, ai_demand_max_mw=0.0, ai_demand_path=[], seed_order_book=False,
    )
    return Scenario(**{**base, **overrides})


def test_a_tight_capacity_holds_deliveries_back_without_losing_mw():
    """Capacity 0.5 EH/s a month: each step ships at most that, the rest waits; the MW on order
    is all still in the books (the invariant checker runs under the test suite too)."""
    model = IndustryModel(flat(asic_supply_capacity_ehs_per_month=0.5, asic_supply_growth_per_year=0.0,
                               max_payback_months=120.0), rng=4)
    sites = model.sites
    sites.build_pipeline.add_rows(np.arange(5), np.full(5, 20.0), 1)  # 100 MW (~5 EH/s) due next step
    before = float(sites.capacity_mw.sum() + sites.build_pipeline.pending().sum())
    for step in range(4):
        model.step()
        cap = 0.5 * model.seen.months_in_step
        assert model.asic_shipped_ehs <= cap + 1e-9
        if step == 0:
            assert model.asic_shipped_ehs == pytest.approx(cap, rel=1e-6)  # it binds
    assert asic_orders.backlog_ehs(sites) > 0  # the rest still waits
    after = float(sites.capacity_mw.sum() + sites.build_pipeline.pending().sum() + model.sites.mw_cancelled.sum())
    assert after >= before - 1e-6


def test_the_model_prices_machines_higher_when_the_backlog_is_long():
    calm = IndustryModel(flat(), rng=4)
    busy = IndustryModel(flat(), rng=4)
    busy.sites.build_pipeline.add_rows(np.arange(10), np.full(10, 500.0), 3)  # ~5,000 MW: a long backlog
    calm.step()
    busy.step()
    assert busy.seen.machine_price_usd_per_th > calm.seen.machine_price_usd_per_th


def test_scalar_prices_are_the_array_prices_to_the_last_bit():
    """The once-a-step scalar path (Python floats) and the array path give the same numbers,
    including the floor for a NaN, zero or negative hashprice and an infinite lead (no capacity)."""
    for hp in (0.0, -3.0, float("nan"), 1e-9, 47.3, 61.7, 315.0, 1e6):
        scalar = asic.machine_price_usd_per_th(hp, 60.0, 17.0, 1.17, 4.7)
        array = asic.machine_price_usd_per_th(np.array([hp]), 60.0, 17.0, 1.17, 4.7)[0]
        assert scalar == array and type(scalar) is float
    for value, backlog, cap in ((17.0, 30.0, 25.0), (17.0, 3.0, 25.0), (17.0, -1.0, 25.0), (17.0, 30.0, 0.0),
                                (1e300, 1e300, 1e-300), (float("nan"), 1.0, 1.0)):
        scalar = asic.clearing_price_usd_per_th(value, backlog, cap, 0.2, 4.7)
        array = asic.clearing_price_usd_per_th(np.array([value]), np.array([backlog]), np.array([cap]), 0.2, 4.7)[0]
        assert scalar == array
