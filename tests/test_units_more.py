"""More small units on hand-worked examples: the decision rules, borrowing and funding, the lease
book, a bidder's value of one site, the market for firms, the pivot accounts, units and
formatting, the figure layer and the scenario's descriptions (issue 11, items 2, 6, 7, 8).

The worked numbers: hashprice 50 $/PH/day; a frontier machine of 20 J/TH earns
50 x 1000 / 20 = 2,500 $/MW/day, an old one of 40 J/TH 1,250; power and opex 50 $/MWh cost
1,200 $/MW/day; a month is 365.25 / 12 = 30.4375 days. So a frontier MW makes
1,300 x 30.4375 = 39,568.75 $ a month, an old MW 50 x 30.4375 = 1,521.875 $. Machines at
10 $/TH cost 10 x 1e6 / 20 = 500,000 $ per MW of frontier machines.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketsim import IndustryModel, consolidation, figures, load_scenario, units, valuation
from marketsim.firms import finance
from marketsim.firms.book import LeaseBook
from marketsim.firms.rules import Candidates, MyopicRule, NPVRule, Outlook
from marketsim.pivot import public_ai_accounts
from marketsim.step_state import Payments
from marketsim.scenario import HashrateEvent, PowerShock, PriceShock, Scenario

DPM = 30.4375
FRONTIER_MONTH = 1_300.0 * DPM  # 39,568.75
OLD_MONTH = 50.0 * DPM  # 1,521.875


def candidates(**kw) -> Candidates:
    base = dict(efficiency_j_per_th=np.array([40.0]), cost_usd_per_mwh=np.array([50.0]),
                expected_hashprice=np.array([50.0]), expected_decline_per_year=np.array([0.0]),
                hurdle_rate_per_year=np.array([0.0]), conversion_capex_usd_per_mw=np.array([2e6]))
    return Candidates(**{**base, **kw})


def outlook(**kw) -> Outlook:
    base = dict(hashprice_now=50.0, frontier_j_per_th=20.0, machine_price_usd_per_th=10.0,
                site_build_capex_usd_per_mw=300_000.0, lease_rate_usd_per_kw_month=60.0, occupancy_outlook=1.0,
                months_to_halving=100.0, post_halving_ratio=0.5, horizon_months=24, max_payback_months=24.0,
                myopic_max_payback_months=60.0, ai_pue=1.3, ai_margin=0.8, ai_term_years=5.0,
                ai_escalator_per_year=0.0, conversion_lead_months=0.0)
    return Outlook(**{**base, **kw})


# --- decision rules ---------------------------------------------------------------------------
def test_npv_upgrade_is_the_undiscounted_margin_gain_less_capex_at_a_zero_hurdle():
    # 24 months x (39,568.75 - 1,521.875) - 500,000 = 413,125
    assert NPVRule().upgrade_score(candidates(), outlook()) == pytest.approx([413_125.0])
    # the first month's gain (38,046.875) pays 500,000 back in 13.14 months: too slow for 12
    assert NPVRule().upgrade_score(candidates(), outlook(max_payback_months=12.0)) == pytest.approx([-1.0])


def test_npv_expansion_and_conversion_on_the_worked_site():
    # value 24 x 39,568.75 = 949,650 over capex 300,000 + 500,000: 949,650 / 800,000 - 1
    assert NPVRule().expansion_intensity(candidates(), outlook()) == pytest.approx([949_650 / 800_000 - 1])
    # reservation rate: (capex 2e6 + forgone 24 x 1,521.875 x PUE 1.3) / (1000 kW x margin 0.8 x 60 months)
    rate = (2e6 + 24 * OLD_MONTH * 1.3) / (1000 * 0.8 * 60)
    assert NPVRule().conversion_reservation_rate(candidates(), outlook()) == pytest.approx([rate])
    assert NPVRule().conversion_score(candidates(), outlook()) == pytest.approx([60.0 - rate])


def test_npv_cuts_the_hashprice_at_the_halving_and_discounts_monthly():
    # halving after month 12, hurdle 12.68%/yr = 1%/month: the old machine's margin is 0 after the cut
    # (625 - 1,200 < 0), so only the first 12 months count for it, the frontier's 50 - ... for all 24
    hurdle = 1.01**12 - 1
    c, o = candidates(hurdle_rate_per_year=np.array([hurdle])), outlook(months_to_halving=12.0)
    disc = 1.01 ** -np.arange(1, 25)
    frontier = (np.r_[np.full(12, 1_300.0), np.full(12, 50.0)] * disc).sum() * DPM  # 1,250 - 1,200 after
    old = (np.r_[np.full(12, 50.0), np.zeros(12)] * disc).sum() * DPM
    assert NPVRule().upgrade_score(c, o) == pytest.approx([frontier - old - 500_000.0])


def test_myopic_rule_uses_today_and_simple_payback():
    c, o = candidates(), outlook()
    # upgrade: 500,000 / (39,568.75 - 1,521.875) = 13.14 months against 24
    assert MyopicRule().upgrade_score(c, o) == pytest.approx([24.0 - 500_000 / (FRONTIER_MONTH - OLD_MONTH)])
    # expansion: 1 - (800,000 / 39,568.75) / 24
    assert MyopicRule().expansion_intensity(c, o) == pytest.approx([1 - 800_000 / FRONTIER_MONTH / 24])
    # conversion: (2e6 / 60 months + 1,521.875 x 1.3) / (1000 x 0.8) = 44.14 $/kW-month
    rate = (2e6 / 60 + OLD_MONTH * 1.3) / 800
    assert MyopicRule().conversion_reservation_rate(c, o) == pytest.approx([rate])
    assert rate == pytest.approx(44.1397, abs=1e-4)


# --- finance ------------------------------------------------------------------------------------
@pytest.fixture
def model():
    """A small model one step in (the market has prices, the books a ledger)."""
    m = IndustryModel(load_scenario("baseline", n_firms=20, months=3), rng=1)
    m.step()
    return m


def _set_books(firms, f, *, cash, debt, rate, ceiling):
    firms.cash_usd[f], firms.debt_usd[f], firms.debt_rate_per_year[f] = cash, debt, rate
    firms.debt_ceiling_usd[f] = ceiling


def test_borrow_stops_at_the_ceiling_and_blends_the_rate(model):
    firms = model.firms
    finance.asset_value_usd(model)  # sets the ceilings
    firms.new_debt_rate = 0.10
    drawn0 = firms.ledger["debt_drawn_usd"][0]
    _set_books(firms, 0, cash=10.0, debt=100.0, rate=0.02, ceiling=250.0)
    got = finance.borrow(firms, np.array([0]), np.array([200.0]))
    assert got.tolist() == [150.0]  # only 250 - 100 is left under the ceiling
    assert firms.debt_usd[0] == 250.0 and firms.cash_usd[0] == 160.0
    assert firms.debt_rate_per_year[0] == pytest.approx((100 * 0.02 + 150 * 0.10) / 250)  # 6.8%
    assert firms.ledger["debt_drawn_usd"][0] - drawn0 == 150.0
    # a firm named twice: the second draw sees the first
    _set_books(firms, 1, cash=0.0, debt=100.0, rate=0.10, ceiling=250.0)
    assert finance.borrow(firms, np.array([1, 1]), np.array([100.0, 100.0])).tolist() == [100.0, 50.0]


def test_fund_orders_sells_equity_net_of_the_fee_then_borrows(model):
    firms, fee = model.firms, model.config.equity_issuance_fee_share
    finance.asset_value_usd(model)
    _set_books(firms, 2, cash=1_000.0, debt=0.0, rate=0.1, ceiling=1e9)
    firms.payments.buffer[2] = 0.0
    room = np.zeros(len(firms))
    room[2] = 1_000.0
    debt_rate = firms.new_debt_rate
    finance.fund_orders(model, np.array([2]), np.array([3_000.0]), room)
    # shortfall 2,000: 1,000 of shares sold gross bring 1,000 x (1 - fee); the rest is borrowed
    equity = 1_000.0 * (1 - fee)
    assert room[2] == 0.0
    assert firms.debt_usd[2] == pytest.approx(2_000.0 - equity)
    assert firms.cash_usd[2] == pytest.approx(3_000.0)  # exactly the capex is now in hand
    assert firms.debt_rate_per_year[2] == pytest.approx(debt_rate)


# --- lease book ---------------------------------------------------------------------------------
def test_lease_book_escalates_whole_years_renews_and_expires():
    book = LeaseBook()
    book.sign(np.array([0, 1, 2]), np.array([10.0, 0.0, 5.0]), 100.0, step=0, term_steps=24)  # site 1: no MW, no row
    book.sign(np.array([1]), np.array([4.0]), 150.0, step=6, term_steps=12, own_gpu=True)
    assert len(book) == 3 and book.site.tolist() == [0, 2, 1]
    # step 18: the tenants' leases are 1.5 years old -> one escalation of 3%; own GPU clouds do not escalate
    assert book.current_rates(18, 12.0, 0.03) == pytest.approx([103.0, 103.0, 150.0])
    rent = book.monthly_rent_by_site(3, 18, 12.0, 0.03)
    assert rent == pytest.approx([103.0 * 10 * 1000, 150.0 * 4 * 1000, 103.0 * 5 * 1000])
    assert book.contracted_it_by_site(3).tolist() == [10.0, 4.0, 5.0]
    # step 18: the GPU cloud's term is over, nothing else
    freed = book.expire(18)
    assert freed.tolist() == [[1.0], [4.0]] and len(book) == 2
    # step 24: site 0 renews for a year at the rate it pays (2 escalations), site 2 ends
    freed = book.expire(24, renews=np.array([True, False]), renewal_steps=12, steps_per_year=12.0,
                        escalator_per_year=0.03)
    assert freed.tolist() == [[2.0], [5.0]]
    assert book.rate_usd_per_kw_month == pytest.approx([100.0 * 1.03**2])
    assert book.signed_step.tolist() == [24] and book.expiry_step.tolist() == [36]
    sites, lost = book.cancel_share(0.25)
    assert sites.tolist() == [0] and lost == pytest.approx([2.5]) and book.mw_it == pytest.approx([7.5])
    gone_sites, gone_mw = book.default(np.array([True]))
    assert gone_sites.tolist() == [0] and gone_mw == pytest.approx([7.5]) and len(book) == 0


# --- valuation and the market for firms (through the public functions) --------------------------
def test_a_bidder_values_one_site_by_its_own_belief_and_hurdle(model):
    s, sites, firms, market = model.config, model.sites, model.firms, model.market
    model.leases = LeaseBook()
    site, bidder = 0, 1
    sites.mw_converted[site] = sites.mw_converting[site] = 0.0
    firms.expected_hashprice[bidder] = 80.0
    firms.hurdle_rate_per_year[bidder] = 0.2
    value = valuation.site_values_for_bidders(model, np.array([site]), np.array([bidder]))[0, 0]

    # independently: month by month, hashprice 80 x (1 - decline)^(t/12), halved by the halving ratio
    months = round(s.decision_horizon_years * 12)
    subsidy, fee = market.subsidy_per_block_now(), market.state.fee_share
    ratio = (subsidy / 2 + fee * subsidy) / (subsidy + fee * subsidy)
    halving = market.months_to_next_halving()
    cost_day = (model.seen.site_power_usd_per_mwh[site] + s.mining_opex_usd_per_mwh) * 24
    frontier = market.state.frontier_j_per_th
    keep = new = 0.0
    for t in range(1, months + 1):
        hp = 80.0 * (1 - s.expected_hashprice_decline_per_year) ** (t / 12) * (ratio if t > halving else 1.0)
        d = 1.2 ** (-t / 12)
        keep += max(hp * 1000 / sites.efficiency_j_per_th[site] - cost_day, 0.0) * d * DPM
        new += max(hp * 1000 / frontier - cost_day, 0.0) * d * DPM
    new -= model.seen.machine_price_usd_per_th * 1e6 / frontier
    assert value > 0 and sites.mw_machines[site] > 0
    assert value == pytest.approx(max(keep, new, 0.0) * sites.mw_machines[site], rel=1e-9)


def test_screen_targets_shops_the_loss_makers_only_when_nothing_is_cheap():
    model = IndustryModel(load_scenario("baseline", n_firms=20, months=3, ma_review_probability_per_step=1.0,
                                        takeover_value_ratio=0.0), rng=1)
    model.step()
    firms = model.firms
    firms.debt_usd[:] = 0.0
    for col in ("revenue_mining_usd", "revenue_ai_usd"):
        firms.ledger[col][:] = 0.0
    firms.ledger["revenue_mining_usd"][:] = firms.operating_cost_usd + 1.0  # every firm makes 1 $
    firms.ledger["revenue_mining_usd"][[3, 5]] -= 2.0  # firms 3 and 5 lose 1 $
    model.payments = Payments(insolvent=np.array([5]))
    assert firms.active[[3, 5]].all()
    assert consolidation.screen_targets(model).tolist() == [3]


def test_merge_firms_hands_everything_to_the_buyer_and_blends_the_debt(model):
    firms, sites = model.firms, model.sites
    finance.asset_value_usd(model)
    buyer, target = 0, 1
    _set_books(firms, buyer, cash=5e6, debt=1e6, rate=0.05, ceiling=1e9)
    _set_books(firms, target, cash=2e6, debt=3e6, rate=0.13, ceiling=4e6)
    firms.btc_held[buyer], firms.btc_held[target] = 1.0, 2.5
    target_sites = np.flatnonzero(sites.owner == target)
    assert len(target_sites) and firms.active[[buyer, target]].all()
    consolidation.merge_firms(model, buyer, target, 4e6, "takeover")
    assert firms.cash_usd[buyer] == pytest.approx(5e6 + 2e6 - 4e6)  # no borrowing: the cash covers the price
    assert firms.debt_usd[buyer] == pytest.approx(4e6)
    assert firms.debt_rate_per_year[buyer] == pytest.approx((1e6 * 0.05 + 3e6 * 0.13) / 4e6)  # 11%
    assert firms.btc_held[buyer] == pytest.approx(3.5)
    assert (sites.owner[target_sites] == buyer).all()
    assert not firms.active[target] and firms.cash_usd[target] == firms.debt_usd[target] == 0.0


# --- the pivot accounts, against a hand-made table -----------------------------------------------
def test_public_ai_accounts_on_a_hand_made_table():
    rows = []  # (firm, public, step, date, AI revenue, AI MW)
    for step, date in enumerate(["2024-11-01", "2024-12-01", "2025-01-01", "2025-02-01"]):
        rows += [(0, True, step, date, 100.0 * (step + 1), 10.0 * (step + 1)),
                 (1, True, step, date, 50.0, 5.0),
                 (2, False, step, date, 1e6, 1e3)]  # private: never counted
    firms = pd.DataFrame(rows, columns=["firm_id", "is_public", "step", "date", "revenue_ai_usd", "mw_ai"])
    events = pd.DataFrame({"kind": ["conversion_started", "conversion_started", "lease_signed", "conversion_started"],
                           "firm_id": [0, 2, 0, 1], "date": ["2024-11-01", "2024-12-01", "2025-01-01", "2025-02-01"],
                           "value_usd": [7.0, 1e9, 3.0, 11.0]})
    table = public_ai_accounts(firms, 0.25, events)
    # 2024: revenue (100 + 50) + (200 + 50) = 400; 2025: (300 + 50) + (400 + 50) = 800
    assert table["ai_revenue_usd"].tolist() == [400.0, 800.0]
    assert table["ai_noi_usd"].tolist() == [100.0, 200.0]
    assert table["mw_ai_end"].tolist() == [25.0, 45.0]  # Dec: 20 + 5; Feb: 40 + 5
    assert table["mw_ai_mean"].tolist() == [20.0, 40.0]  # (15 + 25) / 2, (35 + 45) / 2
    assert table["capex_usd"].tolist() == [7.0, 11.0]  # public conversions only
    assert table["ai_profit_usd"].tolist() == [100.0, 200.0]  # no forgone margin without a scenario


# --- units, formatting, figures, scenario descriptions -------------------------------------------
def test_unit_constants_agree_with_their_definitions():
    assert units.DAYS_PER_MONTH * units.MONTHS_PER_YEAR == units.DAYS_PER_YEAR == 365.25
    assert units.HOURS_PER_MONTH == pytest.approx(730.5)
    assert units.TH_PER_EH == units.PH_PER_EH * 1000


@pytest.mark.parametrize("x, text", [(1.234e6, "$1.23M"), (-451.83e6, "-$451.83M"), (999.4, "$999"),
                                     (-0.3, "$0"), (2.5e12, "$2.50T"), (float("nan"), "n/a")])
def test_money_is_written_as_accountants_write_it(x, text):
    assert units.format_money(x) == text


def test_shares_and_table_numbers():
    assert units.format_share(0.1234) == "12.3%" and units.format_share(-0.05, signed=True) == "-5.0%"
    assert units.format_share(float("nan")) == "n/a"
    assert units.format_number(np.float64(1234.5678)) == "1235" and units.format_number(float("nan")) == "-"
    assert units.format_number(7) == "7" and units.format_money(12.345, cents=True) == "$12.35"


def test_figures_are_figure_objects_titled_from_the_declared_outcomes():
    from matplotlib.figure import Figure

    bands = pd.DataFrame({"step": [0, 1, 0, 1], "p": [1, 1, 2, 2], "mean": [1.0, 2.0, 3.0, 4.0],
                          "low": [0.5, 1.5, 2.5, 3.5], "high": [1.5, 2.5, 3.5, 4.5]})
    fig = figures.bands_figure({"mw_ai": bands, "top5_share_hashrate": bands}, "p", {})
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["AI-leased MW (MW)", "top-5 share of hashrate (%)"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["p = 1", "p = 2"]
    heat = figures.heatmap_figure({"mw_ai": pd.DataFrame([[1.0, 2.0]], index=[0.5], columns=[1, 2])}, "x", "y")
    assert heat.axes[0].get_title() == "AI-leased MW (MW), mean"


def test_data_hashprice_is_revenue_per_day_per_ph():
    idx = pd.DatetimeIndex(["2022-01-01", "2022-02-01"])
    hp = figures.data_hashprice_usd_per_ph_day(pd.Series([31e6, 28e6], idx), pd.Series([200.0, 100.0], idx))
    assert hp.tolist() == pytest.approx([1e6 / 200_000, 1e6 / 100_000])  # 1 M$/day over 200,000 and 100,000 PH/s


@pytest.mark.parametrize("model_cls", [Scenario, PriceShock, PowerShock, HashrateEvent])
def test_every_scenario_field_has_a_description(model_cls):
    missing = [name for name, f in model_cls.model_fields.items() if not (f.description or "").strip()]
    assert missing == []
