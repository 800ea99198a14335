"""The step's phases hand each other typed records (marketsim.step_state): each phase can be
called alone with a hand-made record, and what it returns is checked on worked numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from marketsim import IndustryModel, load_scenario
from marketsim.firms import decisions, entry, finance, hosting
from marketsim.firms.book import LeaseBook
from marketsim.firms.conversion import NEW_HALL_DETAIL
from marketsim.step_state import Beliefs, Observation
from marketsim.units import DAYS_PER_MONTH, DAYS_PER_YEAR


def _observation(n_sites: int, hashprice: float = 60.0, days: float = 31.0) -> Observation:
    return Observation(step=0, days=days, months_in_step=days / DAYS_PER_MONTH, years_in_step=days / DAYS_PER_YEAR,
                       site_power_usd_per_mwh=np.full(n_sites, 40.0), hashprice_observed=hashprice,
                       machine_price_usd_per_th=15.0, ai_demand_mw=100.0)


def test_observe_returns_the_calendar_of_the_step_it_moved(small_baseline):
    model = IndustryModel(small_baseline, rng=1)  # starts 1 Jan 2023: the first step is January, 31 days
    seen = model.observe_market(0)
    assert seen.step == 0 and seen.days == 31
    assert seen.months_in_step == pytest.approx(31 / 30.4375)
    assert seen.years_in_step == pytest.approx(31 / 365.25)
    assert len(seen.site_power_usd_per_mwh) == len(model.sites)
    assert np.isfinite(seen.hashprice_observed) and seen.hashprice_observed > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        seen.hashprice_observed = 1.0


def test_beliefs_start_at_the_first_hashprice_then_smooth_towards_the_next(small_baseline):
    model = IndustryModel(small_baseline.with_overrides(hashprice_smoothing=0.25), rng=1)
    n = len(model.firms)
    model.update_beliefs(_observation(len(model.sites), hashprice=80.0))
    assert np.allclose(model.firms.expected_hashprice, 80.0)  # no belief yet: take what is seen
    model.update_beliefs(_observation(len(model.sites), hashprice=40.0))
    assert np.allclose(model.firms.expected_hashprice, 0.25 * 40.0 + 0.75 * 80.0)  # 70
    beliefs = model.update_beliefs(_observation(len(model.sites)))
    assert beliefs.expected_decline_per_year.shape == (n,)


def test_entrants_extend_the_records_without_editing_them():
    seen = _observation(2)
    grown = seen.with_new_sites(np.array([55.0]))
    assert list(grown.site_power_usd_per_mwh) == [40.0, 40.0, 55.0] and len(seen.site_power_usd_per_mwh) == 2
    beliefs = Beliefs(network_trend_per_year=0.3, expected_decline_per_year=np.array([0.1, 0.3, 0.2]))
    assert list(beliefs.with_new_firms(2).expected_decline_per_year) == [0.1, 0.3, 0.2, 0.2, 0.2]  # the median


def test_count_after_deals_returns_this_steps_tally_and_adds_it_to_the_totals(small_baseline):
    model = IndustryModel(small_baseline, rng=2)
    model.step()
    before = dict(model.cumulative)
    model.retire_firm(0, "wound_down")
    tally = model.count_after_deals(model.steps_done)
    assert tally.exits == int(model.left_this_step.sum()) >= 1
    assert model.cumulative["exits"] == before["exits"] + tally.exits
    owner_hashrate = model.sites.hashrate_ehs[model.sites.owner == 3].sum()
    assert tally.firm_hashrate_ehs[3] == pytest.approx(owner_hashrate)


def test_the_start_row_is_the_models_own_and_prices_the_start_by_hand(small_baseline):
    """The summary's "start" is what the constructed model says (``IndustryModel.start``): at a set
    price and fee share, hashprice = subsidy x (1 + fee share) x 144 blocks x price / difficulty in PH/s."""
    scenario = small_baseline.with_overrides(price_initial_usd=20_000.0, fee_model="stochastic", fee_share_initial=0.05)
    model = IndustryModel(scenario, rng=4)
    start = model.start
    assert start["btc_price_usd"] == 20_000.0
    assert start["subsidy_btc"] == 6.25  # January 2023: between the 2020 and 2024 halvings
    difficulty_phs = model.market.chain.difficulty_hashrate_ehs * 1000.0
    assert start["hashprice_usd_per_ph_day"] == pytest.approx(6.25 * 1.05 * 144 * 20_000.0 / difficulty_phs)
    assert start["firms_active"] == len(model.firms) and start["network_hashrate_ehs"] == model.network_hashrate_ehs
    assert start["mw_mining"] + start["mw_idle"] == pytest.approx(model.sites.capacity_mw.sum() - start["mw_shutdown"]
                                                                  - start["mw_converting"] - start["mw_ai"]
                                                                  - start["mw_ai_empty"])


# --- each phase alone, on a hand-made record ---------------------------------------------------

def test_host_ai_alone_bills_the_rent_of_the_days_it_is_handed(small_baseline):
    """A 10 MW IT lease at 100 $/kW-month on a delivered hall, over a 30-day step: rent =
    100 x 10,000 kW x 30 / 30.4375 months; the site's delivered gross MW = 10 x PUE."""
    scenario = small_baseline.with_overrides(ai_tenant_default_per_year=0.0, ai_tenant_failure_share_per_year=0.0)
    model = IndustryModel(scenario, rng=1)  # not stepped: the phase is called alone
    model.market.observe(0)  # the market moves (demand, rates); the firms' step is the phase's own
    sites, pue = model.sites, model.config.ai_pue
    site = 0
    sites.mw_mining[site] -= 10.0 * pue
    sites.mw_converted[site] += 10.0 * pue
    model.leases = LeaseBook()
    model.leases.sign(np.array([site]), np.array([10.0]), 100.0, 0, 120)
    hosted = hosting.host_ai(model, _observation(len(sites), days=30.0))
    assert hosted.contracted_it_mw == pytest.approx(10.0) and hosted.tenant_defaults_it_mw == 0.0
    rent = 100.0 * 10_000.0 * 30.0 / DAYS_PER_MONTH
    assert model.firms.ledger["revenue_ai_usd"][sites.owner[site]] == pytest.approx(rent)
    assert model.firms.ledger["ai_opex_usd"][sites.owner[site]] == pytest.approx(rent * (1 - model.config.ai_margin))
    assert sites.mw_ai_leased[site] == pytest.approx(10.0 * pue) and sites.mw_ai_leased.sum() == pytest.approx(10.0 * pue)


