"""Consolidation: exits, auctions and takeovers keep every MW and every dollar accounted for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import marketsim
from marketsim import IndustryModel, consolidation, load_scenario, metrics
from marketsim.consolidation import auction_sites, go_bankrupt
from marketsim.firms import conversion, finance


def _bear(**overrides):
    return load_scenario("bear-consolidation", n_firms=60, **overrides)


def test_total_mw_is_conserved_across_owners_and_states_every_step():
    model = IndustryModel(_bear(months=30), rng=2)
    capacity = model.sites.capacity_mw.sum()
    for _ in range(model.n_steps):
        model.step()
        sites = model.sites
        np.testing.assert_allclose(sites.state_total(), sites.capacity_mw, rtol=1e-9, atol=1e-9)
        assert sites.capacity_mw.sum() >= capacity - 1e-6  # MW only leave through mw_shutdown
        # every live MW belongs to an active firm
        live = sites.capacity_mw - sites.mw_shutdown
        assert model.firms.active[sites.owner[live > 1e-9]].all()


def test_bankrupt_firm_is_removed_and_its_sites_change_owner_or_shut_down():
    model = IndustryModel(_bear(months=2), rng=3)
    model.step()
    victim = int(np.argmax(model.sites.capacity_mw * ~model.firms.is_public))
    rows = np.flatnonzero(model.sites.owner == victim)
    live_before = float((model.sites.capacity_mw[rows] - model.sites.mw_shutdown[rows]).sum())
    shut_before = float(model.sites.mw_shutdown.sum())
    n_agents = len(model.agents)
    model.firms.cash_usd[victim] = -1e6
    go_bankrupt(model, victim)
    assert not model.firms.active[victim] and len(model.agents) == n_agents - 1
    moved = rows[model.sites.owner[rows] != victim]
    stayed = rows[model.sites.owner[rows] == victim]
    moved_mw = float((model.sites.capacity_mw[moved] - model.sites.mw_shutdown[moved]).sum())
    shut_now = float(model.sites.mw_shutdown.sum()) - shut_before
    assert moved_mw + shut_now == pytest.approx(live_before)
    assert (model.sites.capacity_mw[stayed] == model.sites.mw_shutdown[stayed]).all()
    ev = model.events.frame()
    assert (ev["kind"] == "bankruptcy").sum() == 1


def test_acquirer_pays_the_price_and_creditors_are_paid_in_order():
    model = IndustryModel(_bear(months=2), rng=4)
    model.step()
    victim = int(np.argmax(model.sites.capacity_mw * ~model.firms.is_public))
    model.firms.cash_usd[victim] = -2e6  # unpaid bills
    model.firms.debt_usd[victim] = 1e12  # far more than the sites can fetch
    cash_before = model.firms.cash_usd.copy()
    debt_before = model.firms.debt_usd.copy()
    treasury_usd = model.firms.btc_held[victim] * model.market.state.btc_price_usd
    go_bankrupt(model, victim)
    ev = model.events.frame()
    deals = ev[(ev["kind"] == "acquisition") & (ev["counterparty_id"] == victim)]
    assert len(deals) >= 1
    for buyer, bought in deals.groupby("firm_id"):
        drawn = model.firms.debt_usd[buyer] - debt_before[buyer]
        assert model.firms.cash_usd[buyer] == pytest.approx(cash_before[buyer] - bought["value_usd"].sum() + drawn, abs=1e-3)
    rec = model.creditor_recoveries[-1]
    proceeds = deals["value_usd"].sum()
    assert rec["proceeds_usd"] == pytest.approx(proceeds)
    estate = proceeds + treasury_usd  # the sites' price and the treasury BTC, sold
    assert rec["btc_sold_usd"] == pytest.approx(treasury_usd)
    assert rec["bills_paid_usd"] == pytest.approx(min(estate, 2e6))  # bills first
    assert rec["debt_paid_usd"] == pytest.approx(max(0.0, estate - 2e6))  # then lenders
    assert rec["debt_written_off_usd"] == pytest.approx(1e12 - rec["debt_paid_usd"])
    assert rec["equity_usd"] == pytest.approx(0.0)
    # the books are closed: nothing left to pay interest on
    firms = model.firms
    assert firms.cash_usd[victim] == firms.debt_usd[victim] == firms.btc_held[victim] == 0.0
    assert firms.payments.pending()[victim] == 0.0
    assert firms.ledger["debt_repaid_usd"][victim] == pytest.approx(rec["debt_paid_usd"])


def test_a_firm_that_cannot_pay_does_not_win():
    model = IndustryModel(_bear(months=2), rng=5)
    model.step()
    seller = int(np.argmax(model.sites.capacity_mw))
    others = np.flatnonzero(model.firms.active & (np.arange(len(model.firms)) != seller))
    model.firms.cash_usd[others] = 1.0  # nobody has money or credit ...
    model.firms.debt_usd[others] = 1e12
    rich = others[0]
    model.firms.cash_usd[rich] = 1e10  # ... but one
    model.firms.debt_usd[rich] = 0.0
    rows = np.flatnonzero(model.sites.owner == seller)
    auction_sites(model, seller, rows, distressed=True)
    winners = set(model.sites.owner[rows]) - {seller}
    assert winners <= {rich}


def test_hhi_from_the_model_equals_hhi_from_firms_parquet(tmp_path):
    result = marketsim.run(_bear(months=36, firm_record_every=1), seed=6)
    result.save(tmp_path)
    firms = pd.read_parquet(tmp_path / "firms.parquet")
    industry = pd.read_parquet(tmp_path / "industry.parquet")
    for step, group in firms.groupby("step"):
        live = group[group["state"] == "active"]
        expected = industry.loc[industry["step"] == step, "hhi_hashrate"].item()
        assert metrics.hhi(live["hashrate_ehs"]) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_no_price_stress_and_ample_cash_means_no_bankruptcy():
    # (the calibrated distressed public miners owe more than lenders will roll over and may
    # default whatever the price does, so this test uses a debt-free, cash-rich population)
    scenario = load_scenario("baseline", n_firms=60, months=36, price_drift_per_year=0.3,
                             price_volatility_per_year=0.0, tail_cash_usd_per_mw=2_000_000.0,
                             tail_debt_usd_per_mw=0.0, include_public_miners=False,
                             history_until=None)
    result = marketsim.run(scenario, seed=1)
    assert result.industry["bankruptcies"].sum() == 0


@pytest.mark.slow
def test_bear_consolidation_fails_firms_sells_sites_and_concentrates():
    bear = marketsim.run("bear-consolidation", seed=42)
    base = marketsim.run("baseline", seed=42, months=bear.scenario.months, n_firms=bear.scenario.n_firms)
    ind = bear.industry
    assert ind["bankruptcies"].sum() > 0
    assert ind["acquisitions"].sum() > 0
    assert ind["hhi_hashrate"].iloc[-1] > ind["hhi_hashrate"].iloc[0]
    assert base.industry["bankruptcies"].sum() < 0.5 * ind["bankruptcies"].sum()


# --- closing the books of firms that leave (issue 10) -----------------------------------------
def _stepped_bear(seed, steps=1, **overrides):
    model = IndustryModel(_bear(months=6, **overrides), rng=seed)
    for _ in range(steps):
        model.step()
    return model


def test_wind_down_sells_btc_repays_lenders_pays_out_the_rest_and_leaves_nothing():
    model = _stepped_bear(8)
    firms, sites = model.firms, model.sites
    f = int(np.flatnonzero(firms.active & ~firms.is_public)[0])
    firms.cash_usd[f], firms.debt_usd[f], firms.btc_held[f] = 6e6, 5e6, 100.0
    site = int(np.flatnonzero(sites.owner == f)[0])
    building_before = sites.build_pipeline.buffer[sites.owner == f].sum()  # its own orders in flight
    sites.build_pipeline.add(site, 7.0, 2)  # an expansion in flight
    committed_before = firms.payments.pending()[f]  # e.g. instalments on an AI hall it started
    firms.payments.add(f, 1e6, 1)
    price = model.market.state.btc_price_usd
    cancelled_before = model.sites.mw_cancelled.sum()
    rows = np.flatnonzero(sites.owner == f)
    consolidation.wind_down(model, f, rows)
    rec = model.creditor_recoveries[-1]
    assert rec["kind"] == "wind_down" and rec["btc_sold_usd"] == pytest.approx(100.0 * price)
    assert rec["debt_paid_usd"] == pytest.approx(5e6)  # lenders first: all repaid
    assert rec["equity_usd"] == pytest.approx(6e6 + 100.0 * price - 5e6)  # the rest to shareholders
    assert rec["capex_cancelled_usd"] == pytest.approx(committed_before + 1e6)
    led = firms.ledger
    assert led["debt_repaid_usd"][f] == pytest.approx(5e6) and led["equity_paid_out_usd"][f] == pytest.approx(rec["equity_usd"])
    assert firms.cash_usd[f] == firms.debt_usd[f] == firms.btc_held[f] == 0.0 and not firms.active[f]
    assert (sites.capacity_mw[rows] == sites.mw_shutdown[rows]).all()
    assert model.sites.mw_cancelled.sum() - cancelled_before == pytest.approx(building_before + 7.0)  # recorded, not lost
    assert sites.build_pipeline.buffer[rows].sum() == 0.0
    # the next step: no interest, no flows, nothing (the invariants check the rest)
    model.step()
    assert all(led_item[f] == 0.0 for led_item in firms.ledger.values())


def test_a_bankrupt_firms_orders_are_cancelled_before_its_sites_are_sold():
    model = _stepped_bear(9)
    firms, sites = model.firms, model.sites
    f = int(np.argmax(sites.capacity_mw * ~firms.is_public))
    site = int(np.flatnonzero(sites.owner == f)[0])
    sites.build_pipeline.add(site, 12.0, 3)
    machines = float(sites.mw_machines[site])
    sites.mw_mining[site] -= 4.0
    sites.mw_converting[site] += 4.0
    sites.conversion_pipeline.add(site, 4.0, 5)
    sites.upgrade_due_step[site] = model.steps_done + 3
    firms.payments.add(f, 2e7, 2)
    firms.cash_usd[f] = -1e6
    total_before = sites.capacity_mw.sum() + sites.build_pipeline.pending().sum() + model.sites.mw_cancelled.sum()
    consolidation.go_bankrupt(model, f)
    assert sites.build_pipeline.buffer[site].sum() == 0.0 and sites.conversion_pipeline.buffer[site].sum() == 0.0
    assert sites.upgrade_due_step[site] == -1 and sites.mw_converting[site] == 0.0
    assert sites.mw_machines[site] == pytest.approx(machines) or sites.mw_shutdown[site] == sites.capacity_mw[site]
    assert model.sites.mw_cancelled[site] == pytest.approx(12.0)
    total_after = sites.capacity_mw.sum() + sites.build_pipeline.pending().sum() + model.sites.mw_cancelled.sum()
    assert total_after == pytest.approx(total_before)
    assert model.creditor_recoveries[-1]["capex_cancelled_usd"] >= 2e7
    # whoever took the site owes nothing for orders it did not place, and gets no MW for free
    if sites.owner[site] != f:
        assert "orders_cancelled" in set(model.events.frame()["kind"])


def test_unsold_bankrupt_sites_are_not_a_second_exit():
    result = marketsim.run(_bear(months=36), seed=11)
    ind = result.industry
    kinds = ind[["bankruptcies", "voluntary_sales", "takeovers", "wind_downs"]].sum(axis=1)
    assert ind["bankruptcies"].sum() > 0
    assert (ind["exits"] == kinds).all()
    assert ind["exits_cum"].iloc[-1] == ind["exits"].sum()
    ev = result.events
    closed = ev[ev["kind"] == "sites_closed"]
    bankrupt = set(ev.loc[ev["kind"] == "bankruptcy", "firm_id"])
    assert set(closed["firm_id"]) <= bankrupt  # only bankrupts' sites are closed this way


def test_merge_blends_the_debt_rate_and_maturity_by_amount():
    model = _stepped_bear(12)
    firms = model.firms
    buyer, target = (int(i) for i in np.flatnonzero(firms.active)[:2])
    firms.debt_usd[buyer], firms.debt_rate_per_year[buyer], firms.debt_maturity_step[buyer] = 30e6, 0.04, 10
    firms.debt_usd[target], firms.debt_rate_per_year[target], firms.debt_maturity_step[target] = 10e6, 0.12, 30
    firms.cash_usd[buyer] = 1e9  # pays from cash: no new debt mixed in
    consolidation.merge_firms(model, buyer, target, 5e6, "takeover")
    assert firms.debt_usd[buyer] == pytest.approx(40e6)
    assert firms.debt_rate_per_year[buyer] == pytest.approx((30 * 0.04 + 10 * 0.12) / 40)  # 6%
    assert firms.debt_maturity_step[buyer] == 15  # 10 + 10/40 x 20
    assert firms.debt_usd[target] == 0.0 and firms.ledger["acquired_cash_usd"][target] <= 0.0


def test_borrowing_stops_at_the_loan_to_value_ceiling():
    model = _stepped_bear(13)
    firms = model.firms
    assets = finance.asset_value_usd(model)
    f = int(np.argmax(assets))
    limit = model.config.max_debt_to_assets * assets[f]
    firms.debt_usd[f] = limit - 1e6
    cash, drawn_before = firms.cash_usd[f], firms.ledger["debt_drawn_usd"][f]
    drawn = finance.borrow(firms, np.array([f]), np.array([5e6]))
    assert drawn[0] == pytest.approx(1e6)  # only what is left under the ceiling
    assert firms.debt_usd[f] == pytest.approx(limit)
    assert firms.cash_usd[f] == pytest.approx(cash + 1e6)
    assert firms.ledger["debt_drawn_usd"][f] - drawn_before == pytest.approx(1e6)
    assert finance.borrow(firms, np.array([f]), np.array([1e6]))[0] == 0.0


def test_conversion_debt_is_project_debt_within_its_own_limit():
    """A firm at its corporate loan-to-value limit can still build an AI hall: the project's
    lenders fund ``debt_share`` of its cost against the hall and its lease, and not a dollar more."""
    model = _stepped_bear(14, ai_demand_initial_mw=2_000.0)
    firms, sites, s = model.firms, model.sites, model.config
    finance.asset_value_usd(model)  # the lenders' ceilings as of now
    site = int(np.argmax(sites.mw_mining))
    f = int(sites.owner[site])
    firms.debt_usd[f] = firms.debt_ceiling_usd[f]  # at the corporate limit
    before = float(firms.debt_usd[f])
    spend = np.full(len(firms), 1e12)
    host, _ = conversion.start_halls(model, np.array([site]), np.array([2]), np.array([10.0]),
                                        s.conversion_debt_share_leased, spend, detail="test",
                                     equity_room=model.decisions.equity_room_usd)
    drawn = float(firms.debt_usd[f]) - before
    assert drawn == pytest.approx(s.conversion_debt_share_leased * host[0])
    assert firms.debt_usd[f] <= firms.debt_ceiling_usd[f] + 1e-3
    # and ordinary borrowing stays shut: the corporate limit is still reached
    assert finance.borrow(firms, np.array([f]), np.array([1e6]))[0] == pytest.approx(0.0, abs=1e-3)


def test_a_firm_that_must_also_sell_btc_borrows_only_against_what_it_keeps():
    # LTV 0.5, assets 100 of which BTC 40, debt 30: headroom 20
    got = finance.credit_then_btc(np.array([10.0, 30.0, 100.0, 30.0]), np.array([20.0, 20.0, 20.0, 20.0]),
                                  np.array([40.0, 40.0, 40.0, 0.0]), 0.5)
    # 10: credit covers it; 30: borrow 10, sell 20 of BTC -> debt 40 = 0.5 x (100 - 20);
    # 100: even all BTC does not cover it -> borrow 20 - 0.5 x 40 = 0 (debt 30 = 0.5 x 60);
    # no BTC to sell: the whole headroom
    np.testing.assert_allclose(got, [10.0, 10.0, 0.0, 20.0])
