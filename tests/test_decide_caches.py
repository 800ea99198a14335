"""The decide path's shortcuts give the numbers of the long way, exactly (fixed-seed tables must not
move): per-firm hashprice paths made once a step (``rules.FirmPaths``), the frontier's value once
per site for its cohorts, each firm's largest site without a sort, the conversion pipeline's
phases in one pass, and the repeat check of the finance helpers.

The worked numbers follow tests/test_units_more.py: hashprice 50 $/PH/day, frontier 20 J/TH
(2,500 $/MW/day), power and opex 50 $/MWh (1,200 $/MW/day), zero hurdle and decline, 24 months of
30.4375 days, machines at 10 $/TH (500,000 $ per MW).
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from marketsim import IndustryModel, load_scenario
from marketsim.firms import economics as econ
from marketsim.firms import finance
from marketsim.firms.book import Pipeline, SiteBook
from marketsim.firms.rules import Candidates, FirmPaths, FirmRows, NPVRule

from test_units_more import DPM, outlook  # the worked outlook (halving in 100 months, 24-month horizon)


def firm_candidates(owner, efficiency, cost, belief, decline, hurdle, paths=None, site=None) -> Candidates:
    owner = np.asarray(owner)
    return Candidates(efficiency_j_per_th=np.asarray(efficiency, float), cost_usd_per_mwh=np.asarray(cost, float),
                      expected_hashprice=belief[owner], expected_decline_per_year=decline[owner],
                      hurdle_rate_per_year=hurdle[owner], conversion_capex_usd_per_mw=np.full(len(owner), 2e6),
                      paths=paths, site=site)


def test_firm_rows_makes_each_firm_once_a_step_and_returns_its_row_wherever_asked():
    made = []

    def make(f):
        made.append(f.tolist())
        return np.stack([f * 10.0, f * 10.0 + 1.0], axis=1)

    rows = FirmRows(5, make)
    assert rows.rows(np.array([3, 1, 3])).tolist() == [[30.0, 31.0], [10.0, 11.0], [30.0, 31.0]]
    assert rows.rows(np.array([1, 4])).tolist() == [[10.0, 11.0], [40.0, 41.0]]
    assert rows.rows(np.array([4, 3, 1])).tolist() == [[40.0, 41.0], [30.0, 31.0], [10.0, 11.0]]
    assert made == [[1, 3], [4]]  # firm 1 and 3 once, 4 when first asked, nothing the third time


def test_npv_rule_on_cached_paths_gives_the_direct_numbers_bit_for_bit():
    rng = np.random.default_rng(7)
    n_firms = 6
    belief = rng.uniform(40, 120, n_firms)
    decline = rng.uniform(-0.2, 0.6, n_firms)
    hurdle = rng.uniform(0.05, 0.3, n_firms)
    o = outlook(horizon_months=60, months_to_halving=17.0)
    paths = FirmPaths(o, belief, decline)
    rule = NPVRule()
    for owner in ([2, 2, 0, 5, 5, 5], [1], [4, 0, 4]):
        k = len(owner)
        eff, cost = rng.uniform(18, 90, k), rng.uniform(20, 160, k)
        direct = firm_candidates(owner, eff, cost, belief, decline, hurdle)
        cached = firm_candidates(owner, eff, cost, belief, decline, hurdle,
                                 paths.of(np.asarray(owner), "hurdle", hurdle))
        for method in ("upgrade_score", "expansion_intensity", "conversion_reservation_rate"):
            assert np.array_equal(getattr(rule, method)(cached, o), getattr(rule, method)(direct, o)), method
        # and the numbers of the formulas valued on every candidate (the guard first skips only
        # the discounted value of those it turns down)
        hp = econ.hashprice_outlook(belief[owner], 60, decline[owner], 17.0, 0.5)
        disc = econ.monthly_discount(hurdle[owner], 60)
        frontier = np.full(k, 20.0)
        capex = econ.machine_capex_usd_per_mw(10.0, frontier)
        gain = econ.pv_mining_margin_per_mw(hp, frontier, cost, disc) - econ.pv_mining_margin_per_mw(hp, eff, cost, disc)
        first = hp[:, 0] * econ.PH_PER_EH * econ.DAYS_PER_MONTH * (1 / frontier - 1 / eff)
        quick = econ.payback_months(capex, first) <= o.max_payback_months
        assert np.array_equal(rule.upgrade_score(cached, o), np.where(quick, gain - capex, -1.0))
        value = econ.pv_mining_margin_per_mw(hp, frontier, cost, disc)
        site_capex = 300_000.0 + capex
        margin = np.maximum(econ.revenue_usd_per_mw_day(hp[:, 0], frontier) - cost * 24, 0.0) * econ.DAYS_PER_MONTH
        quick = econ.payback_months(site_capex, margin) <= o.max_payback_months
        assert np.array_equal(rule.expansion_intensity(cached, o),
                              np.where(quick, np.clip(value / site_capex - 1.0, 0.0, 1.0), 0.0))
    # the hashprice path of a firm is its belief eroded monthly and halved after the halving
    t = np.arange(1, 61)
    expected = belief[3] * (1 - decline[3]) ** (t / 12) * np.where(t > 17.0, 0.5, 1.0)
    assert paths.hashprice.rows(np.array([3]))[0] == pytest.approx(expected, rel=1e-12)


def test_upgrade_valued_once_per_site_equals_row_by_row_on_the_worked_numbers():
    belief, decline, hurdle = np.array([50.0]), np.array([0.0]), np.array([0.0])
    o = outlook()
    # two cohorts on site 7 (40 and 30 J/TH), one on site 9 (40 J/TH, dearer power: 60 $/MWh)
    owner, eff, cost, site = [0, 0, 0], [40.0, 30.0, 40.0], [50.0, 50.0, 60.0], np.array([7, 7, 9])
    grouped = NPVRule().upgrade_score(firm_candidates(owner, eff, cost, belief, decline, hurdle, site=site), o)
    plain = NPVRule().upgrade_score(firm_candidates(owner, eff, cost, belief, decline, hurdle), o)
    assert np.array_equal(grouped, plain)
    # frontier MW 1,300 $/day, a 40 J/TH MW 50 $/day, a 30 J/TH MW 466.67 $/day (at 50 $/MWh):
    # 24 months of the gain less 500,000 of machines
    assert grouped[0] == pytest.approx(24 * DPM * (1_300.0 - 50.0) - 500_000.0)
    assert grouped[1] == pytest.approx(24 * DPM * (1_300.0 - (50_000 / 30 - 1_200.0)) - 500_000.0)
    # at 60 $/MWh the 40 J/TH MW loses money (curtailed: 0), the frontier makes 1,060 a day
    assert grouped[2] == pytest.approx(24 * DPM * 1_060.0 - 500_000.0)


def _sites_model(owner, capacity, shutdown, n_firms):
    capacity, shutdown = np.asarray(capacity, float), np.asarray(shutdown, float)
    sites = types.SimpleNamespace(owner=np.asarray(owner), live_mw=capacity - shutdown)
    return SiteBook.primary_site(sites, n_firms)


def test_primary_site_is_the_largest_live_site_ties_to_the_lower_index():
    # firm 0: sites 0 (10 MW) and 3 (10 MW live of 15): a tie, site 0; firm 1: site 1 (all shut
    # down: none); firm 2: sites 2 (5) and 4 (8): site 4; firm 3 owns no site
    sites = types.SimpleNamespace(owner=np.array([0, 1, 2, 0, 2]),
                                  live_mw=np.array([10, 6, 5, 15, 8], float) - np.array([0, 6, 0, 5, 0], float))
    assert SiteBook.primary_site(sites, 4).tolist() == [0, -1, 4, -1]
    assert SiteBook.primary_site(sites, 4, np.array([2, 0])).tolist() == [4, 0]


def test_primary_site_matches_a_sort_by_owner_and_size_on_random_books():
    rng = np.random.default_rng(3)
    for _ in range(200):
        n_firms, n_sites = int(rng.integers(1, 12)), int(rng.integers(1, 25))
        owner = rng.integers(0, n_firms, n_sites)
        cap = rng.choice([0.0, 2.0, 5.0, 7.5], n_sites)
        shut = np.where(rng.random(n_sites) < 0.3, cap, 0.0)
        live = cap - shut
        order = np.lexsort((-live, owner))  # by owner, largest first, stable
        want = np.full(n_firms, -1)
        for f in range(n_firms):
            mine = order[owner[order] == f]
            if len(mine) and live[mine[0]] > 0:
                want[f] = mine[0]
        assert _sites_model(owner, cap, shut, n_firms).tolist() == want.tolist()


def test_pipeline_rows_with_their_own_delays_equal_the_calls_one_delay_at_a_time():
    one, each = Pipeline(4, 6), Pipeline(4, 6)
    one.cursor = each.cursor = 5  # wraps around the ring
    rows = np.array([0, 2, 2, 3, 0, 2])
    amounts = np.array([1.5, 0.1, 0.2, 4.0, 2.5, 0.3])
    delays = np.array([1, 1, 3, 9, 3, 3])  # 9 is past the horizon: clipped to the last slot
    for d in (1, 3, 9):
        at = delays == d
        one.add_rows(rows[at], amounts[at], d)
    each.add_rows_each(rows[np.argsort(delays, kind="stable")], amounts[np.argsort(delays, kind="stable")],
                       np.sort(delays, kind="stable"))
    assert np.array_equal(one.buffer, each.buffer)
    assert each.pending().tolist() == pytest.approx([4.0, 0.0, 0.6, 4.0])


def test_has_repeats():
    assert not finance.has_repeats(np.array([], dtype=np.int64))
    assert not finance.has_repeats(np.array([4]))
    assert not finance.has_repeats(np.array([5, 1, 3]))
    assert finance.has_repeats(np.array([5, 1, 5]))


def test_offers_value_only_the_sites_that_can_offer_a_block():
    """Reservation rates are worked out only for sites whose offer reaches a tenant's block."""
    from marketsim.firms import conversion, decisions

    model = IndustryModel(load_scenario("ai-pivot-20pct", n_firms=40, months=30), rng=1)
    for _ in range(24):
        model.step()
    seen = []
    original = conversion._reservations

    def spy(m, o, power, capex, rows, decline, paths=None, **rooms):
        seen.append(rows.copy())
        return original(m, o, power, capex, rows, decline, paths, **rooms)

    conversion._reservations = spy
    try:
        spend = np.full(len(model.firms), 1e12)  # money is no limit: every suitable site offers
        o = decisions.outlook(model, model.seen, model.decisions.lease_market.supply_it_mw)
        power, decline = model.seen.site_power_usd_per_mwh, model.beliefs.expected_decline_per_year
        site, kind, mw, res = conversion.offers(model, spend, o, power, decline)
        broke = np.zeros(len(model.firms))  # nobody can fund a block: no new building is valued
        _, kind0, _, _ = conversion.offers(model, broke, o, power, decline)
    finally:
        conversion._reservations = original
    assert len(seen) == 1 and set(site[kind > 0]) <= set(seen[0].tolist())
    assert (kind0 == 0).all()


