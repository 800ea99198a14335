"""The build-out mechanisms (issue 12): a consistent on/off decision, the low-cost segment,
scrapping at the hashprice expected after the next retarget."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from marketsim import data as mdata
from marketsim.firms import economics as econ
from marketsim.firms import mining_margin, operations
from marketsim.firms.population import beta_with_mean, build_population, lognormal_with_moments
from marketsim.model import IndustryModel
from marketsim.scenario import Scenario, load_scenario


def flat_scenario(**overrides) -> Scenario:
    """A deterministic market (constant price and fee share) so responses are the firms' own."""
    base = dict(
        n_firms=40, months=12, price_model="gbm", price_drift_per_year=0.0, price_volatility_per_year=0.0,
        price_initial_usd=20_000.0, fee_share_mean=0.02, fee_volatility_per_year=0.0,
        fee_spike_intensity_per_year=0.0, ai_demand_initial_mw=0.0, ai_demand_max_mw=0.0, ai_demand_path=[], seed_order_book=False,
        entry_candidates_per_year=0.0,  # a fixed population: the records below keep per-site arrays
    )
    return Scenario(**{**base, **overrides})


def supply_ehs(model, hashprice: float, online: float = 1.0) -> float:
    share, _ = mining_margin.mining_shares(model, model.seen.site_power_usd_per_mwh, hashprice)
    return float((share * model.sites.mw_machines / model.sites.efficiency_j_per_th).sum() * online)


def record_mining(monkeypatch):
    """Capture, at the moment the chain settles, the hashprice decided on, the machines, the
    power prices and the hashrate that mines (later phases may sell or convert sites)."""
    seen = []
    settle = operations.mine_and_earn

    def spy(model, observed, mined):
        out = settle(model, observed, mined)
        seen.append((mined.hashprice_consistent, model.sites.cohort_mw.copy(),
                     model.sites.cohort_efficiency_j_per_th.copy(), np.asarray(observed.site_power_usd_per_mwh).copy(),
                     1.0 - operations.outage_share(model), float(model.sites.hashrate_ehs.sum()),
                     model.market.reward_usd_per_day()))
        return out

    monkeypatch.setattr(operations, "mine_and_earn", spy)
    return seen


def supply_at(model, record) -> float:
    hp, cohort_mw, cohort_eff, power, online, _, _ = record
    share, _ = mining_margin.mining_shares(model, power[:, None], hp, cohort_eff,
                                        model.sites.power_take_or_pay_share[:, None])
    return float((share * cohort_mw / cohort_eff).sum() * online)


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
        assert model.operation.chain.hashprice_usd_per_ph_day == pytest.approx(model.operation.hashprice_consistent, rel=1e-5)


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
    # 14 months from January 2023 end before the 2024 halving; the price halves at step 4; no
    # new machines are ordered, so what moves is the on/off decision (and scrapping)
    s = flat_scenario(n_firms=60, months=14, price_shocks=[{"step": 4, "change": -0.5}],
                      expansion_max_share_per_year=0.0, max_payback_months=0.001)
    model = IndustryModel(s, rng=1).run()
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
    share, cost_share = mining_margin.mining_shares(model, power, model.operation.hashprice_consistent)
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
        months.append(model.seen.months_in_step)
        assert model.sites.state_total()[site] == pytest.approx(model.sites.capacity_mw[site])
    # a hazard with mean life 4 months: exp(-t/4) of the fleet stays over a step of t months
    # (February is 0.92 of an average month: 0.795 stays; a 31-day month 0.775)
    ratios = np.array(left) / np.r_[start, left[:-1]]
    np.testing.assert_allclose(ratios, np.exp(-np.array(months) / 4), rtol=1e-9)
    # the owner's belief also says it does not pay: the whole of the loss is scrapping, not exits
    assert model.sites.mw_shutdown[site] == pytest.approx(start - left[-1])