def test_pay_alone_charges_interest_for_the_step_it_is_handed_and_names_the_insolvent(small_baseline):
    model = IndustryModel(small_baseline, rng=1)
    model.market.observe(0)  # the step's BTC price (treasury sales)
    firms = model.firms
    debt, rate = firms.debt_usd.copy(), firms.debt_rate_per_year.copy()
    firms.cash_usd[0] = -1e13  # beyond any credit line and treasury
    paid = finance.pay(model, _observation(len(model.sites), days=DAYS_PER_YEAR / 4))  # a quarter of a year
    np.testing.assert_allclose(firms.ledger["interest_usd"], debt * rate * 0.25, rtol=1e-12)
    assert 0 in paid.insolvent.tolist()
    assert set(paid.insolvent.tolist()) == set(np.flatnonzero(firms.active & (firms.cash_usd < -1e-6)).tolist())


def test_the_outlook_reads_the_records_it_is_handed(small_baseline):
    """Hashprice and machine price come from the Observation; the occupancy outlook is the AI
    demand forecast over the supply handed in (a flat history of 100 MW: 100 / 400 = 0.25)."""
    model = IndustryModel(small_baseline, rng=1)
    model.market.observe(0)
    model.ai_demand_history = [100.0]
    o = decisions.outlook(model, _observation(len(model.sites), hashprice=77.0), 400.0)
    assert o.hashprice_now == 77.0 and o.machine_price_usd_per_th == 15.0
    assert o.occupancy_outlook == pytest.approx(0.25)
    assert decisions.outlook(model, _observation(len(model.sites)), 50.0).occupancy_outlook == 1.0


