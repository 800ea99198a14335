"""The AI hosting market (issue 13): clearing, sites and interconnects, deal terms, leases,
defaults, re-rating. Hand-worked numbers throughout."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketsim.firms import conversion, hosting
from marketsim.firms.book import LeaseBook
from marketsim.firms.population import load_public_miners
from marketsim.data.sites import load_ai_sites
from marketsim.market import ai
from marketsim.model import IndustryModel
from marketsim.scenario import Scenario, load_scenario, shipped_scenarios

REF, CHOKE = 150.0, 200.0  # share(r) = (200 - r) / 50 above the reference
LINEAR = REF / (CHOKE - REF)  # elasticity below it that continues the same line: share(r) = (200 - r) / 50 everywhere


# --- the clearing function ------------------------------------------------------------------

def test_marginal_offer_sets_the_rate_and_is_partly_filled():
    # wanted 100 MW at 150; at 110, Q = 100 x 90/50 - 0 = 180; offers 100 @ 100, 200 @ 110
    c = ai.clear_lease_market([200.0, 100.0], [110.0, 100.0], 100.0, 0.0, REF, CHOKE, LINEAR)
    assert c.rate_usd_per_kw_month == pytest.approx(110.0)
    assert c.filled_mw.tolist() == pytest.approx([80.0, 100.0])  # 180 - 100 from the marginal offer
    assert c.demand_at_rate_mw == pytest.approx(180.0)


def test_demand_sets_the_rate_between_offers_and_above_the_last():
    # offers 50 @ 100 and 500 @ 190: at 190 Q = 100 x 10/50 = 20 < 50, so the rate solves
    # Q(r) = 50: 100 x (200 - r)/50 = 50 -> r = 175; only the first offer is filled
    c = ai.clear_lease_market([50.0, 500.0], [100.0, 190.0], 100.0, 0.0, REF, CHOKE, LINEAR)
    assert c.rate_usd_per_kw_month == pytest.approx(175.0)
    assert c.filled_mw.tolist() == pytest.approx([50.0, 0.0])
    # every offer taken: Q(r) = 60 with 20 already contracted -> 100 x (200 - r)/50 = 80 -> r = 160
    c = ai.clear_lease_market([60.0], [90.0], 100.0, 20.0, REF, CHOKE, LINEAR)
    assert c.rate_usd_per_kw_month == pytest.approx(160.0) and c.signed_mw == pytest.approx(60.0)


def test_demand_below_the_reference_rate_has_its_own_small_elasticity():
    # e = 0.15: at 120, share = 1 + 0.15 x 30/150 = 1.03; above the reference the line to the choke
    assert ai.tenant_demand_share(120.0, REF, CHOKE, 0.15) == pytest.approx(1.03)
    assert ai.tenant_demand_share([150.0, 175.0, 210.0], REF, CHOKE, 0.15).tolist() == pytest.approx([1.0, 0.5, 0.0])
    # e = 0: vertical below the reference; LINEAR: the old straight line, (200 - 120)/50 = 1.6
    assert ai.tenant_demand_share([0.0, 120.0], REF, CHOKE, 0.0).tolist() == pytest.approx([1.0, 1.0])
    assert ai.tenant_demand_share(120.0, REF, CHOKE, LINEAR) == pytest.approx(1.6)
    # inverse demand: 103 MW of 100 wanted at e = 0.15 -> r = 150 x (1 - 0.03/0.15) = 120; on a
    # vertical segment no rate gives more than wanted: the top of the vertical, the reference
    assert ai._rate_for_quantity(103.0, 100.0, 0.0, REF, CHOKE, 0.15) == pytest.approx(120.0)
    assert ai._rate_for_quantity(103.0, 100.0, 0.0, REF, CHOKE, 0.0) == pytest.approx(REF)
    assert ai._rate_for_quantity(50.0, 100.0, 0.0, REF, CHOKE, 0.0) == pytest.approx(175.0)
    with pytest.raises(ValueError, match="elasticity_below=-0.1"):
        ai.tenant_demand_share(120.0, REF, CHOKE, -0.1)


def test_on_a_vertical_demand_segment_the_marginal_offer_sets_the_rate():
    # e = 0, wanted 100: below the reference tenants want exactly 100, however cheap
    # offers 60 @ 90, 100 @ 120: 100 is met inside the second offer -> r = 120, filled 60 + 40
    c = ai.clear_lease_market([60.0, 100.0], [90.0, 120.0], 100.0, 0.0, REF, CHOKE, 0.0)
    assert c.rate_usd_per_kw_month == pytest.approx(120.0)
    assert c.filled_mw.tolist() == pytest.approx([60.0, 40.0]) and c.demand_at_rate_mw == pytest.approx(100.0)
    # the old straight line would have taken 160 at 120 (share 1.6) and cleared on the demand side
    old = ai.clear_lease_market([60.0, 100.0], [90.0, 120.0], 100.0, 0.0, REF, CHOKE, LINEAR)
    assert old.signed_mw == pytest.approx(160.0) and old.rate_usd_per_kw_month == pytest.approx(120.0)
    # one cheap offer larger than the backlog: it alone is taken, at its own ask, for the 100 wanted
    c = ai.clear_lease_market([500.0], [80.0], 100.0, 0.0, REF, CHOKE, 0.0)
    assert c.rate_usd_per_kw_month == pytest.approx(80.0) and c.signed_mw == pytest.approx(100.0)
    # supply short of the vertical: demand sets the rate on the sloping part above the reference,
    # 60 of 100 wanted -> 200 - 50 x 0.6 = 170
    c = ai.clear_lease_market([60.0], [90.0], 100.0, 0.0, REF, CHOKE, 0.0)
    assert c.rate_usd_per_kw_month == pytest.approx(170.0) and c.signed_mw == pytest.approx(60.0)
    # everything already contracted: nothing signs, the rate is the standing ask
    c = ai.clear_lease_market([50.0], [90.0], 100.0, 100.0, REF, CHOKE, 0.0)
    assert c.signed_mw == 0.0 and c.rate_usd_per_kw_month == pytest.approx(90.0)


def test_nothing_trades_above_the_choke_or_without_offers():
    c = ai.clear_lease_market([100.0], [205.0], 1000.0, 0.0, REF, CHOKE, LINEAR)
    assert c.signed_mw == 0.0 and c.rate_usd_per_kw_month == pytest.approx(205.0)  # the standing ask
    c = ai.clear_lease_market([], [], 1000.0, 0.0, REF, CHOKE, LINEAR)
    assert c.signed_mw == 0.0 and np.isnan(c.rate_usd_per_kw_month)


def test_clearing_rate_falls_when_supply_rises_and_rises_when_demand_rises():
    offers, asks = np.array([100.0, 100.0, 100.0]), np.array([120.0, 140.0, 160.0])
    base = ai.clear_lease_market(offers, asks, 200.0, 0.0, REF, CHOKE, LINEAR).rate_usd_per_kw_month
    more_supply = ai.clear_lease_market(np.r_[offers, 150.0], np.r_[asks, 110.0], 200.0, 0.0, REF, CHOKE, LINEAR)
    more_demand = ai.clear_lease_market(offers, asks, 400.0, 0.0, REF, CHOKE, LINEAR)
    assert more_supply.rate_usd_per_kw_month < base < more_demand.rate_usd_per_kw_month
    assert more_demand.signed_mw > ai.clear_lease_market(offers, asks, 200.0, 0.0, REF, CHOKE, LINEAR).signed_mw


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 500), st.floats(0, 250)), min_size=1, max_size=10),
       st.floats(0, 5000), st.floats(0, 2000), st.sampled_from([0.0, 0.15, LINEAR]))
def test_clearing_fills_no_more_than_offers_or_demand_and_stays_below_the_choke(rows, wanted, contracted, e):
    mw = np.array([r[0] for r in rows])
    asks = np.array([r[1] for r in rows])
    c = ai.clear_lease_market(mw, asks, wanted, contracted, REF, CHOKE, e)
    assert (c.filled_mw >= -1e-9).all() and (c.filled_mw <= mw + 1e-9).all()
    if mw.sum() == 0:
        assert np.isnan(c.rate_usd_per_kw_month) and c.signed_mw == 0
        return
    q = float(ai.new_lease_demand_mw(c.rate_usd_per_kw_month, wanted, contracted, REF, CHOKE, e))
    assert c.signed_mw <= q + 1e-6 * max(1.0, q)
    # no cheaper outcome exists: below the rate, demand exceeds what was offered below it
    cheaper = float(ai.new_lease_demand_mw(c.rate_usd_per_kw_month - 1e-6, wanted, contracted, REF, CHOKE, e))
    if c.signed_mw > 0:
        assert mw[asks < c.rate_usd_per_kw_month - 1e-6].sum() <= cheaper + 1e-6 * max(1.0, cheaper)
    assert (c.filled_mw[asks > c.rate_usd_per_kw_month + 1e-9] == 0).all()  # nobody signs below its ask
    if mw.sum() > 0 and c.signed_mw > 0:
        assert c.rate_usd_per_kw_month <= CHOKE + 1e-9


def test_choke_rate_is_greenfield_rent_plus_the_value_of_speed():
    # 135 x (1 + 0.15 x (4.5 - 1)) = 205.875
    assert ai.greenfield_choke_rate(135.0, 0.15, 4.5, 1.0) == pytest.approx(205.875)
    # the default: conversions deliver after 9 months, 135 x (1 + 0.15 x (4.5 - 0.75)) = 210.9375
    assert Scenario().ai_choke_rate_usd_per_kw_month == pytest.approx(210.9375)


# --- deal terms ----------------------------------------------------------------------------

def test_capex_per_it_mw_grows_by_date_between_the_reference_and_the_end():
    s = Scenario()  # 7.5M at 2024-07-01, +20%/yr until 2026-01-01
    assert conversion.capex_per_it_mw(s, dt.date(2023, 6, 1), 7.5e6) == pytest.approx(7.5e6)
    one_year = conversion.capex_per_it_mw(s, dt.date(2025, 7, 1), 7.5e6)
    assert one_year == pytest.approx(7.5e6 * 1.2 ** (365 / 365.25))
    assert conversion.capex_per_it_mw(s, dt.date(2030, 1, 1), 7.5e6) == pytest.approx(
        conversion.capex_per_it_mw(s, dt.date(2026, 1, 1), 7.5e6))


def test_a_tenant_funded_deal_needs_less_of_the_hosts_cash():
    # $10M per IT MW, 80% project debt: host equity 10 x 0.2 = 2.0M; with the tenant funding
    # 30%, 10 x 0.7 x 0.2 = 1.4M
    assert conversion.host_equity_per_it_mw(10e6, 0.0, 0.8) == pytest.approx(2.0e6)
    assert conversion.host_equity_per_it_mw(10e6, 0.3, 0.8) == pytest.approx(1.4e6)
    # and in the model: the same 10 MW conversion takes less of the firm's spendable cash
    drops = []
    for share in (0.0, 0.5):
        model = IndustryModel(load_scenario("halving-2024-replay", n_firms=30, ai_tenant_capex_share=share), rng=3)
        model.step()
        site = int(np.argmax(model.sites.suitable_mw))
        spend = np.full(len(model.firms), 1e12)
        conversion.start_halls(model, np.array([site]), np.array([2]), np.array([10.0]),
                               model.config.conversion_debt_share_leased, spend, detail="test",
                               equity_room=model.decisions.equity_room_usd)
        drops.append(1e12 - spend[model.sites.owner[site]])
    assert drops[1] == pytest.approx(drops[0] * 0.5)


def test_reservation_rate_is_capex_and_forgone_margin_over_the_lease_annuity():
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=30), rng=1)
    model.step()
    from marketsim.firms import decisions
    o = decisions.outlook(model, model.seen, model.decisions.lease_market.supply_it_mw)
    rows = np.flatnonzero(model.sites.suitable_mw > 0)
    capex = conversion.capex_per_it_mw(model.config, model.market.state.date, model.firms.conversion_capex_usd_per_mw)
    hall, conv = conversion._reservations(model, o, model.seen.site_power_usd_per_mwh, capex, rows, model.beliefs.expected_decline_per_year)
    assert (hall > 0).all() and np.isfinite(hall).all()
    # a new hall's rent starts ai_new_hall_extra_lead_months later: its ask is the ask it would
    # have on a conversion's lead x (1 + monthly project rate)^extra months
    s = model.config
    # 80% of the equity comes from investors at signing (public and private alike at the defaults),
    # priced at the market's 15% hurdle; the host's own draw prices the other 20%
    assert s.ai_public_signing_equity_share == s.ai_private_project_equity_share == 0.8
    hurdle = 0.8 * s.hurdle_rate_per_year + 0.2 * model.firms.hurdle_rate_per_year[model.sites.owner[rows]]
    debt_rate = conversion.leased_debt_rate_per_year(s, model.market.state.date)
    assert debt_rate == s.ai_project_debt_rate_before_backstops_per_year  # January 2023: no hyperscaler backstop yet
    rate = conversion.project_rate_per_year(hurdle, s.conversion_debt_share_leased, debt_rate,
                                            s.ai_tenant_default_per_year)
    delay = (1 + rate) ** (s.ai_new_hall_extra_lead_months / 12)
    model.config = s.with_overrides(ai_new_hall_extra_lead_months=0)
    hall_now, conv_now = conversion._reservations(model, o, model.seen.site_power_usd_per_mwh, capex, rows, model.beliefs.expected_decline_per_year)
    npv = np.array([model.rules[k].name == "npv" for k in model.firms.rule[model.sites.owner[rows]]])
    assert npv.any() and (~npv).any()
    assert hall[npv] == pytest.approx(hall_now[npv] * delay[npv]) and conv == pytest.approx(conv_now)
    assert hall[~npv] == pytest.approx(hall_now[~npv])  # a myopic payback does not discount the wait
    model.config = s
    # a conversion gives up mining margin, a new hall does not: on the same lead, the hall's ask
    # is lower per unit capex
    premium = 1 + model.config.ai_new_hall_capex_premium
    assert (conv >= hall_now / premium - 1e-9).all()
    # doubling capex roughly doubles a new hall's ask (it is all capex)
    hall2, _ = conversion._reservations(model, o, model.seen.site_power_usd_per_mwh, 2 * capex, rows, model.beliefs.expected_decline_per_year)
    assert hall2 == pytest.approx(2 * hall)


# --- sites and interconnects -----------------------------------------------------------------

def test_hyperscaler_backstops_cheapen_project_debt_from_their_date():
    import pandas as pd

    s = load_scenario("halving-2024-replay")
    assert s.ai_backstops_from == dt.date(2025, 8, 1)
    assert conversion.leased_debt_rate_per_year(s, pd.Timestamp("2025-07-01")) == 0.10
    assert conversion.leased_debt_rate_per_year(s, pd.Timestamp("2025-08-01")) == 0.075
    assert conversion.leased_debt_rate_per_year(s, dt.date(2026, 1, 1)) == 0.075
    # hand-worked project rate of an average host (80% debt, equity at 15%, 3% tenant default):
    # 0.8 x 10% + 0.2 x 15% + 3% = 14% before, 0.8 x 7.5% + 0.2 x 15% + 3% = 12% after
    assert conversion.project_rate_per_year(0.15, 0.8, 0.10, 0.03) == pytest.approx(0.14)
    assert conversion.project_rate_per_year(0.15, 0.8, 0.075, 0.03) == pytest.approx(0.12)
    # in the model: the same sites ask less once backstops exist (the step's date is all that changes)
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=30), rng=1)
    model.step()
    from marketsim.firms import decisions
    o = decisions.outlook(model, model.seen, model.decisions.lease_market.supply_it_mw)
    rows = np.flatnonzero(model.sites.suitable_mw > 0)
    capex = conversion.capex_per_it_mw(model.config, model.market.state.date, model.firms.conversion_capex_usd_per_mw)
    args = (o, model.seen.site_power_usd_per_mwh, capex, rows, model.beliefs.expected_decline_per_year)
    before, _ = conversion._reservations(model, *args)
    model.config = model.config.with_overrides(ai_backstops_from=dt.date(2023, 1, 1))
    after, _ = conversion._reservations(model, *args)
    npv = np.array([model.rules[k].name == "npv" for k in model.firms.rule[model.sites.owner[rows]]])
    assert npv.any() and (after[npv] < before[npv]).all()
    assert (after[~npv] == before[~npv]).all()  # a myopic payback does not discount: its ask does not move


def test_industry_table_counts_the_leases_left_at_the_end_of_the_step():
    """An exit after the lease market (a bankruptcy cuts its leases) must show in the step's row:
    the column reads the lease book as the step ends, not the lease market's figure."""
    from marketsim import metrics
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=30), rng=1)
    model.step()
    assert model.decisions.lease_market.contracted_it_mw == 0.0
    site = int(np.argmax(model.sites.suitable_mw))
    model.leases.sign(np.array([site]), np.array([40.0]), np.array([120.0]), step=0, term_steps=144)
    assert metrics.industry_outcome(model)["ai_contracted_it_mw"] == 40.0