def test_only_the_cohorts_that_do_not_pay_their_way_are_scrapped():
    model = IndustryModel(flat_scenario(power_negative_hours_share=0.0), rng=2)
    model.step()
    sites = model.sites
    mixed = np.flatnonzero((sites.cohort_mw > 0).sum(axis=1) >= 2)
    site = int(mixed[np.argmax(sites.cohort_mw[mixed].sum(axis=1))])
    slots = np.flatnonzero(sites.cohort_mw[site] > 0)
    old, new = slots[np.argmax(sites.cohort_efficiency_j_per_th[site, slots])], slots[np.argmin(sites.cohort_efficiency_j_per_th[site, slots])]
    hp = model.operation.hashprice_consistent
    # a power price at which the new cohort earns its fixed cost and the old one does not
    revenue_new = econ.revenue_usd_per_mw_day(hp, sites.cohort_efficiency_j_per_th[site, new]) / 24
    revenue_old = econ.revenue_usd_per_mw_day(hp, sites.cohort_efficiency_j_per_th[site, old]) / 24
    assert revenue_old < 0.6 * revenue_new
    power = model.seen.site_power_usd_per_mwh.copy()
    power[site] = 0.5 * (revenue_old + revenue_new)
    sites.power_take_or_pay_share[site] = 0.0
    before = sites.cohort_mw[site].copy()
    model.firms.expected_hashprice[sites.owner[site]] = hp
    operations.curtail_or_mine(model, dataclasses.replace(model.seen, site_power_usd_per_mwh=power),
                               model.operation.network_hashrate_ehs)
    after = sites.cohort_mw[site]
    assert after[new] == pytest.approx(before[new])
    rate = 1 - np.exp(-model.seen.months_in_step / model.config.scrap_after_unprofitable_months)
    assert after[old] == pytest.approx(before[old] * (1 - rate))
    # the old machines also curtail first: the site mines less than its machine MW
    assert sites.mw_mining[site] < sites.mw_machines[site]


# --- vintages -----------------------------------------------------------------------------------
from marketsim.firms import vintages  # noqa: E402


def test_initial_cohorts_keep_each_fleets_mw_and_th():
    mw = np.array([100.0, 50.0, 10.0, 30.0])
    eff = np.array([45.0, 25.0, 31.565, 90.0])  # mixed, modern-only, exactly modern, older than the old class
    cmw, ceff, _ = vintages.initial_cohorts(mw, eff, np.zeros(4))
    np.testing.assert_allclose(cmw.sum(axis=1), mw)
    np.testing.assert_allclose((cmw / ceff).sum(axis=1), mw / eff)
    # by hand for 45 J/TH between 31.565 and 74.9: a = (1/45 - 1/74.9) / (1/31.565 - 1/74.9) = 0.4871
    assert cmw[0, 0] / 100.0 == pytest.approx((1 / 45 - 1 / 74.9) / (1 / 31.565 - 1 / 74.9), rel=1e-9)
    assert (cmw[1:, 1] == 0).all()


def test_adding_a_cohort_merges_into_the_closest_when_the_slots_are_full():
    cmw = np.array([[10.0, 20.0, 30.0, 40.0]])
    ceff = np.array([[20.0, 30.0, 50.0, 80.0]])
    age = np.array([[1.0, 2.0, 3.0, 4.0]])
    th_before = (cmw / ceff).sum()
    vintages.add_cohort(cmw, ceff, age, np.array([0]), np.array([10.0]), np.array([28.0]))
    # merged into the 30 J/TH cohort: 30 MW, TH 20/30 + 10/28, age (20 x 2) / 30
    assert cmw[0, 1] == pytest.approx(30.0)
    assert ceff[0, 1] == pytest.approx(30.0 / (20 / 30 + 10 / 28))
    assert age[0, 1] == pytest.approx(40.0 / 30.0)
    assert (cmw / ceff).sum() == pytest.approx(th_before + 10 / 28)


