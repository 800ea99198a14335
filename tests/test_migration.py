"""The MW build-out (issue 12 follow-up): displaced machines migrate to operators who build new MW
for them when they are worth more than that MW, and each firm funds its upgrades and expansions
best return per dollar first."""

from __future__ import annotations

import numpy as np
import pytest

from marketsim.firms import decisions, entry, operations, vintages
from marketsim.firms import economics as econ
from marketsim.model import IndustryModel
from marketsim.scenario import Scenario
from marketsim.units import DAYS_PER_MONTH


def flat_scenario(**overrides) -> Scenario:
    """A deterministic market (constant price and fee share), no entry of new sites, no AI."""
    base = dict(
        n_firms=40, months=12, price_model="gbm", price_drift_per_year=0.0, price_volatility_per_year=0.0,
        price_initial_usd=20_000.0, fee_share_mean=0.02, fee_volatility_per_year=0.0,
        fee_spike_intensity_per_year=0.0, ai_demand_initial_mw=0.0, ai_demand_max_mw=0.0, ai_demand_path=[], seed_order_book=False,
        entry_candidates_per_year=0.0, max_payback_months=16.0, expansion_max_share_per_year=0.0,
    )
    return Scenario(**{**base, **overrides})


def machines_th(sites) -> float:
    return float((sites.cohort_mw / sites.cohort_efficiency_j_per_th).sum())


def test_a_migrants_value_is_the_payback_value_less_the_new_mw():
    # the docstring's case: 60 J/TH at $150/PH/day, $40 power + $6 opex
    margin = (econ.revenue_usd_per_mw_day(150.0, 60.0) - 46.0 * 24) * DAYS_PER_MONTH
    assert econ.revenue_usd_per_mw_day(150.0, 60.0) == pytest.approx(2500.0)
    assert margin == pytest.approx(1396.0 * DAYS_PER_MONTH)
    value = vintages.migrant_value_usd_per_mw(margin, 3_000.0, 16.0, 325_000.0)
    assert value == pytest.approx((1396.0 * DAYS_PER_MONTH - 3_000.0) * 16.0 - 325_000.0)  # ~$307k
    assert 300_000 < value < 315_000
    # at $60/PH/day the same machines earn less than their power: nobody builds MW for them
    poor = (econ.revenue_usd_per_mw_day(60.0, 60.0) - 46.0 * 24) * DAYS_PER_MONTH
    assert vintages.migrant_value_usd_per_mw(poor, 3_000.0, 16.0, 325_000.0) < 0


def test_each_owner_funds_its_best_candidates_first_and_the_last_partly():
    owner = np.array([0, 0, 1, 0])
    priority = np.array([1.0, 2.0, 5.0, 0.5])
    cost = np.array([10.0, 10.0, 10.0, 4.0])
    budget = np.array([15.0, 5.0])
    # owner 0: the priority-2 candidate in full (10), then half of the priority-1 one (5 of 10),
    # nothing for the worst; owner 1: half of its one candidate
    np.testing.assert_allclose(decisions.funded_share(owner, priority, cost, budget), [0.5, 1.0, 0.5, 0.0])
    # a negative budget funds nothing; an empty queue is empty
    np.testing.assert_allclose(decisions.funded_share(owner, priority, cost, np.array([-1.0, 0.0])), 0.0)
    assert len(decisions.funded_share(np.zeros(0, int), np.zeros(0), np.zeros(0), budget)) == 0


def test_replacing_old_machines_beats_a_new_mw_which_beats_replacing_modern_ones():
    """The docstring's worked ranking at $100/PH/day, frontier 21.5 J/TH at $20/TH."""
    machines = float(econ.machine_capex_usd_per_mw(20.0, 21.5))
    assert machines == pytest.approx(20.0 * 1e6 / 21.5)  # ~$930k per MW
    frontier = econ.revenue_usd_per_mw_day(100.0, 21.5)
    pi_up30 = decisions.profitability_index_per_month(frontier - econ.revenue_usd_per_mw_day(100.0, 30.0), 0.0, machines)
    pi_up70 = decisions.profitability_index_per_month(frontier - econ.revenue_usd_per_mw_day(100.0, 70.0), 0.0, machines)
    pi_new = decisions.profitability_index_per_month(frontier, 46.0 * 24, machines + 325_000.0)
    assert pi_up30 == pytest.approx((1e5 / 21.5 - 1e5 / 30.0) * DAYS_PER_MONTH / machines)
    assert pi_up30 == pytest.approx(0.043, abs=0.001)
    assert pi_new == pytest.approx(0.086, abs=0.001)
    assert pi_up70 == pytest.approx(0.105, abs=0.001)
    assert pi_up70 > pi_new > pi_up30


