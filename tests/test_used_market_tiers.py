"""Used machines are priced by efficiency tier (issue 12 item 1 with item 5's tier prices): a lot
fetches at most its tier's price, however much a cheap-power buyer would pay."""

from __future__ import annotations

import numpy as np
import pytest

from marketsim import fastnp
from marketsim.firms import operations, vintages
from marketsim.model import IndustryModel
from marketsim.scenario import Scenario


def test_the_cap_is_the_tier_price_times_the_th_in_a_mw_by_hand():
    # frontier 20 J/TH at $17/TH; hashprice $60/PH/day = $0.06/TH/day; power 50 $/MWh = $0.0012/W/day:
    # frontier margin 0.06 - 0.024 = 0.036; at 30 J/TH 0.06 - 0.036 = 0.024 -> 2/3 of $17 = $11.33/TH,
    # x 33,333 TH per MW = $377,778; at 50 J/TH nothing is left: 0; better than the frontier: $17/TH
    cap = vintages.used_price_cap_usd_per_mw(np.array([30.0, 50.0, 10.0]), 17.0, 20.0, 60.0, 50.0)
    np.testing.assert_allclose(cap, [17.0 * 2 / 3 * 1e6 / 30, 0.0, 17.0 * 1e5], rtol=1e-9)
    # with a $3/TH floor the 50 J/TH tier is quoted at 3 x 20,000 TH = $60,000 per MW; the others are above it
    floored = vintages.used_price_cap_usd_per_mw(np.array([30.0, 50.0, 10.0]), 17.0, 20.0, 60.0, 50.0, 3.0)
    np.testing.assert_allclose(floored, [17.0 * 2 / 3 * 1e6 / 30, 60_000.0, 17.0 * 1e5], rtol=1e-9)


def test_a_cheap_power_buyer_pays_no_more_than_the_tier_price():
    s = Scenario(n_firms=40, months=12, price_model="gbm", price_drift_per_year=0.0, price_volatility_per_year=0.0,
                 price_initial_usd=20_000.0, fee_share_mean=0.02, fee_volatility_per_year=0.0,
                 fee_spike_intensity_per_year=0.0, ai_demand_initial_mw=0.0, ai_demand_max_mw=0.0, ai_demand_path=[],
                 seed_order_book=False, entry_candidates_per_year=0.0, power_negative_hours_share=0.0,
                 max_payback_months=0.001, expansion_max_share_per_year=0.0)
    model = IndustryModel(s, rng=4)
    model.step()
    sites = model.sites
    mixed = np.flatnonzero(((sites.cohort_mw > 0).sum(axis=1) >= 2) & (sites.upgrade_due_step < 0))
    seller = int(mixed[np.argmax(sites.cohort_mw[mixed].sum(axis=1))])
    old_slot = int(np.argmax(np.where(sites.cohort_mw[seller] > 0, sites.cohort_efficiency_j_per_th[seller], 0)))
    old_eff = float(sites.cohort_efficiency_j_per_th[seller, old_slot])
    upgrade = 0.5 * sites.cohort_mw[seller, old_slot]
    buyer = int(np.flatnonzero(sites.owner != sites.owner[seller])[0])
    sites.mw_shutdown[buyer] += upgrade
    sites.capacity_mw[buyer] += upgrade
    sites.power_base_usd_per_mwh[buyer] = 1.0
    model.seen.site_power_usd_per_mwh[buyer] = 1.0  # power this cheap values any machine far above its tier price
    model.firms.cash_usd[sites.owner[buyer]] = 1e12
    model.config.max_payback_months = 240.0
    sites.upgrade_due_step[seller] = model.steps_done
    sites.upgrade_mw[seller] = upgrade
    sites.upgrade_efficiency[seller] = 17.0
    operations.land_deliveries(model, model.seen, model.operation.hashprice_consistent)
    paid = model.firms.ledger["capex_usd"][sites.owner[buyer]]
    assert paid > 0
    hashprice = model.operation.hashprice_consistent
    # whatever the bidders' median power, the cap at the cheapest conceivable power (opex only) bounds
    # the price, and the floor is the least a lot fetches
    floor = model.config.machine_price_floor_usd_per_th * 1e6 / old_eff
    top = vintages.used_price_cap_usd_per_mw(np.array([old_eff]), model.seen.machine_price_usd_per_th,
                                             model.market.state.frontier_j_per_th, hashprice,
                                             model.config.mining_opex_usd_per_mwh, floor_usd_per_th=3.0)[0]
    assert floor * (1 - 1e-9) <= paid / upgrade <= max(top, floor) * (1 + 1e-9)
    # the buyer's own value: its monthly revenue per MW (1 $/MWh power is nearly free) x 240 months
    revenue_month = hashprice * 1e3 / old_eff * 30.4
    assert paid / upgrade < 0.1 * 240.0 * revenue_month  # far below what its own margin would pay


def test_slot_sum_and_median_are_numpy_s_numbers_to_the_last_bit():
    rng = np.random.default_rng(7)
    for n in (0, 1, 3, 1000):
        a = rng.random((n, vintages.VINTAGE_SLOTS)) * 10.0 ** rng.uniform(-6, 6, (n, vintages.VINTAGE_SLOTS))
        assert np.array_equal(vintages.slot_sum(a), a.sum(axis=1))
    assert vintages.slot_sum(np.array([[0.1, 0.2, 0.3, 1e16]]))[0] == ((0.1 + 0.2) + 0.3) + 1e16  # left to right
    for x in (np.array([40.0]), np.array([30.0, 50.0]), np.array([60.0, 20.0, 45.0]), rng.normal(50, 9, 101),
              rng.normal(50, 9, 100)):
        assert fastnp.median(x) == np.median(x)
    assert fastnp.median(np.array([30.0, 50.0])) == 40.0