def test_lease_backed_project_debt_rolls_over_against_the_lease():
    """At its maturity, debt within the lenders' limit rolls over; a hall under lease counts in
    that limit at the project lenders' share (80%), not at the corporate loan-to-value."""
    from marketsim.firms import finance
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=30), rng=1)
    model.step()
    s, sites, firms = model.config, model.sites, model.firms
    site = int(np.argmax(sites.suitable_mw))
    f = int(sites.owner[site])
    assets_before = finance.asset_value_usd(model, model.seen)[f]
    sites.mw_converting[site] += 130.0  # a 100 MW IT hall being built, under a signed lease
    model.leases.sign(np.array([site]), np.array([100.0]), np.array([140.0]), step=0, term_steps=144)
    hall = 130.0 * s.conversion_capex_usd_per_mw / s.ai_pue
    assets = finance.asset_value_usd(model, model.seen)
    assert assets[f] == pytest.approx(assets_before + hall)
    # hand-worked: L_c x (A - H) + L_p x H, with L_c = max_debt_to_assets and L_p = 0.8
    ceiling = s.max_debt_to_assets * (assets[f] - hall) + s.conversion_debt_share_leased * hall
    assert finance.lending_ceiling_usd(model, assets)[f] == pytest.approx(ceiling)
    assert ceiling > s.max_debt_to_assets * assets[f]  # the lease lets lenders lend more against the hall
    firms.debt_usd[f] = ceiling - 1.0  # the project debt drawn at signing, and the rest
    firms.cash_usd[f] = 1e12
    firms.debt_maturity_step[f] = model.seen.step  # falls due now
    finance.pay(model, model.seen)
    assert firms.debt_usd[f] == pytest.approx(ceiling - 1.0)  # rolled over, nothing repaid
    assert firms.ledger["debt_repaid_usd"][f] == 0.0