def test_removing_takes_the_worst_cohorts_first_and_partly():
    cmw = np.array([[10.0, 20.0, 30.0, 0.0], [5.0, 5.0, 0.0, 0.0]])
    ceff = np.array([[20.0, 80.0, 50.0, 50.0], [30.0, 40.0, 40.0, 40.0]])
    taken = vintages.remove_worst(cmw, ceff, np.array([0, 1]), np.array([35.0, 3.0]))
    # site 0: all 20 MW at 80 J/TH, then 15 of the 30 at 50 J/TH; the 20 J/TH cohort stays
    np.testing.assert_allclose(taken[0], [0.0, 20.0, 15.0, 0.0])
    np.testing.assert_allclose(cmw[0], [10.0, 0.0, 15.0, 0.0])
    np.testing.assert_allclose(taken[1], [0.0, 3.0, 0.0, 0.0])


def test_a_used_lot_goes_to_the_buyers_who_value_it_most_at_the_marginal_value():
    free = np.array([5.0, 10.0, 8.0, 4.0])
    value = np.array([900.0, 500.0, 300.0, -10.0])  # sorted best first; the last would lose money
    bought, price = vintages.clear_used_lot(18.0, free, value)
    np.testing.assert_allclose(bought, [5.0, 10.0, 3.0, 0.0])
    assert price == 300.0
    bought, price = vintages.clear_used_lot(50.0, free, value)  # more than anyone wants
    np.testing.assert_allclose(bought, [5.0, 10.0, 8.0, 0.0])
    bought, price = vintages.clear_used_lot(5.0, free, np.full(4, -1.0))  # nobody: scrap
    assert bought.sum() == 0 and price == 0.0


def machines_th(sites) -> float:
    return float((sites.cohort_mw / sites.cohort_efficiency_j_per_th).sum())


def test_an_upgrade_replaces_the_worst_machines_and_they_are_resold_with_mw_and_th_conserved():
    model = IndustryModel(flat_scenario(power_negative_hours_share=0.0, max_payback_months=0.001,
                                        expansion_max_share_per_year=0.0), rng=4)
    model.step()
    sites = model.sites
    mixed = np.flatnonzero(((sites.cohort_mw > 0).sum(axis=1) >= 2) & (sites.upgrade_due_step < 0))
    seller = int(mixed[np.argmax(sites.cohort_mw[mixed].sum(axis=1))])
    old_slot = int(np.argmax(np.where(sites.cohort_mw[seller] > 0, sites.cohort_efficiency_j_per_th[seller], 0)))
    old_eff = sites.cohort_efficiency_j_per_th[seller, old_slot]
    upgrade = 0.5 * sites.cohort_mw[seller, old_slot]
    # a buyer with cheap power and empty powered MW (another firm's site)
    buyer = int(np.flatnonzero(sites.owner != sites.owner[seller])[0])
    sites.mw_shutdown[buyer] += upgrade
    sites.capacity_mw[buyer] += upgrade
    empty_before = sites.mw_shutdown[buyer]
    sites.power_base_usd_per_mwh[buyer] = 5.0
    model.seen.site_power_usd_per_mwh[buyer] = 5.0
    sites.upgrade_due_step[seller] = model.steps_done  # lands now
    sites.upgrade_mw[seller] = upgrade
    sites.upgrade_efficiency[seller] = 17.0
    mw_before = sites.cohort_mw.sum() + sites.mw_shutdown.sum()
    th_before = machines_th(sites)
    capex_seller_cash = model.firms.cash_usd.copy()
    operations.land_deliveries(model, model.seen, model.operation.hashprice_consistent)
    # the seller: the worst cohort lost `upgrade` MW, a 17 J/TH cohort of the same MW arrived
    assert sites.cohort_mw[seller, old_slot] == pytest.approx(upgrade)  # half of it stays
    assert np.isclose(sites.cohort_efficiency_j_per_th[seller], 17.0).any()
    # the buyer: the old machines, at their efficiency, on MW that stood empty
    bought = np.isclose(sites.cohort_efficiency_j_per_th[buyer], old_eff) & (sites.cohort_mw[buyer] > 0)
    assert sites.cohort_mw[buyer][bought].sum() == pytest.approx(upgrade)
    assert sites.mw_shutdown[buyer] == pytest.approx(empty_before - upgrade)
    # MW: the seller's MW is the same (new machines where the old stood), the buyer's empty MW
    # now carries the old machines; TH: the old TH moved, the new TH was added
    assert sites.cohort_mw.sum() + sites.mw_shutdown.sum() == pytest.approx(mw_before)
    assert machines_th(sites) == pytest.approx(th_before + upgrade / 17.0)
    np.testing.assert_allclose(sites.cohort_mw.sum(axis=1), sites.mw_machines)
    np.testing.assert_allclose(sites.state_total(), sites.capacity_mw)
    # the buyer paid what the seller received (net capex sums to zero between them)
    led = model.firms.ledger["capex_usd"]
    assert led[sites.owner[buyer]] > 0
    assert led[sites.owner[buyer]] == pytest.approx(-led[sites.owner[seller]])
    assert (model.firms.cash_usd == capex_seller_cash).all()  # cash moves when pay() settles capex