def _land_an_upgrade_with_no_empty_mw(prospects: int, price_usd: float = 20_000.0):
    model = IndustryModel(flat_scenario(migration_prospects_per_lot=prospects, price_initial_usd=price_usd), rng=4)
    model.step()
    sites = model.sites
    sites.mw_shutdown[:] = 0.0  # no empty powered MW anywhere: no incumbent can buy
    sites.capacity_mw[:] = sites.state_total()
    site = int(np.argmax(sites.cohort_mw.sum(axis=1)))
    worst_slot = int(np.argmax(np.where(sites.cohort_mw[site] > 0, sites.cohort_efficiency_j_per_th[site], 0)))
    upgrade = 0.5 * sites.cohort_mw[site, worst_slot]
    worst = float(sites.cohort_efficiency_j_per_th[site, worst_slot])
    sites.upgrade_due_step[site] = model.steps_done  # lands now
    sites.upgrade_mw[site] = upgrade
    sites.upgrade_efficiency[site] = 17.0
    before = dict(th=machines_th(sites), mw=float(sites.capacity_mw.sum()), n_firms=len(model.firms),
                  n_sites=len(sites), led=model.firms.ledger["capex_usd"].copy())
    used = operations.land_deliveries(model, model.seen, model.operation.hashprice_consistent)
    new_firms, _, _ = entry.admit_migrants(model, model.seen, model.beliefs, used.migrant_lots)
    return model, site, upgrade, worst, before, new_firms


def test_displaced_machines_worth_more_than_new_mw_move_to_a_migrant_and_keep_hashing():
    model, site, upgrade, worst, before, new = _land_an_upgrade_with_no_empty_mw(prospects=4, price_usd=60_000.0)
    sites, firms = model.sites, model.firms
    assert len(new) == 1 and firms.name[new[0]].startswith("Migrant")
    row = len(sites) - 1
    assert sites.owner[row] == new[0]
    # the migrant's new MW carries the old machines at their efficiency; TH: nothing lost, the new added
    assert sites.capacity_mw[row] == pytest.approx(upgrade)
    assert sites.cohort_mw[row].sum() == pytest.approx(upgrade)
    assert sites.efficiency_j_per_th[row] == pytest.approx(worst)
    assert machines_th(sites) == pytest.approx(before["th"] + upgrade / 17.0)
    assert float(sites.capacity_mw.sum()) == pytest.approx(before["mw"] + upgrade)
    np.testing.assert_allclose(sites.state_total(), sites.capacity_mw)
    # the seller was paid (negative capex); the migrant paid machines and site at once, financed by equity
    seller = sites.owner[site]
    proceeds = before["led"][seller] - firms.ledger["capex_usd"][seller]
    assert proceeds > 0
    paid = firms.ledger["capex_usd"][new[0]]
    assert paid == pytest.approx(proceeds + upgrade * model.config.site_build_capex_usd_per_mw)
    assert firms.ledger["equity_raised_usd"][new[0]] == pytest.approx(paid * (1 + entry.ENTRANT_WORKING_CAPITAL_SHARE))
    assert firms.cash_usd[new[0]] == pytest.approx(paid * entry.ENTRANT_WORKING_CAPITAL_SHARE)
    ev = model.events.frame()
    migration = ev[(ev["kind"] == "entry") & (ev["firm_id"] == new[0])]
    assert migration["detail"].tolist() == ["migration"] and migration["mw"].iloc[0] == pytest.approx(upgrade)
    assert not ((ev["kind"] == "used_scrapped") & (ev["site_id"] == site)).any()


def test_without_migrants_or_when_the_machines_earn_too_little_they_are_scrapped():
    for prospects, price in ((0, 60_000.0), (4, 3_000.0)):
        model, site, upgrade, worst, before, new = _land_an_upgrade_with_no_empty_mw(prospects, price)
        assert len(new) == 0 and len(model.sites) == before["n_sites"]
        assert machines_th(model.sites) == pytest.approx(before["th"] - upgrade / worst + upgrade / 17.0)
        ev = model.events.frame()
        assert ((ev["kind"] == "used_scrapped") & (ev["site_id"] == site)).any()


def test_invariants_hold_with_migration_over_a_stochastic_run():
    """A replay-like run with migration on: the invariant checker (on in tests) counts the
    migrants' MW as MW entering the books; some lots do migrate."""
    from marketsim.runner import run

    res = run(Scenario(n_firms=60, months=24, migration_prospects_per_lot=4, price_initial_usd=40_000.0,
                       ai_demand_initial_mw=0.0, ai_demand_max_mw=0.0, ai_demand_path=[]), seed=3)
    ev = res.events
    assert (ev["detail"] == "migration").sum() > 0