def test_public_sites_file_covers_every_public_miner_with_sources():
    sites = load_ai_sites()
    assert set(sites["name"]) == set(load_public_miners()["name"])
    assert sites["source"].str.len().min() > 10 and sites["assumptions"].str.len().min() > 5
    riot = sites.set_index("name").loc["Riot"]
    assert riot["interconnect_mw"] == 1750  # Rockdale ~750 + Corsicana 1 GW (end-2022)
    assert sites.set_index("name").loc["Marathon", "location_quality"] == 0  # hosted: no site of its own


def test_a_firm_converts_only_what_its_sites_interconnect_allows():
    scenario = load_scenario("halving-2024-replay", n_firms=40, ai_demand_path=[], ai_demand_initial_mw=50_000.0,
                             ai_demand_max_mw=50_000.0, conversion_capex_usd_per_mw=1e6, months=12)
    model = IndustryModel(scenario, rng=2)
    sites = model.sites
    for _ in range(model.n_steps):
        model.step()
        ai_gross = sites.mw_converting + sites.mw_converted
        assert (ai_gross <= sites.suitable_mw + 1e-6).all()
        assert (sites.suitable_mw <= sites.interconnect_mw + 1e-9).all()
    ai_gross = sites.mw_converting + sites.mw_converted
    assert ai_gross.sum() > 0
    assert (ai_gross[sites.suitable_mw == 0] == 0).all()  # unsuitable sites never host AI
    assert np.isclose(ai_gross, sites.suitable_mw, rtol=1e-6).any()  # some campus is full