def test_machines_nobody_wants_are_scrapped_and_leave_the_th():
    model = IndustryModel(flat_scenario(max_payback_months=0.001, expansion_max_share_per_year=0.0,
                                        migration_prospects_per_lot=0), rng=4)
    model.step()
    sites = model.sites
    sites.mw_shutdown[:] = 0.0  # no empty MW anywhere: no buyer
    site = int(np.argmax(sites.cohort_mw.sum(axis=1)))
    worst_slot = int(np.argmax(np.where(sites.cohort_mw[site] > 0, sites.cohort_efficiency_j_per_th[site], 0)))
    upgrade = 0.5 * sites.cohort_mw[site, worst_slot]
    sites.upgrade_due_step[site] = model.steps_done  # lands now
    sites.upgrade_mw[site] = upgrade
    sites.upgrade_efficiency[site] = 17.0
    worst = sites.cohort_efficiency_j_per_th[site][sites.cohort_mw[site] > 0].max()
    th_before = machines_th(sites)
    operations.land_deliveries(model, model.seen, model.operation.hashprice_consistent)
    assert machines_th(sites) == pytest.approx(th_before - upgrade / worst + upgrade / 17.0)
    kinds = model.events.frame().query("site_id == @site")["kind"].tolist()
    assert "used_scrapped" in kinds


def test_cohorts_stay_in_step_with_the_mw_books_through_a_replay():
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=60, months=18), rng=5)
    for _ in range(18):
        model.step()
        sites = model.sites
        np.testing.assert_allclose(sites.cohort_mw.sum(axis=1), sites.mw_machines, atol=1e-6)
        np.testing.assert_allclose(sites.state_total(), sites.capacity_mw, rtol=1e-9, atol=1e-6)
        assert (sites.cohort_mw >= -1e-9).all()
    # upgrades happened, partly: some site kept old machines next to new ones
    assert (model.events.frame()["kind"] == "upgrade_ordered").any()
    assert sites.efficiency_j_per_th.min() > 0


# --- expectations ------------------------------------------------------------------------------


def test_the_trend_belief_is_forward_premium_over_extrapolated_growth():
    # network +30% a year, fully extrapolated, BTC forward 5% over spot: 1 - 1.05 / 1.3
    d = econ.trend_decline_per_year(np.log(1.3), np.array([1.0, 0.5, 0.0]), 0.05)
    np.testing.assert_allclose(d, [1 - 1.05 / 1.3, 1 - 1.05 / np.sqrt(1.3), -0.05])
    # bounded: a collapsing network does not make a miner expect hashprice to triple
    assert econ.trend_decline_per_year(np.log(0.1), 1.0, 0.0) == econ.DECLINE_BOUNDS[0]