def test_pipeline_rows_appended_from_a_reserve_start_empty_and_keep_what_is_scheduled():
    import copy

    p = Pipeline(2, 3)
    p.add_rows(np.array([0, 1]), np.array([1.0, 2.0]), 1)
    p.append_rows(1)  # a block with room to spare
    p.add(2, 5.0, 2)
    p.pop()  # one step on: rows 0 and 1 arrive
    p.append_rows(3)  # from the reserve (or a new block): zero rows
    assert p.buffer.shape == (6, 4)
    assert p.pending().tolist() == [0.0, 0.0, 5.0, 0.0, 0.0, 0.0]
    q = copy.deepcopy(p)  # a copy's buffer is no longer a view of its block: it still appends right
    q.append_rows(2)
    q.add(7, 1.5, 1)
    assert q.pending().tolist() == [0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 1.5]
    assert p.pending().tolist() == [0.0, 0.0, 5.0, 0.0, 0.0, 0.0]
    assert p.pop().tolist() == [0.0, 0.0, 5.0, 0.0, 0.0, 0.0]


def test_live_mw_by_firm_on_the_books_counts_every_state_but_shut_down():
    # firm 0: sites 0 (10 MW) and 3 (15 MW, 5 shut): 20; firm 1: site 1, all shut: 0; firm 2:
    # sites 2 (5) and 4 (8, of which 3 converted to AI: still live): 13; firm 3 owns nothing
    sites = SiteBook.create(owner=[0, 1, 2, 0, 2], capacity_mw=[10.0, 6.0, 5.0, 15.0, 8.0], suitable_mw=np.zeros(5),
                            power_base_usd_per_mwh=np.full(5, 40.0), efficiency_j_per_th=np.full(5, 30.0),
                            machine_age_years=np.zeros(5), pipeline_horizon=2)
    sites.mw_mining[[1, 3]] -= [6.0, 5.0]
    sites.mw_shutdown[[1, 3]] += [6.0, 5.0]
    sites.mw_mining[4] -= 3.0
    sites.mw_converted[4] += 3.0
    assert sites.live_mw.tolist() == [10.0, 0.0, 5.0, 10.0, 8.0]
    assert sites.mw_by_firm(4).tolist() == [20.0, 0.0, 13.0, 0.0]
    assert sites.primary_site(4).tolist() == [0, -1, 4, -1]