def test_suitable_share_of_the_start_industry_is_about_a_fifth():
    model = IndustryModel(load_scenario("halving-2024-replay"), rng=1)
    s = model.sites
    share = np.minimum(s.suitable_mw, s.capacity_mw).sum() / s.capacity_mw.sum()
    assert 0.12 < share < 0.35  # calibration: ~20% of a mining portfolio suits AI


# --- leases -------------------------------------------------------------------------------

def test_a_lease_keeps_paying_its_signed_rate_with_its_escalator():
    book = LeaseBook()
    book.sign(np.array([0, 1]), np.array([10.0, 5.0]), np.array([120.0, 150.0]), step=0, term_steps=144)
    # 13 months later: one yearly step of the 3% escalator, whatever the market does
    rent = book.monthly_rent_by_site(2, 13, 12.0, 0.03)
    assert rent.tolist() == pytest.approx([120.0 * 1.03 * 10_000.0, 150.0 * 1.03 * 5_000.0])
    rent = book.monthly_rent_by_site(2, 25, 12.0, 0.03)
    assert rent[0] == pytest.approx(120.0 * 1.03**2 * 10_000.0)


def test_renewal_option_extends_at_the_escalated_rate_and_others_expire():
    book = LeaseBook()
    book.sign(np.array([0, 1]), np.array([10.0, 5.0]), 100.0, step=0, term_steps=24)
    freed = book.expire(24, renews=np.array([True, False]), renewal_steps=60, steps_per_year=12.0,
                        escalator_per_year=0.03)
    assert freed[1].tolist() == [5.0] and len(book) == 1
    assert book.rate_usd_per_kw_month[0] == pytest.approx(100.0 * 1.03**2) and book.expiry_step[0] == 84


