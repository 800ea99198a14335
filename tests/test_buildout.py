"""The build-out mechanisms (issue 12): a consistent on/off decision, the low-cost segment,
scrapping at the hashprice expected after the next retarget."""

from __future__ import annotations

import numpy as np
import pytest

from marketsim.firms import economics as econ
from marketsim.firms import operations
from marketsim.firms.population import beta_with_mean, build_population, lognormal_with_moments
from marketsim.model import IndustryModel
from marketsim.scenario import Scenario, load_scenario


def flat_scenario(**overrides) -> Scenario:
    """A deterministic market (constant price and fee share) so responses are the firms' own."""
    base = dict(
        n_firms=40, months=12, price_model="gbm", price_drift_per_year=0.0, price_volatility_per_year=0.0,
        price_initial_usd=20_000.0, fee_share_mean=0.02, fee_volatility_per_year=0.0,
        fee_spike_intensity_per_year=0.0, ai_demand_initial_mw=0.0, ai_demand_max_mw=0.0,
    )
    return Scenario(**{**base, **overrides})


def supply_ehs(model, hashprice: float, online: float = 1.0) -> float:
    share, _ = operations.mining_shares(model, model.site_power_usd_per_mwh, hashprice)
    return float((share * model.sites.mw_machines / model.sites.efficiency_j_per_th).sum() * online)


def record_mining(monkeypatch):
    """Capture, at the moment the chain settles, the hashprice decided on, the machines, the
    power prices and the hashrate that mines (later phases may sell or convert sites)."""
    seen = []
    settle = operations.mine_and_earn

    def spy(model, power):
        settle(model, power)
        seen.append((model.hashprice_consistent, model.sites.mw_machines.copy(), model.sites.efficiency_j_per_th.copy(),
                     np.asarray(power).copy(), 1.0 - operations.outage_share(model), float(model.site_hashrate_ehs.sum()),
                     model.market.reward_usd_per_day()))

    monkeypatch.setattr(operations, "mine_and_earn", spy)
    return seen


def supply_at(model, record) -> float:
    hp, machines, eff, power, online, _, _ = record
    share, _ = operations.mining_shares(model, power, hp)
    return float((share * machines / eff).sum() * online)


@pytest.mark.parametrize("blocks_model", ["difficulty", "replay"])
def test_the_hashrate_that_mines_is_the_one_its_hashprice_calls_for(blocks_model, monkeypatch):
    overrides = {"blocks_model": "replay", "price_model": "replay", "fee_model": "replay"} if blocks_model == "replay" else {}
    seen = record_mining(monkeypatch)
    model = IndustryModel(flat_scenario(**overrides), rng=3)
    for _ in range(3):
        model.step()
    for record in seen:
        hp, *_, h, reward = record
        # the hashprice decided on is the network's daily reward spread over that hashrate ...
        assert hp * h * 1000.0 == pytest.approx(reward, rel=1e-5)
        # ... and at that hashprice the sites choose to run exactly that hashrate
        assert supply_at(model, record) == pytest.approx(h, rel=1e-5)
    if blocks_model == "replay":
        # blocks from the data: the realised hashprice is the consistent one
        assert model.chain_outcome.hashprice_usd_per_ph_day == pytest.approx(model.hashprice_consistent, rel=1e-5)


def test_an_outage_leaves_the_rest_of_the_network_consistent(monkeypatch):
    seen = record_mining(monkeypatch)
    calm = IndustryModel(flat_scenario(), rng=3)
    calm.step()
    calm.step()
    storm = IndustryModel(flat_scenario(hashrate_events=[{"step": 1, "duration": 1, "share_offline": 0.3}]), rng=3)
    storm.step()
    storm.step()
    record = seen[-1]
    h = record[5]
    assert record[4] == pytest.approx(0.7)
    assert supply_at(storm, record) == pytest.approx(h, rel=1e-5)
    # the outage takes 30% of the machines out; those still online earn more and run more of
    # their hours, so the network loses less than 30%
    assert 0.7 * calm.network_hashrate_ehs < h < calm.network_hashrate_ehs


def test_a_halved_price_gives_a_bounded_damped_response_not_a_cobweb():
    # 14 months from January 2023 end before the 2024 halving; the price halves at step 4
    model = IndustryModel(flat_scenario(n_firms=60, months=14, price_shocks=[{"step": 4, "change": -0.5}]), rng=1).run()
    h = model.datacollector.get_model_vars_dataframe()["network_hashrate_ehs"].to_numpy()
    before = h[3]
    after = h[4:]
    # bounded: revenue halves but hashrate falls by far less (cheap power, take-or-pay, free hours)
    # and the network does not halt
    assert 0.5 * before < after.min() < 0.95 * before
    # damped: the first month takes the hit, then month-on-month moves stay small and do not
    # flip back and forth by large amounts (a cobweb would alternate +-tens of %)
    moves = np.diff(after) / after[:-1]
    assert np.abs(moves).max() < 0.05
    assert after.max() < before


def test_baseline_seeds_do_not_cobweb_after_the_history():
    swings = []
    for seed in range(4):
        model = IndustryModel(load_scenario("baseline", n_firms=80), rng=seed).run()
        h = model.datacollector.get_model_vars_dataframe()["network_hashrate_ehs"].to_numpy()
        assert (h > 0).all()  # no halt: some machine is always profitable after retargeting
        post = h[36:]
        swings.append(np.abs(np.diff(post) / post[:-1]).max())
    assert max(swings) < 0.5


