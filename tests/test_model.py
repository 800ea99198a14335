"""The model's accounting and mechanisms, on small populations with real assertions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mesa.experimental.scenarios import Scenario as MesaScenario

import marketsim
from marketsim import IndustryModel, load_scenario, metrics
from marketsim import data as mdata
from marketsim.firms.agent import MiningFirm


def _stepped(scenario, seed=3, steps=None):
    model = IndustryModel(scenario, rng=seed)
    for _ in range(steps or model.n_steps):
        yield model
        model.step()


def test_population_matches_the_network_at_the_start(small_baseline):
    model = IndustryModel(small_baseline, rng=1)
    daily = mdata.load_btc_daily()
    dec = daily[(daily["date"] >= "2022-12-01") & (daily["date"] < "2023-01-01")]["hashrate_ths"].mean() / 1e6
    # baseline sizes the start to the storm-free capacity it names; else the data's December mean
    expected = small_baseline.initial_network_hashrate_ehs or dec
    assert model.network_hashrate_ehs == pytest.approx(expected, rel=1e-9)
    mw = model.sites.capacity_mw.sum()
    assert mw / model.network_hashrate_ehs == pytest.approx(small_baseline.network_efficiency_j_per_th, rel=1e-9)
    assert model.firms.is_public.sum() == 15
    assert len(model.agents) == small_baseline.n_firms
    assert all(isinstance(a, MiningFirm) for a in model.agents)


def test_mw_is_conserved_across_states_every_step(small_baseline):
    model = IndustryModel(small_baseline.with_overrides(ai_demand_initial_mw=500.0, ai_demand_path=[]), rng=5)
    capacity_before = model.sites.capacity_mw.copy()
    for _ in range(model.n_steps):
        model.step()
        sites = model.sites
        np.testing.assert_allclose(sites.state_total(), sites.capacity_mw, rtol=1e-9, atol=1e-9)
        assert (sites.mw_mining >= -1e-9).all() and (sites.mw_idle >= -1e-9).all()
        assert (model.sites.mw_ai_leased <= sites.mw_converted + 1e-9).all()
        out = model.outcome
        total = sum(out[k] for k in ("mw_mining", "mw_idle", "mw_converting", "mw_ai", "mw_ai_empty", "mw_shutdown"))
        assert total == pytest.approx(sites.capacity_mw.sum(), rel=1e-9)
    # capacity only grows (expansions energised), never disappears (entrants' sites are appended rows)
    assert (model.sites.capacity_mw[:len(capacity_before)] >= capacity_before - 1e-9).all()


def test_cash_accounting_balances_for_every_firm_and_step(small_baseline):
    model = IndustryModel(small_baseline, rng=11)
    for _ in range(model.n_steps):
        cash_before = model.firms.cash_usd.copy()
        model.step()
        led = model.firms.ledger
        flows = (led["revenue_mining_usd"] - led["btc_retained_usd"] + led["btc_sold_usd"] + led["revenue_ai_usd"]
                 - led["power_usd"] - led["opex_usd"] - led["ai_opex_usd"] - led["interest_usd"] - led["capex_usd"]
                 + led["debt_drawn_usd"] - led["debt_repaid_usd"] - led["acquisitions_usd"] + led["acquired_cash_usd"]
                 + led["equity_raised_usd"])
        cash_before = np.r_[cash_before, np.zeros(len(model.firms) - len(cash_before))]  # entrants start at 0
        stayed = model.firms.active
        np.testing.assert_allclose((model.firms.cash_usd - cash_before)[stayed], flows[stayed], rtol=1e-9, atol=1e-3)
        # revenue is the network's, shared by hashrate
        assert led["revenue_mining_usd"].sum() == pytest.approx(model.outcome["revenue_mining_usd"], rel=1e-9)


def test_same_seed_same_tables_different_seed_different(small_baseline):
    a = marketsim.run(small_baseline, seed=7)
    b = marketsim.run(small_baseline, seed=7)
    c = marketsim.run(small_baseline, seed=8)
    pd.testing.assert_frame_equal(a.industry, b.industry)
    pd.testing.assert_frame_equal(a.firms, b.firms)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert not a.industry["btc_price_usd"].equals(c.industry["btc_price_usd"])


def test_replay_revenue_equals_the_data_every_month():
    scenario = load_scenario("halving-2024-replay", n_firms=40)
    result = marketsim.run(scenario, seed=1)
    ind = result.industry
    daily = mdata.load_btc_daily()
    daily["revenue"] = (daily["issuance_btc"] + daily["fees_btc"]) * daily["price_usd"]
    monthly = daily.set_index("date")["revenue"].resample("MS").sum()
    expected = monthly.loc[pd.to_datetime(ind["date"])].to_numpy()
    np.testing.assert_allclose(ind["revenue_mining_usd"].to_numpy(), expected, rtol=1e-9)
    assert len(ind) == 35
    # the halving shows in the subsidy: 6.25 through March 2024, 3.125 from May 2024
    by_date = ind.set_index(pd.to_datetime(ind["date"]))
    assert by_date.loc["2024-03-01", "subsidy_btc"] == 6.25
    assert by_date.loc["2024-05-01", "subsidy_btc"] == 3.125
    assert by_date.loc["2024-05-01", "issuance_btc"] < 0.55 * by_date.loc["2024-03-01", "issuance_btc"]
    # hashrate comes from the agents, not the data (which has none after 2022)
    assert (ind["network_hashrate_ehs"] > 100).all()


def test_a_site_with_negative_margin_curtails_and_a_cheap_one_mines(small_baseline):
    # no free-power hours and no take-or-pay power: the site's marginal cost is its price
    model = IndustryModel(small_baseline.with_overrides(power_negative_hours_share=0.0), rng=2)
    model.sites.power_take_or_pay_share[:2] = 0.0
    model.sites.power_base_usd_per_mwh[0] = 5_000.0  # far above any hashprice-equivalent
    model.sites.power_base_usd_per_mwh[1] = 10.0
    model.step()
    sites = model.sites
    # hourly prices vary, but at 100x the breakeven the site mines essentially never
    assert sites.mw_mining[0] == pytest.approx(0.0, abs=1e-9)
    assert sites.mw_idle[0] == pytest.approx(sites.mw_machines[0])
    assert sites.mw_mining[1] > 0.99 * sites.mw_machines[1]
    assert model.sites.hashrate_ehs[0] == pytest.approx(0.0, abs=1e-9)
    kinds = model.events.frame().query("site_id == 0")["kind"].tolist()
    assert "curtailment" in kinds


def test_hourly_curtailment_mines_the_cheap_hours_only():
    from marketsim.firms.economics import hourly_mining_share

    share, cost = hourly_mining_share(np.array([40.0, 40.0, 80.0, 10.0]), np.array([40.0, 40.0, 40.0, 40.0]), 0.35)
    # breakeven at the mean: about half the hours (lognormal median is below the mean)
    assert 0.5 < share[0] < 0.65
    # the hours mined are the cheaper ones: cost share below the share of hours
    assert (cost < share).all()
    # a higher breakeven mines more hours; a breakeven far below the mean almost none
    assert share[2] > share[0] > share[3] and share[3] < 1e-3
    on, on_cost = hourly_mining_share(np.array([39.0, 41.0]), np.array([40.0, 40.0]), 0.0)
    assert on.tolist() == [0.0, 1.0] and on_cost.tolist() == [0.0, 1.0]


def test_profitable_conversion_uses_only_suitable_mw_and_pays_capex(small_baseline):
    scenario = small_baseline.with_overrides(
        ai_demand_initial_mw=3_000.0, ai_demand_max_mw=6_000.0, ai_demand_path=[], review_probability_per_step=1.0,
        ai_lease_rate_initial_usd_per_kw_month=200.0, conversion_capex_usd_per_mw=1_000_000.0,
        conversion_capex_dispersion=0.0, months=14,
    )
    model = IndustryModel(scenario, rng=4)
    suitable = model.sites.suitable_mw.copy()
    model.firms.cash_usd[:] = 5e9  # ample cash: the test is about valuation, not financing
    capex_paid = 0.0
    for _ in range(model.n_steps):
        model.step()
        capex_paid += model.firms.ledger["capex_usd"].sum()
        ai_mw = (model.sites.mw_converting + model.sites.mw_converted)[:len(suitable)]  # entrants add sites
        assert (ai_mw <= suitable + 1e-9).all()
    events = model.events.frame()
    started = events[events["kind"] == "conversion_started"]
    assert len(started) > 0 and started["mw"].sum() > 0
    assert (model.sites.mw_converting + model.sites.mw_converted)[:len(suitable)][suitable == 0].sum() == 0
    # capex = 1M per MW, paid in instalments over the 12-month lead time
    assert capex_paid >= 0.9 * started["mw"].sum() * 1e6 * 11 / 12
    assert model.outcome["revenue_ai_usd"] > 0


def test_expensive_conversion_is_not_made(small_baseline):
    scenario = small_baseline.with_overrides(conversion_capex_usd_per_mw=40_000_000.0, months=12)
    result = marketsim.run(scenario, seed=4)
    assert (result.events["kind"] == "conversion_started").sum() == 0


def test_mesa_keyword_and_scenario_conventions_work():
    m1 = IndustryModel(rng=3, n_firms=30, months=3)
    m1.run()
    assert m1.steps == 3 and m1.config.n_firms == 30
    mesa_scenario = MesaScenario(rng=3, n_firms=30, months=3)
    m2 = IndustryModel(mesa_scenario)
    m2.run()
    pd.testing.assert_frame_equal(
        m1.datacollector.get_model_vars_dataframe(), m2.datacollector.get_model_vars_dataframe()
    )
    assert m2.scenario.n_firms == 30  # Mesa's scenario view mirrors the validated fields


def test_difficulty_lag_speeds_blocks_when_hashrate_grows():
    # a big, fast-arriving build-out: blocks per day must exceed 144 while difficulty catches up
    scenario = load_scenario("baseline", n_firms=40, months=24, price_drift_per_year=1.5,
                             price_volatility_per_year=0.0, expansion_max_share_per_year=2.0,
                             history_until=None)
    ind = marketsim.run(scenario, seed=1).industry
    days = pd.to_datetime(ind["date"]).dt.days_in_month
    per_day = ind["blocks"] / days
    growing = ind["network_hashrate_ehs"].diff() > 0
    assert (per_day[growing] > 144).mean() > 0.8


def test_user_csv_price_path_is_averaged_per_step(tmp_path):
    days = pd.date_range("2030-01-01", "2030-04-30", freq="D")
    prices = np.where(days.month == 1, 50_000.0, np.where(days.month == 2, 60_000.0, 70_000.0))
    path = tmp_path / "prices.csv"
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "price_usd": prices}).to_csv(path, index=False)
    result = marketsim.run("baseline", seed=1, n_firms=30, months=4, start_date="2030-01-01", history_until=None,
                           price_model="csv", price_csv_path=str(path), initial_network_hashrate_ehs=900.0)
    assert result.industry["btc_price_usd"].tolist() == [50_000.0, 60_000.0, 70_000.0, 70_000.0]
    # beyond the data: the network size had to be given, and the model produced the rest
    assert result.industry["network_hashrate_ehs"].iloc[0] > 0


def test_ai_bust_leaves_converted_mw_empty_and_lowers_the_lease_rate():
    # miners' hashprice belief pinned to a 25%/yr decline (no trend belief): the test is about
    # the lease market's bust, not about how bullish miners are on mining
    ind = marketsim.run("ai-boom-bust", seed=1, n_firms=120, months=84, hashprice_trend_weight_mean=0.0,
                        hashprice_trend_weight_sd=0.0, btc_forward_premium_per_year=-0.25).industry
    bust = ind.set_index(pd.to_datetime(ind["date"]))
    before, after = bust.loc[:"2025-12-01"], bust.loc["2027-06-01":]
    # during the boom (nearly) every converted MW finds a tenant
    assert before["mw_ai_empty"].max() < 0.05 * before["mw_ai"].max()
    assert after["mw_ai_empty"].iloc[-1] > 100.0  # after the bust, halls stand empty
    assert after["ai_lease_rate_usd_per_kw_month"].iloc[-1] < 0.8 * bust["ai_lease_rate_usd_per_kw_month"].max()
    assert after["ai_contracted_it_mw"].iloc[-1] < bust["ai_contracted_it_mw"].max()  # tenants failed


def test_the_reporter_is_pure_and_the_step_keeps_the_running_totals():
    model = IndustryModel(load_scenario("bear-consolidation", n_firms=60, months=12), rng=2)
    exits = 0
    for _ in range(model.n_steps):
        model.step()
        exits += int(model.left_this_step.sum())
        cumulative = dict(model.cumulative)
        first, second = metrics.industry_outcome(model), metrics.industry_outcome(model)
        assert first.keys() == second.keys()
        for key in first:  # the same row twice (NaN where a value is missing)
            assert first[key] == second[key] or (first[key] != first[key] and second[key] != second[key]), key
        assert model.cumulative == cumulative  # nothing counted twice
        assert first["exits_cum"] == exits == model.cumulative["exits"]


def test_a_halted_network_reports_missing_values_not_results():
    # every MW offline for steps 2-3 (an exogenous outage): nothing mines, the chain stalls
    scenario = load_scenario("baseline", n_firms=30, months=6, history_until=None,
                             hashrate_events=[{"step": 2, "duration": 2, "share_offline": 1.0}])
    ind = marketsim.run(scenario, seed=3).industry
    assert ind["halted"].tolist() == [False, False, True, True, False, False]
    halted = ind[ind["halted"]]
    assert (halted["network_hashrate_ehs"] == 0).all()
    for col in metrics.UNDEFINED_WHEN_HALTED:
        if col != "avg_efficiency_j_per_th":  # the fleet still has an efficiency while it is offline
            assert halted[col].isna().all(), col
    running = ind[~ind["halted"]]
    assert running[["hhi_hashrate", "top4_share_hashrate", "public_share_hashrate"]].notna().all().all()
    # MW concentration is still defined: the sites exist
    assert halted["hhi_mw"].between(0, 1).all()


def test_daily_steps_follow_the_calendar():
    # January + February 2023 are 59 days, not round(2 x 30.44) = 61
    scenario = load_scenario("baseline", n_firms=20, months=2, step_unit="day", history_until=None)
    model = IndustryModel(scenario, rng=1)
    assert model.n_steps == 59
    assert len(marketsim.run(scenario, seed=1).industry) == 59