def test_signed_rates_in_a_run_never_change_after_signing():
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=60, ai_tenant_default_per_year=0.0), rng=1)
    seen = {}
    for _ in range(model.n_steps):
        model.step()
        for key, rate in zip(zip(model.leases.site, model.leases.signed_step), model.leases.rate_usd_per_kw_month):
            assert seen.setdefault(key, rate) == rate
    assert len(seen) > 0


def test_a_tenant_default_empties_the_hall_and_stops_the_rent():
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=30, ai_tenant_default_per_year=0.0), rng=1)
    model.step()
    site = int(np.argmax(model.sites.suitable_mw))
    owner = model.sites.owner[site]
    model.sites.mw_mining[site] -= 13.0
    model.sites.mw_converted[site] += 13.0  # a finished 10 MW IT hall
    model.leases = LeaseBook()
    model.leases.sign(np.array([site]), np.array([10.0]), 130.0, model.steps_done, 144)
    hosting.host_ai(model, model.seen)
    # rent = 130 $/kW-month x 10,000 kW x the step's months
    assert model.firms.ledger["revenue_ai_usd"][owner] == pytest.approx(130.0 * 10_000.0 * model.seen.months_in_step)
    assert model.sites.mw_ai_leased[site] == pytest.approx(13.0)
    model.config = model.config.with_overrides(ai_tenant_default_per_year=0.5)  # p = 1 - e^(-0.5/12)

    class FirstDrawDefaults:  # every uniform draw is 0 < p: the tenant defaults now
        def random(self, n):
            return np.zeros(n)

    model.firm_rng = FirstDrawDefaults()
    hosted = hosting.host_ai(model, model.seen)
    assert hosted.tenant_defaults_it_mw == pytest.approx(10.0) and hosted.contracted_it_mw == 0.0
    assert len(model.leases) == 0
    assert model.firms.ledger["revenue_ai_usd"][owner] == 0.0  # the rent stops
    assert model.sites.mw_ai_leased[site] == 0.0  # the hall is empty ...
    assert model.sites.mw_converted[site] == pytest.approx(13.0)  # ... but still there, to be let again
    assert hosting.ai_outcome(model, hosted, model.decisions.lease_market)["ai_empty_it_mw"] >= 10.0 - 1e-9
    assert "tenant_defaulted" in [r[2] for r in model.events.rows]


# --- valuation feedback -----------------------------------------------------------------------

def test_rerating_values_signed_and_delivered_leases_toward_data_centre_multiples():
    # 100 MW mining, 20 MW IT signed of which 5 delivered, PUE 1.3, miner 4.5M/MW, DC 30M/IT MW,
    # credibility 0.5: base 4.5 x (100 + 26) = 567M; uplift (30 - 5.85) x (5 + 0.5 x 15) = 301.875M
    v = ai.rerated_equity_value_usd(100.0, 20.0, 5.0, 4.5e6, 30e6, 0.5, 1.3)
    assert v == pytest.approx(567e6 + 301.875e6)
    assert ai.rerated_equity_value_usd(100.0, 0.0, 0.0, 4.5e6, 30e6, 0.5, 1.3) == pytest.approx(450e6)
    assert ai.rerating_uplift_usd_per_signed_it_mw(4.5e6, 30e6, 0.5, 1.3) == pytest.approx(12.075e6)