def test_enter_alone_admits_the_migrant_lots_it_is_handed_and_grows_the_records(small_baseline):
    model = IndustryModel(small_baseline.with_overrides(entry_candidates_per_year=0.0), rng=1)
    model.step()
    n_firms, n_sites = len(model.firms), len(model.sites)
    lots = ((np.array([25.0]), np.array([5.0]), np.array([30.0]), np.array([100_000.0])),)
    entered = entry.enter(model, model.seen, model.beliefs, lots, 0.0)
    assert entered.firm_ids.tolist() == [n_firms] and len(model.firms) == n_firms + 1
    assert model.sites.capacity_mw[n_sites] == pytest.approx(5.0)
    # the lot's machines at its price and the new MW at the site build cost, paid now
    site_capex = model.config.site_build_capex_usd_per_mw
    assert model.firms.ledger["capex_usd"][n_firms] == pytest.approx(5.0 * (100_000.0 + site_capex))
    # the records grew by the new rows; the ones handed in are unchanged
    assert len(entered.seen.site_power_usd_per_mwh) == n_sites + 1 and len(model.seen.site_power_usd_per_mwh) == n_sites
    assert len(entered.beliefs.expected_decline_per_year) == n_firms + 1
    assert entered.beliefs.expected_decline_per_year[-1] == pytest.approx(
        np.median(model.beliefs.expected_decline_per_year))


def test_the_lease_market_declares_the_new_halls_the_invariant_checker_counts():
    """``LeaseMarket.new_hall_mw`` (what the MW law adds to the step's orders) is the MW of the
    step's new-hall events: the checker no longer reads event text, and the two agree."""
    model = IndustryModel(load_scenario("ai-pivot-20pct", n_firms=40, months=30), rng=1)
    declared = []
    for _ in range(30):
        model.step()
        ev = model.events.columns_at(model.steps_done)
        new_hall = np.array([NEW_HALL_DETAIL in str(d) for d in ev["detail"]], dtype=bool)
        logged = float(np.asarray(ev["mw"], dtype=float)[(ev["kind"] == "conversion_started") & new_hall].sum())
        declared.append(model.decisions.lease_market.new_hall_mw)
        assert declared[-1] == pytest.approx(logged, rel=1e-12, abs=1e-9)
    assert max(declared) > 0  # the mandate builds new halls in this run


def test_host_ai_alone_fails_tenants_when_the_demand_it_is_handed_falls_below_contracts(small_baseline):
    """A bust as the Observation shows it: no AI demand against 10 MW of IT under contract, a
    failure share of 0.6 a year over half a year: 10 x 0.6 x 0.5 = 3 MW of tenants fail."""
    scenario = small_baseline.with_overrides(ai_tenant_default_per_year=0.0, ai_tenant_failure_share_per_year=0.6)
    model = IndustryModel(scenario, rng=1)
    model.market.observe(0)
    model.steps_done = 0  # the step the event log stamps on the failures (``step()`` sets it)
    model.leases = LeaseBook()
    model.leases.sign(np.array([0]), np.array([10.0]), 100.0, 0, 120)
    bust = dataclasses.replace(_observation(len(model.sites), days=DAYS_PER_YEAR / 2), ai_demand_mw=0.0)
    hosted = hosting.host_ai(model, bust)
    assert hosted.tenant_defaults_it_mw == pytest.approx(3.0)
    assert hosted.contracted_it_mw == pytest.approx(7.0)