def test_new_hall_outlook_is_the_outlook_with_the_longer_lead_and_leaves_the_step_outlook_alone():
    import dataclasses

    o = outlook(conversion_lead_months=9.0)
    hall = o.with_conversion_lead(o.conversion_lead_months + 6.0)
    assert hall == dataclasses.replace(o, conversion_lead_months=15.0)
    assert (o.conversion_lead_months, hall.conversion_lead_months) == (9.0, 15.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hall.ai_pue = 2.0


def test_capex_growth_on_plain_dates_equals_the_datetime64_arithmetic_bit_for_bit():
    import datetime as dt

    import pandas as pd

    from marketsim.firms import conversion

    s = load_scenario("baseline")
    ref, until = s.conversion_capex_reference_date, s.conversion_capex_growth_until
    # a year of 365.25 days after the reference: one year's growth; before it none, after `until` flat
    assert conversion._capex_growth_years(ref, until, ref) == 0.0
    assert conversion._capex_growth_years(ref, until, ref - dt.timedelta(days=400)) == 0.0
    assert conversion._capex_growth_years(ref, until, until + dt.timedelta(days=400)) == \
        (until - ref).days / 365.25
    for day in range(-100, 1200, 13):
        date = ref + dt.timedelta(days=day)
        fast = conversion.capex_per_it_mw(s, pd.Timestamp(date), np.array([7.5e6, 9e6]))
        slow = conversion.capex_per_it_mw(s, np.datetime64(date), np.array([7.5e6, 9e6]))
        assert fast.tobytes() == slow.tobytes()