def test_a_signed_lease_raises_a_public_miners_market_value_and_what_it_can_issue():
    from marketsim.firms import finance
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=30), rng=1)
    model.step()
    public = np.flatnonzero(model.firms.is_public & model.firms.active)
    site = int(public[np.argmax(model.firms.cash_usd[public])])  # the firm's first site is its own id
    firm = model.sites.owner[site]
    model.leases = LeaseBook()
    model.sites.mw_ai_leased[:] = 0.0
    value0, repl0 = finance.market_value_and_replacement_usd(model)
    room0 = finance.equity_room_usd(model)
    model.leases.sign(np.array([site]), np.array([10.0]), 130.0, model.steps_done, 144)
    # 10 MW of IT signed, none delivered (PUE 1.3, miner 4.5M/MW, DC 30M/IT MW, credibility 0.5):
    # 4.5 x 1.3 x 10 + 0.5 x (30 - 5.85) x 10 = 58.5 + 120.75 = 179.25 M
    value1, repl1 = finance.market_value_and_replacement_usd(model)
    assert value1[firm] - value0[firm] == pytest.approx(179.25e6)
    assert np.delete(value1 - value0, firm) == pytest.approx(0.0)
    assert repl1 == pytest.approx(repl0)
    # delivered: the whole data-centre multiple, 30 x 10 = 300 M
    model.sites.mw_ai_leased[site] = 13.0
    assert finance.market_value_and_replacement_usd(model)[0][firm] - value0[firm] == pytest.approx(300e6)
    assert finance.equity_room_usd(model)[firm] > room0[firm]
    assert "ai_rerating_raise_share" not in Scenario.model_fields


def test_tenants_sign_blocks_not_slivers():
    # one site with 10 MW of IT room offers nothing new when the block is 40 MW, its room when 5 MW
    offered = {}
    for block in (5.0, 40.0):
        model = IndustryModel(load_scenario("halving-2024-replay", n_firms=30, ai_min_lease_block_it_mw=block), rng=1)
        model.step()
        from marketsim.firms import decisions
        sites = model.sites
        site = int(np.argmax(sites.suitable_mw))
        keep = np.zeros(len(sites), bool)
        keep[site] = True
        sites.suitable_mw[~keep] = 0.0
        sites.suitable_mw[site] = sites.mw_converting[site] + sites.mw_converted[site] + 13.0  # 10 MW of IT room
        spend = np.full(len(model.firms), 1e12)
        _, kind, mw, _ = conversion.offers(model, spend, decisions.outlook(model, model.seen, model.decisions.lease_market.supply_it_mw),
                                      model.seen.site_power_usd_per_mwh, model.beliefs.expected_decline_per_year)
        offered[block] = float(mw[kind > 0].sum())
    assert offered[5.0] == pytest.approx(10.0) and offered[40.0] == 0.0


def test_a_signing_brings_outside_equity_a_public_hosts_within_its_rerating():
    s = Scenario()  # 80% of the need for both; the re-rating of a signed IT MW is 0.5 x (30 - 4.5 x 1.3) = 12.075M
    need = np.array([2.0e6, 2.0e6])
    got = conversion.project_equity_per_it_mw(s, np.array([True, False]), need)
    assert got.tolist() == pytest.approx([1.6e6, 1.6e6])
    # a lease the market barely believes (credibility 0.05: 1.2075M of re-rating) funds no more than that
    weak = s.with_overrides(ai_signed_lease_credibility=0.05)
    assert conversion.project_equity_per_it_mw(weak, np.array([True, False]), need).tolist() == pytest.approx(
        [1.2075e6, 1.6e6])
    none = s.with_overrides(ai_public_signing_equity_share=0.0)
    assert conversion.project_equity_per_it_mw(none, np.array([True]), need[:1]).tolist() == [0.0]


@pytest.mark.parametrize("share, offered_share", [(0.8, 1.0), (0.0, 0.2)])
def test_a_public_host_offers_what_it_can_fund_with_the_equity_a_signing_brings(share, offered_share):
    # its own money covers exactly 20% of the equity its room needs: with 80% raised on signing it
    # offers the whole room, with nothing raised a fifth of it
    from marketsim.firms import decisions
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=30, ai_public_signing_equity_share=share), rng=1)
    model.step()
    s, sites, firms = model.config, model.sites, model.firms
    public_site = (sites.suitable_mw > 0) & firms.is_public[sites.owner] & firms.active[sites.owner]
    site = int(np.flatnonzero(public_site)[np.argmax(sites.suitable_mw[public_site])])
    sites.suitable_mw[np.arange(len(sites)) != site] = 0.0
    hall, conv = conversion.site_ai_room_mw(sites)
    room_it = (hall[site] + conv[site]) / s.ai_pue
    assert room_it * offered_share > s.ai_min_lease_block_it_mw
    capex = conversion.capex_per_it_mw(s, model.market.state.date, firms.conversion_capex_usd_per_mw)
    need_it = conversion.host_equity_per_it_mw(capex, s.ai_tenant_capex_share, s.conversion_debt_share_leased)
    owner = sites.owner[site]
    spend = np.zeros(len(firms))
    spend[owner] = 0.2 * need_it[owner] * (hall[site] * (1 + s.ai_new_hall_capex_premium) + conv[site]) / s.ai_pue
    _, kind, mw, _ = conversion.offers(model, spend, decisions.outlook(model, model.seen, model.decisions.lease_market.supply_it_mw),
                                      model.seen.site_power_usd_per_mwh, model.beliefs.expected_decline_per_year)
    assert float(mw[kind > 0].sum()) == pytest.approx(offered_share * room_it)


def test_a_site_of_the_typical_suitable_quality_is_paid_the_clearing_rate():
    s = Scenario()  # the deals' rates hold at the typical suitable campus, quality 1.10
    assert conversion.location_price_factor(s, np.array([1.10, 1.21, 1.045])).tolist() == pytest.approx([1.0, 1.1, 0.95])


