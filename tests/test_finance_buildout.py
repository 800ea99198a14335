"""Finance that follows valuations (issue 12 item 3): collateral at today's prices and the
makers' vendor credit for private firms, on hand-worked numbers and in the order wiring."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from marketsim.firms import decisions, finance
from marketsim.firms import economics as econ
from marketsim.model import IndustryModel
from marketsim.scenario import load_scenario


def test_site_collateral_follows_the_hashprice_by_hand():
    # 325k x (120 / 60)^0.25 = 325k x 1.18921 = 386,490; half the reference: 325k x 0.84090
    assert finance.site_collateral_usd_per_mw(325_000.0, 120.0, 60.0, 0.25) == pytest.approx(386_490.0, rel=1e-5)
    assert finance.site_collateral_usd_per_mw(325_000.0, 30.0, 60.0, 0.25) == pytest.approx(273_290.0, rel=1e-5)
    assert finance.site_collateral_usd_per_mw(325_000.0, 30.0, 60.0, 0.0) == 325_000.0  # off: the build cost
    assert finance.site_collateral_usd_per_mw(325_000.0, float("nan"), 60.0, 0.25) == 325_000.0  # before any step


def _model(**overrides):
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=40, months=3, **overrides), rng=2)
    model.step()
    return model


def test_the_debt_ceiling_shrinks_in_a_bust_and_grows_in_a_boom():
    model = _model()
    s, sites = model.config, model.sites
    ceilings = {}
    for hp in (30.0, 60.0, 120.0):
        model.seen = dataclasses.replace(model.seen, hashprice_observed=hp)
        finance.asset_value_usd(model)
        ceilings[hp] = model.firms.debt_ceiling_usd.copy()
    active = model.firms.active
    assert (ceilings[30.0][active] <= ceilings[60.0][active]).all()
    assert (ceilings[120.0][active] >= ceilings[60.0][active]).all()
    # by hand: only the sites' part moves here (machine prices are held), by L x MW x (v(120) - v(30))
    mw = np.bincount(sites.owner, weights=sites.mw_machines, minlength=len(model.firms))
    per_mw = (finance.site_collateral_usd_per_mw(s.site_build_capex_usd_per_mw, 120.0, 60.0, 0.25)
              - finance.site_collateral_usd_per_mw(s.site_build_capex_usd_per_mw, 30.0, 60.0, 0.25))
    np.testing.assert_allclose((ceilings[120.0] - ceilings[30.0])[active],
                               (s.max_debt_to_assets * mw * per_mw)[active], rtol=1e-9)


def test_vendor_credit_goes_to_private_firms_only_by_hand():
    credit = finance.vendor_credit_usd([100.0, 200.0, -5.0], [True, False, False], 0.2)
    np.testing.assert_allclose(credit, [0.0, 40.0, 0.0])


def test_vendor_credit_is_debt_at_the_vendor_rate_blended_into_the_firms_rate():
    model = _model(vendor_financing_share=0.25, vendor_financing_rate_per_year=0.16)
    firms = model.firms
    f = int(np.flatnonzero(~firms.is_public & firms.active)[0])
    firms.debt_usd[f], firms.debt_rate_per_year[f] = 300.0, 0.10
    cash, drawn = firms.cash_usd[f], firms.ledger["debt_drawn_usd"][f]
    # two orders of the same firm: 400 + 400 of machines, a quarter of it = 200 lent at 16%
    credit = finance.draw_vendor_credit(model, np.array([f, f]), np.array([400.0, 400.0]))
    assert credit.sum() == pytest.approx(200.0)
    assert firms.debt_usd[f] == pytest.approx(500.0)
    assert firms.debt_rate_per_year[f] == pytest.approx((300 * 0.10 + 200 * 0.16) / 500)  # 12.4%
    assert firms.cash_usd[f] - cash == pytest.approx(200.0)
    assert firms.ledger["debt_drawn_usd"][f] - drawn == pytest.approx(200.0)
    g = int(np.flatnonzero(firms.is_public & firms.active)[0])
    debt = firms.debt_usd[g]
    assert finance.draw_vendor_credit(model, np.array([g]), np.array([400.0]))[0] == 0.0
    assert firms.debt_usd[g] == debt


def _expansion_order_mw(share: float) -> tuple[float, float, float]:
    """A private firm's expansion order with a budget that binds: (MW ordered, its new debt,
    machine capex per MW at the step's price)."""
    model = _model(vendor_financing_share=share)
    firms, sites = model.firms, model.sites
    f = int(np.flatnonzero(~firms.is_public & firms.active)[0])
    site = int(np.flatnonzero(sites.owner == f)[0])
    o = decisions.outlook(model, model.seen, model.decisions.lease_market.supply_it_mw)
    spend = np.zeros(len(firms))
    spend[f] = 20e6
    debt = firms.debt_usd[f]
    firms.debt_ceiling_usd[f] = firms.debt_usd[f]  # no bank room: the order is cash and vendor credit
    before = sites.build_pipeline.pending()[site]
    decisions._order_expansions(model, np.array([f]), np.array([site]), np.array([1e6]), spend, o, 1.0,
                                np.zeros(len(firms)))
    assert spend[f] == pytest.approx(0.0, abs=1e-3)  # the budget was the limit
    machines = float(econ.machine_capex_usd_per_mw(o.machine_price_usd_per_th, o.frontier_j_per_th))
    return float(sites.build_pipeline.pending()[site] - before), float(firms.debt_usd[f] - debt), machines


def test_vendor_credit_stretches_a_private_firms_budget_by_the_financed_share():
    site = load_scenario("halving-2024-replay").site_build_capex_usd_per_mw
    mw0, debt0, machines = _expansion_order_mw(0.0)
    mw5, debt5, machines5 = _expansion_order_mw(0.5)
    assert machines5 == pytest.approx(machines)
    # by hand: 20M buys 20M / (site + machines) MW paying all, 20M / (site + machines / 2) with half financed
    assert mw0 == pytest.approx(20e6 / (site + machines), rel=1e-9)
    assert mw5 == pytest.approx(20e6 / (site + 0.5 * machines), rel=1e-9)
    assert debt0 == pytest.approx(0.0, abs=1e-6)
    assert debt5 == pytest.approx(0.5 * machines * mw5, rel=1e-9)  # the maker's credit, on the firm's books
