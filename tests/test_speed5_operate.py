"""Shortcuts of the fifth speed round (issue 14) in the operate and observe phases give the numbers
of the long way, bit for bit, and are taken: ``fastnp.brentq`` (scipy's brentq loop in Python
floats), curtailment summed over the live cohorts only (``np.bincount``), no fleet sync, zero
array or sale when nothing lands or retires, and the scalar paths of the market's formulas."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from scipy.optimize import brentq

from marketsim import IndustryModel, fastnp, load_scenario
from marketsim.firms import mining_margin, operations, vintages
from marketsim.market import asic, power


def _problems(n, seed=3):
    rng = np.random.default_rng(seed)
    for i in range(n):
        c, p = rng.normal(0, 3), rng.uniform(0.2, 5)
        if i % 3 == 0:
            def f(x, c=c, p=p):
                return math.atan(x - c) * p + 0.01 * (x - c) ** 3
        elif i % 3 == 1:
            def f(x, c=c, p=p):
                return -(x - c) - 0.3 * math.tanh(p * (x - c))
        else:
            def f(x, c=c, p=p):
                return math.log(max(p * math.exp(-(x - c)), 1e-300))  # the fixed point's shape: log supply - log H
        a, b = c - rng.uniform(0.01, 30), c + rng.uniform(0.01, 30)
        if f(a) * f(b) < 0:  # a bracket
            yield f, a, b, [1e-6, 2e-12, 1e-3][i % 3]


def test_fastnp_brentq_is_scipy_brentq_evaluation_for_evaluation():
    n = 0
    for f, a, b, xtol in _problems(600):
        n += 1
        theirs, mine = [], []
        want = brentq(lambda x: (theirs.append(x), f(x))[1], a, b, xtol=xtol)
        got = fastnp.brentq(lambda x: (mine.append(x), f(x))[1], a, b, xtol=xtol)
        assert got == want and mine == theirs
    assert n > 300
    assert fastnp.brentq(lambda x: x - 1.0, 1.0, 3.0) == 1.0  # a root at an end, as scipy
    with pytest.raises(ValueError, match="different signs"):
        fastnp.brentq(lambda x: x * x + 1.0, -1.0, 1.0)
    with pytest.raises(ValueError, match="NaN"):
        fastnp.brentq(lambda x: math.nan if x > 0.5 else x - 1.0, 0.0, 2.0)


def _curtail_long_way(model, seen, last_network_ehs):
    """``operations.curtail_or_mine`` as it was before this round: every (site, slot) cell, row sums."""
    s, sites = model.config, model.sites
    power_usd = seen.site_power_usd_per_mwh
    online = 1.0 - operations.outage_share(model)
    memo: dict = {}
    hashprice = operations.consistent_hashprice(model, power_usd, online, last_network_ehs, memo)
    if not np.isfinite(hashprice):
        hashprice = seen.hashprice_observed
    best = np.fmax(model.firms.expected_hashprice[sites.owner], hashprice)
    live = (sites.cohort_mw.ravel() > 0).nonzero()[0]
    rows = live // sites.cohort_mw.shape[1]
    margin = mining_margin.fleet_margin_usd_per_mw_month(model, power_usd[rows], best[rows],
                                                         sites.cohort_efficiency_j_per_th.ravel()[live],
                                                         sites.power_take_or_pay_share[rows])
    losing_live = (margin < s.site_fixed_cost_usd_per_mw_month) & (sites.upgrade_due_step[rows] < 0)
    losing = np.zeros(sites.cohort_mw.size, bool)
    losing[live] = losing_live
    losing = losing.reshape(sites.cohort_mw.shape)
    sites.idle_steps = np.where(losing.any(axis=1), sites.idle_steps + 1, 0)
    rate = 1.0 - np.exp(-seen.months_in_step / s.scrap_after_unprofitable_months)
    scrap_mw = np.where(losing, sites.cohort_mw * rate, 0.0)
    scrap_mw = np.where(losing & (sites.cohort_mw - scrap_mw < operations.SCRAP_REMNANT_MW), sites.cohort_mw, scrap_mw)
    scrapped = vintages.slot_sum(scrap_mw)
    if (scrapped > 0).any():
        sites.cohort_mw -= scrap_mw
        sites.mw_shutdown += scrapped
        sites.sync_fleet()
        hashprice = operations.consistent_hashprice(model, power_usd, online, last_network_ehs, memo)
    consistent = hashprice
    if not np.isfinite(hashprice):
        hashprice = seen.hashprice_observed
    share, cost_share = mining_margin.cohort_shares(model, power_usd, hashprice)
    machines = vintages.slot_sum(sites.cohort_mw)
    mined_mw = share * sites.cohort_mw
    sites.mw_mining = vintages.slot_sum(mined_mw)
    sites.mw_idle = machines - sites.mw_mining
    return (consistent, vintages.slot_sum(mined_mw / sites.cohort_efficiency_j_per_th),
            vintages.slot_sum(cost_share * sites.cohort_mw))


@pytest.mark.parametrize("name", ["bear-consolidation", "baseline"])
def test_curtailment_on_live_cohorts_is_the_long_way_bit_for_bit(name):
    model = IndustryModel(load_scenario(name, n_firms=40, months=36), rng=2)
    scrapped_steps = 0
    for _ in range(36):
        model.step()
        seen, last = model.seen, model.operation.network_hashrate_ehs
        short, long = copy.deepcopy(model), copy.deepcopy(model)
        got = operations.curtail_or_mine(short, seen, last)
        want = _curtail_long_way(long, seen, last)
        assert got.hashprice_consistent == want[0] or (math.isnan(got.hashprice_consistent) and math.isnan(want[0]))
        assert got.site_mining_ehs.tobytes() == want[1].tobytes()
        assert got.site_power_cost_mw.tobytes() == want[2].tobytes()
        for field in ("mw_mining", "mw_idle", "idle_steps", "cohort_mw", "mw_shutdown", "efficiency_j_per_th"):
            assert getattr(short.sites, field).tobytes() == getattr(long.sites, field).tobytes(), field
        scrapped_steps += bool((short.sites.mw_shutdown > model.sites.mw_shutdown).any())
    if name == "bear-consolidation":
        assert scrapped_steps > 0  # the scrapping path was compared too


def test_fleet_averages_stay_synced_so_quiet_steps_skip_the_sync(monkeypatch):
    """The premise of skipping ``sync_fleet`` when no cohort changed: after every step the fleet
    averages are what a sync would make of the cohorts, to the last bit; and quiet steps do skip it."""
    model = IndustryModel(load_scenario("baseline", n_firms=30, months=48), rng=6)
    calls = {"n": 0}
    sync = type(model.sites).sync_fleet

    def counted(self):
        calls["n"] += 1
        sync(self)

    monkeypatch.setattr(type(model.sites), "sync_fleet", counted)
    skipped = 0
    for _ in range(48):
        before = calls["n"]
        model.step()
        sites = model.sites
        again = vintages.fleet_efficiency(sites.cohort_mw, sites.cohort_efficiency_j_per_th, sites.efficiency_j_per_th)
        assert again.tobytes() == sites.efficiency_j_per_th.tobytes()
        skipped += calls["n"] - before < 2  # land_deliveries and retire_displaced_machines each sync at most once
    assert skipped > 0


def test_reconcile_cohorts_still_returns_the_retired_array():
    model = IndustryModel(load_scenario("baseline", n_firms=20, months=3), rng=1)
    model.step()
    sites = model.sites
    assert (operations.reconcile_cohorts(sites) == 0).all()  # nothing to retire: zeros of the cohorts' shape
    site = int(np.argmax(sites.mw_mining))
    sites.mw_mining[site] -= 1.0
    sites.mw_converting[site] += 1.0
    total = vintages.slot_sum(sites.cohort_mw)[site]
    retired = operations.reconcile_cohorts(sites)
    assert retired.shape == sites.cohort_mw.shape and retired.sum() == pytest.approx(1.0)
    assert vintages.slot_sum(sites.cohort_mw)[site] == pytest.approx(total - 1.0)


def test_scalar_paths_of_the_market_formulas_are_the_array_paths():
    for due, cap in [(10.0, 25.0), (0.0, 25.0), (50.0, 25.0), (25.0, 25.0), (1e-300, 0.0), (3.7, 1.3)]:
        assert asic.shipped_share(due, cap) == float(asic.shipped_share(np.asarray([due]), cap)[0])
    for years in [0.0, 0.5, 1.0, 2.25, 7.0, 40.0]:
        want = float(asic.frontier_efficiency_j_per_th(np.asarray([years]), 21.5, 0.35, 8.0)[0])
        assert asic.frontier_efficiency_j_per_th(years, 21.5, 0.35, 8.0) == want
    base = np.array([20.0, 35.5, 61.0])
    assert power.power_price_usd_per_mwh(base, 8, 0.2, 8, 1.1).tolist() == (
        np.maximum(base * 1.1 * (1.0 + 0.2 * math.cos(0.0)), 0.0)).tolist()
    with pytest.raises(ValueError, match="multiplier"):
        power.power_price_usd_per_mwh(base, 8, 0.2, 8, math.inf)


def test_ai_demand_follows_a_scenario_changed_mid_run():
    """The demand curve is cached by the scenario's fields as they are: an assigned field is seen."""
    model = IndustryModel(load_scenario("baseline", n_firms=20, months=6), rng=1)
    market = model.market
    first = market.ai_demand_at(2.0)
    assert market.ai_demand_at(2.0) == first
    model.config.ai_demand_max_mw = model.config.ai_demand_max_mw * 2 + 1000.0
    market.scenario = model.config
    fresh = IndustryModel(model.config, rng=1).market.ai_demand_at(2.0)
    assert market.ai_demand_at(2.0) == fresh
    model.config.ai_demand_path = []
    assert market.ai_demand_at(2.0) == IndustryModel(model.config, rng=1).market.ai_demand_at(2.0)