def test_a_sites_block_counts_its_new_halls_and_conversions_together():
    # site 0: hall 25 + conversion 20 = 45 >= 40 signs both; site 1: a 30 MW conversion alone does
    # not; site 2: a 5 MW empty hall is let whatever its size
    site, kind = np.array([0, 0, 1, 2]), np.array([1, 2, 2, 0])
    got = conversion.signable_fill_mw(site, kind, np.array([25.0, 20.0, 30.0, 5.0]), 40.0, 3)
    assert got.tolist() == [25.0, 20.0, 0.0, 5.0]


def test_unmet_demand_is_what_tenants_want_at_the_clearing_rate_less_what_signed():
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=30), rng=1)
    model.step()
    cleared = ai.LeaseClearing(120.0, np.array([10.0, 0.0]), 30.0)
    assert conversion.unmet_demand_it_mw(model, model.seen, cleared, 10.0, 500.0) == pytest.approx(20.0)
    # no offers: tenants' demand at the standing rate, wanted x (choke - r)/(choke - ref) - contracted
    s, market = model.config, model.market
    market.lease_rate_usd_per_kw_month = 150.0
    seen = dataclasses.replace(model.seen, ai_demand_mw=400.0)  # the demand the step showed
    nobody = ai.LeaseClearing(float("nan"), np.zeros(0), 0.0)
    assert conversion.unmet_demand_it_mw(model, seen, nobody, 0.0, 100.0) == pytest.approx(300.0)
    market.lease_rate_usd_per_kw_month = s.ai_choke_rate_usd_per_kw_month
    assert conversion.unmet_demand_it_mw(model, seen, nobody, 0.0, 0.0) == 0.0
    assert "ai_unmet_demand_it_mw" in model.datacollector.get_model_vars_dataframe()


# --- shipped scenarios ------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(shipped_scenarios()))
def test_no_rate_sits_at_a_cap_in_the_shipped_scenarios(name):
    scenario = load_scenario(name, n_firms=80)
    assert not any("cap" in f and "rate" in f for f in Scenario.model_fields)
    model = IndustryModel(scenario, rng=1).run()
    df = model.datacollector.get_model_vars_dataframe()
    signed = df[df["ai_signed_it_mw"] > 0]
    choke = scenario.ai_choke_rate_usd_per_kw_month
    assert (signed["ai_clearing_rate_usd_per_kw_month"] < choke).all()
    # the rate moves: it is not pinned at one value for the whole run
    rates = df["ai_clearing_rate_usd_per_kw_month"].dropna()
    assert rates.nunique() > 3


# --- the pivot, honestly ----------------------------------------------------------------------

def test_pivot_profit_is_noi_less_forgone_mining_margin_discounted():
    from marketsim.pivot import discounted_pivot_profit
    # (100 - 30 - 50) / 1.1 + (200 - 50 - 0) / 1.21 = 18.1818 + 123.9669
    assert discounted_pivot_profit([100.0, 200.0], [30.0, 50.0], [50.0, 0.0], 0.10) == pytest.approx(142.14876, rel=1e-6)
    assert discounted_pivot_profit([100.0], [0.0], [0.0], 0.0) == pytest.approx(100.0)


def test_pivot_accounts_take_forgone_margin_from_the_firms_own_mining_margin():
    import pandas as pd
    from marketsim.pivot import public_ai_accounts
    scenario = Scenario()  # mining_opex 6 $/MWh
    # one public firm, two monthly steps in January and February 2024 (744 h, 696 h):
    # step 0: 90 MW mining earning $3.5M at 40 $/MWh -> margin 3.5M - 90 x 744 x 46 = 419,840 USD
    #         over 100 machine MW = 4,198.4 $/MW; it converted 10 MW from mining (and built a 20 MW
    #         hall, which gives up nothing): forgone 41,984 USD
    # step 1: margin 2.5M - 90 x 696 x 46 = -381,440 -> 0: nothing forgone
    firms = pd.DataFrame({
        "step": [0, 1], "date": pd.to_datetime(["2024-01-01", "2024-02-01"]), "firm_id": [0, 0],
        "is_public": [True, True], "mw_mining": [90.0, 90.0], "mw_idle": [10.0, 10.0],
        "power_usd_per_mwh": [40.0, 40.0], "revenue_mining_usd": [3.5e6, 2.5e6],
        "revenue_ai_usd": [1.0e6, 2.0e6], "mw_ai": [13.0, 13.0],
    })
    events = pd.DataFrame({
        "step": [0, 0], "date": pd.to_datetime(["2024-01-01", "2024-01-01"]), "kind": ["conversion_started"] * 2,
        "firm_id": [0, 0], "mw": [10.0, 20.0], "value_usd": [5e6, 9e6],
        "detail": ["lease: conversion of mining MW", "lease: new AI hall on unused interconnect"],
    })
    acc = public_ai_accounts(firms, 0.8, events, scenario)
    forgone = 41_984.0
    assert acc.loc[2024, "forgone_mining_margin_usd"] == pytest.approx(forgone)
    assert acc.loc[2024, "ai_noi_usd"] == pytest.approx(2.4e6)
    assert acc.loc[2024, "ai_profit_usd"] == pytest.approx(2.4e6 - forgone)
    assert acc.loc[2024, "capex_usd"] == pytest.approx(14e6)