def test_the_outlook_uses_each_firms_own_decline_and_the_halving():
    path = econ.hashprice_outlook(np.array([100.0, 100.0]), 24, np.array([0.19, 0.0]), 6.5, 0.5)
    assert path[0, 11] == pytest.approx(100.0 * 0.81 * 0.5)  # month 12: a year of decline, after the halving
    assert path[1, 5] == pytest.approx(100.0)  # month 6: before the halving, no decline expected
    assert path[1, 6] == pytest.approx(50.0)


def test_firms_start_from_the_public_2022_trend_and_disagree():
    model = IndustryModel(flat_scenario(), rng=1)
    daily = mdata.load_btc_daily().set_index("date")["hashrate_ths"].dropna()
    monthly = (daily.loc["2022-01-01":"2022-12-31"].resample("MS").mean() / 1e6).to_numpy()
    # the trend before the first step: Jan-2022 to Dec-2022 monthly means, 11 months apart
    assert model.hashrate_trend_per_year() == pytest.approx(np.log(monthly[-1] / monthly[0]) / (11 / 12))
    model.step()
    d = model.beliefs.expected_decline_per_year
    w = model.firms.hashprice_trend_weight
    assert d.std() > 0.01  # dispersion across firms
    # firms that extrapolate more of the growth expect a steeper decline
    assert np.corrcoef(w, d)[0, 1] > 0.99


# --- finance that follows valuations ---------------------------------------------------------------
from marketsim.firms import finance  # noqa: E402


def model_after_one_step(**overrides):
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=60, months=3, **overrides), rng=1)
    model.step()
    return model


def test_public_miners_issue_equity_only_when_valued_above_replacement_cost():
    model = model_after_one_step()
    s = model.config
    value, replacement = finance.market_value_and_replacement_usd(model)
    room = finance.equity_room_usd(model)
    q = value / replacement
    public = model.firms.is_public & model.firms.active
    # by hand: room = share x years / review probability x (1 - min_q / q) x value, for q > min_q
    per_review = s.equity_issuance_share_per_year * model.seen.years_in_step / s.review_probability_per_step
    expected = np.where(public & (q > s.equity_issuance_min_q), per_review * (1 - s.equity_issuance_min_q / q) * value, 0.0)
    np.testing.assert_allclose(room, expected, rtol=1e-9)
    assert (room[~model.firms.is_public] == 0).all()  # private firms raise no outside equity
    assert (room[public & (q > s.equity_issuance_min_q)] > 0).any()
    assert (room[public & (q <= s.equity_issuance_min_q)] == 0).all()


def test_a_higher_valuation_lets_a_miner_raise_more():
    model = model_after_one_step()
    base = finance.equity_room_usd(model)
    led = model.firms.ledger
    led["revenue_mining_usd"] *= 2.0  # the same fleet at twice the hashprice
    richer = finance.equity_room_usd(model)
    public = model.firms.is_public & (base > 0)
    assert public.any()
    assert (richer[public] > base[public]).all()
    model.config.equity_issuance_min_q = 100.0  # nobody is worth a hundred times its assets
    assert (finance.equity_room_usd(model) == 0).all()


def test_equity_pays_its_fee_and_debt_covers_the_rest():
    model = model_after_one_step()
    firms = model.firms
    f = int(np.flatnonzero(firms.is_public & firms.active)[0])
    firms.cash_usd[f] = 0.0
    firms.payments.buffer[f] = 0.0
    firms.debt_ceiling_usd[f] = firms.debt_usd[f] + 1e9  # lenders have room: this test is about the split
    room = np.zeros(len(firms))
    room[f] = 50e6
    cash, debt = firms.cash_usd[f], firms.debt_usd[f]
    finance.fund_orders(model, np.array([f]), np.array([100e6]), room)
    fee = model.config.equity_issuance_fee_share
    # 50M of shares sold gross, (1 - fee) of it received; the other 100M - 48.5M borrowed
    assert room[f] == pytest.approx(0.0)
    assert firms.ledger["equity_raised_usd"][f] == pytest.approx(50e6 * (1 - fee))
    assert firms.debt_usd[f] - debt == pytest.approx(100e6 - 50e6 * (1 - fee))
    assert firms.cash_usd[f] - cash == pytest.approx(100e6)