def test_negative_price_hours_mine_for_free():
    k = np.array([10.0, 1e6])
    mean = np.array([40.0, 40.0])
    share0, cost0 = econ.hourly_mining_share(k, mean, 0.35)
    share, cost = econ.hourly_mining_share(k, mean, 0.35, negative_hours_share=0.1)
    # by hand: n + (1 - n) x share without, and the free hours add nothing to the cost
    np.testing.assert_allclose(share, 0.1 + 0.9 * share0)
    np.testing.assert_allclose(cost, 0.9 * cost0)
    assert share[1] == pytest.approx(1.0) and cost[1] == pytest.approx(0.9)


def test_take_or_pay_power_is_mined_even_above_the_breakeven_price():
    model = IndustryModel(flat_scenario(power_negative_hours_share=0.0), rng=2)
    model.step()
    sites = model.sites
    sites.power_base_usd_per_mwh[:2] = 2_000.0  # far above the revenue of a MWh
    sites.power_take_or_pay_share[0] = 1.0  # paid whether mined or not: marginal cost 0
    sites.power_take_or_pay_share[1] = 0.0
    power = model.market.site_power_prices(sites.power_base_usd_per_mwh)
    share, cost_share = operations.mining_shares(model, power, model.hashprice_consistent)
    assert share[0] == pytest.approx(1.0)
    assert cost_share[0] == pytest.approx(1.0)  # pays the full contract
    assert share[1] < 1e-6


def test_the_tail_power_cost_curve_has_no_pile_at_a_floor():
    s = Scenario(n_firms=400)
    pop = build_population(s, 248.4, ["npv", "myopic"], np.random.default_rng(0))
    tail = ~pop.is_public
    power = pop.power_usd_per_mwh[tail]
    mw = pop.mw[tail]
    # the old rule clipped at 20 $/MWh and piled a third of the MW there
    values, inverse = np.unique(np.round(power, 6), return_inverse=True)
    assert np.bincount(inverse, weights=mw).max() / mw.sum() < 0.05
    assert (power < 20.0).any() and power.min() > 0.0
    # hosted public miners (hosting fee >= 80 $/MWh) buy most of their power take-or-pay
    public_hosted = pop.is_public & (pop.power_usd_per_mwh >= 80.0)
    assert public_hosted.any()
    assert (pop.take_or_pay_share[public_hosted] == s.hosted_take_or_pay_share).all()


def test_lognormal_and_beta_draws_have_the_moments_asked_for():
    rng = np.random.default_rng(1)
    x = lognormal_with_moments(rng, 23.4, 12.0, 200_000)
    assert x.mean() == pytest.approx(23.4, rel=0.01)
    assert x.std() == pytest.approx(12.0, rel=0.02)
    b = beta_with_mean(rng, 0.2, 4.0, 200_000)
    assert b.mean() == pytest.approx(0.2, rel=0.01)
    assert ((b >= 0) & (b <= 1)).all()


def test_an_unprofitable_fleet_is_scrapped_gradually_and_mw_is_conserved():
    s = flat_scenario(scrap_after_unprofitable_months=4, power_negative_hours_share=0.0)
    model = IndustryModel(s, rng=2)
    model.step()
    site = int(np.argmax(model.sites.mw_machines * (model.sites.power_take_or_pay_share == 0)))
    model.sites.power_base_usd_per_mwh[site] = 2_000.0
    start = model.sites.mw_machines[site]
    left, months = [], []
    for _ in range(3):
        model.step()
        left.append(model.sites.mw_machines[site])
        months.append(model.months_in_step)
        assert model.sites.state_total()[site] == pytest.approx(model.sites.capacity_mw[site])
    # a hazard with mean life 4 months: exp(-t/4) of the fleet stays over a step of t months
    # (February is 0.92 of an average month: 0.795 stays; a 31-day month 0.775)
    ratios = np.array(left) / np.r_[start, left[:-1]]
    np.testing.assert_allclose(ratios, np.exp(-np.array(months) / 4), rtol=1e-9)
    # the owner's belief also says it does not pay: the whole of the loss is scrapping, not exits
    assert model.sites.mw_shutdown[site] == pytest.approx(start - left[-1])


def test_a_fleet_that_pays_its_way_is_not_scrapped_however_few_hours_it_runs():
    model = IndustryModel(flat_scenario(), rng=2)
    model.step()
    power = model.site_power_usd_per_mwh
    margin = operations.fleet_margin_usd_per_mw_month(model, power, model.hashprice_consistent)
    keeps = margin >= model.config.site_fixed_cost_usd_per_mw_month
    shut_before = model.sites.mw_shutdown.copy()
    model.step()
    # sites that paid their way in step 1 (and still do) lost no machines to scrapping
    margin2 = operations.fleet_margin_usd_per_mw_month(model, model.site_power_usd_per_mwh, model.hashprice_consistent)
    still = keeps & (margin2 >= model.config.site_fixed_cost_usd_per_mw_month) & model.firms.active[model.sites.owner]
    assert still.any()
    np.testing.assert_allclose(model.sites.mw_shutdown[still], shut_before[still])