# --- the own-GPU-cloud alternative --------------------------------------------------------------

def test_gpu_cloud_npv_hand_worked():
    # 9M x 0.8 x (1 - 0.3) = 5.04M a year for 5 years at 15%: annuity 3.35216 -> 16.895M - 28M
    assert ai.gpu_cloud_npv_per_it_mw(9e6, 0.8, 0.3, 28e6, 5.0, 0.15) == pytest.approx(
        5.04e6 * (1 - 1.15**-5) / 0.15 - 28e6)
    assert ai.gpu_cloud_npv_per_it_mw(9e6, 1.0, 0.0, 0.0, 2.0, 0.0) == pytest.approx(18e6)


@pytest.mark.parametrize("gpu_capex, expect_gpu", [(5e6, True), (28e6, False)])
def test_an_empty_hall_runs_its_owners_gpu_cloud_only_when_it_pays(gpu_capex, expect_gpu):
    model = IndustryModel(load_scenario("halving-2024-replay", n_firms=30, ai_gpu_capex_usd_per_it_mw=gpu_capex,
                                        ai_tenant_default_per_year=0.0, ai_tenant_failure_share_per_year=0.0), rng=1)
    model.step()
    site = int(np.argmax(model.sites.suitable_mw))
    model.leases = LeaseBook()
    model.sites.mw_mining[site] -= 13.0
    model.sites.mw_converted[site] += 13.0  # an empty 10 MW IT hall
    spend = np.full(len(model.firms), 1e12)
    started = conversion.choose_gpu_cloud(model, model.seen, spend)
    own = model.leases.own_gpu & (model.leases.site == site)
    assert own.any() == expect_gpu
    if expect_gpu:
        assert started >= 10.0 - 1e-9
        hosting.host_ai(model, model.seen)
        owner = model.sites.owner[site]
        u_rate = model.leases.rate_usd_per_kw_month[own][0]
        # NOI booked = rent equivalent x kW x margin = GPU revenue x utilisation x (1 - GPU opex) per month
        noi = model.firms.ledger["revenue_ai_usd"][owner] * model.config.ai_margin
        assert noi == pytest.approx(u_rate * 10_000.0 * model.config.ai_margin * model.seen.months_in_step, rel=1e-9)
        assert spend[owner] < 1e12  # the GPUs' equity came out of the firm's spendable cash


def test_replay_concentrates_leases_on_the_sites_that_suit_ai():
    model = IndustryModel(load_scenario("halving-2024-replay"), rng=1).run()
    events = model.events.frame()
    signed = events[events["kind"] == "lease_signed"]
    assert (model.sites.suitable_mw[signed["site_id"].to_numpy()] > 0).all()
    by_firm = signed.groupby("firm_id")["mw"].sum().sort_values(ascending=False)
    assert len(by_firm) < 0.2 * len(model.firms)  # a few campuses, not crumbs spread over many firms
    assert by_firm.head(5).sum() > 0.6 * by_firm.sum()
    df = model.datacollector.get_model_vars_dataframe().set_index("date")
    rates = df.loc["2025-01-01":, ["ai_signed_rate_min_usd_per_kw_month", "ai_signed_rate_max_usd_per_kw_month"]]
    busy = df.loc["2025-01-01":, "ai_signed_it_mw"] > 5
    # the deals' $100-180 (seed 10 converts once at $184: calibration.md 6.4), below the choke
    assert rates[busy].min().min() >= 100 and rates[busy].max().max() <= 180 < model.config.ai_choke_rate_usd_per_kw_month
    # the volume comes out of the market: ~1.4-1.9 GW of the deals by November 2025 were on
    # end-2022 interconnects, 2.37 GW in all, wanted at the reference rate (seeds 1-5 give
    # 1.68-2.28 GW: seed 1 clears below the reference, where tenants want a little more)
    assert 1_000 <= model.leases.mw_it.sum() <= 2_373 * 1.02


def test_replay_signs_2024_leases_in_the_deals_range():
    model = IndustryModel(load_scenario("halving-2024-replay"), rng=1).run()
    df = model.datacollector.get_model_vars_dataframe().set_index("date")
    rates = df.loc["2024-01-01":"2024-12-31", ["ai_signed_rate_min_usd_per_kw_month", "ai_signed_rate_max_usd_per_kw_month"]]
    busy = df.loc["2024-01-01":"2024-12-31", "ai_signed_it_mw"] > 5
    # the deals' $100-180 (docs/calibration.md 6.4; 2025: the test above)
    assert busy.any() and rates[busy].min().min() >= 100 and rates[busy].max().max() <= 180
    # the mid-2024 wave of deals (~580 MW wanted by October) signs in 2024, most of it by October:
    # the calibration notes have ~0.5 GW signed by end-2024
    signed_2024 = df.loc["2024-01-01":"2024-12-31", "ai_signed_it_mw"]
    assert 350 <= signed_2024.sum() <= 900 and signed_2024.loc[:"2024-10-31"].sum() > 0.7 * signed_2024.sum()
    # 2023: tenants wanted ~20 MW, less than one block; no block signs below the deals' rates
    assert df.loc["2023-01-01":"2023-12-31", "ai_signed_it_mw"].sum() <= 40.0