# --- the start state ---------------------------------------------------------------------------------
from marketsim import calibration  # noqa: E402
from marketsim.firms.population import load_order_book  # noqa: E402


def test_the_order_book_lands_on_the_dates_given():
    # no new orders; ASIC capacity not binding (the guided machines were bought in 2022: the dates are tested here)
    s = load_scenario("halving-2024-replay", n_firms=60, expansion_max_share_per_year=0.0,
                      asic_supply_capacity_ehs_per_month=1e5)
    model = IndustryModel(s, rng=1)
    plan = model.order_book.set_index(model.order_book["firm"].map(lambda f: model.firms.name[f]))
    book = load_order_book().set_index("name")
    riot = plan.loc["Riot"]
    # by hand: Riot 9.7 EH/s now, 12.5 guided by 2023-03-31: 60% of the 2.8 EH/s gap at 31.565 J/TH,
    # over January-March plus 4 months of slip = 7 monthly steps
    assert riot["mw"] == pytest.approx(0.6 * (12.5 - 9.7) * 31.565, rel=1e-6)
    assert riot["steps"] == 7
    site = int(riot["site"])
    cap0 = model.sites.capacity_mw[site]
    arrived = []
    for _ in range(9):
        model.step()
        arrived.append(model.sites.capacity_mw[site] - cap0)
    # equal monthly parts from the first step to the seventh (end of July 2023), nothing after
    per_step = riot["mw"] / 7
    np.testing.assert_allclose(arrived, per_step * np.minimum(np.arange(1, 10), 7), rtol=1e-9)
    # the unpaid part is on the capex schedule: machines not prepaid plus site build
    machines = 17.0 * 1e6 / 31.565 * riot["mw"]
    assert riot["capex_due_usd"] == pytest.approx(machines * (1 - book.loc["Riot", "prepaid_share"])
                                                 + riot["mw"] * s.site_build_capex_usd_per_mw)


def test_no_order_book_for_other_start_dates_or_when_switched_off():
    assert not IndustryModel(flat_scenario(seed_order_book=True), rng=1).order_book.empty
    assert IndustryModel(flat_scenario(seed_order_book=False), rng=1).order_book.empty
    assert IndustryModel(flat_scenario(start_date="2024-01-01", price_initial_usd=40_000.0,
                                       initial_network_hashrate_ehs=500.0), rng=1).order_book.empty


def test_the_start_mines_the_share_of_storm_free_capacity_november_2022_did():
    # November 2022 mined 255.3 of October's 262.5 EH/s at $61.7/PH/day (data)
    assert calibration.start_mining_target() == pytest.approx(255.26 / 262.49, abs=1e-3)
    s = load_scenario("halving-2024-replay")
    assert s.initial_network_hashrate_ehs == 262.5
    share = np.mean([calibration.start_mining_share(s, calibration.month_hashprice("2022-11-01"), seed) for seed in (0, 1, 2)])
    assert share == pytest.approx(calibration.start_mining_target(), abs=0.01)


def test_a_guided_date_already_past_at_the_start_lands_within_the_slip():
    """Bitfarms guided 5.0 EH/s for end-2022 (14 Nov 2022) and operated 4.5: the rest lands in
    the 4 months of slip after the start."""
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=60), rng=1)
    plan = model.order_book.set_index(model.order_book["firm"].map(lambda f: model.firms.name[f]))
    bitfarms = plan.loc["Bitfarms"]
    # by hand: 60% of the 0.5 EH/s gap at 31.565 J/TH = 9.47 MW, over 0 months to the date + 4 of slip
    assert bitfarms["mw"] == pytest.approx(0.6 * (5.0 - 4.5) * 31.565, rel=1e-6)
    assert bitfarms["steps"] == 4
