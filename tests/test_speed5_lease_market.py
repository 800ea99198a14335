"""The lease market's shortcuts (speed round 5) give the long way's numbers, bit for bit:
the scalar demand curve, the clearing's checks and sort when every offer has MW, the reservation
rates asked only where a site has room of that kind, the capex growth kept for a step's date, and
the empty halls the GPU-cloud choice reads from the offers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketsim.firms import conversion, decisions
from marketsim.market import ai
from marketsim.model import IndustryModel
from marketsim.scenario import load_scenario

REF, CHOKE = 150.0, 200.0


@pytest.mark.parametrize("e", [0.0, 0.15, 1.0])
def test_demand_share_at_one_rate_is_the_array_curve_bit_for_bit(e):
    rates = [-5.0, 0.0, 1e-9, 99.9, REF - 1e-12, REF, REF + 1e-12, 175.0, CHOKE, CHOKE + 1.0, 1e6, np.float64(160.5)]
    for r in rates:
        slow = ai.tenant_demand_share(r, REF, CHOKE, e)
        fast = ai.tenant_demand_share_at(r, REF, CHOKE, e)
        assert type(fast) is float and np.float64(fast).tobytes() == np.float64(slow).tobytes()
        for wanted, contracted in ((0.0, 0.0), (500.0, 0.0), (500.0, 120.0), (100.0, 900.0)):
            slow_q = float(ai.new_lease_demand_mw(r, wanted, contracted, REF, CHOKE, e))
            fast_q = ai.new_lease_demand_mw_at(r, wanted, contracted, REF, CHOKE, e)
            assert type(fast_q) is float and fast_q == slow_q
    assert np.isnan(ai.tenant_demand_share_at(float("nan"), REF, CHOKE, e))  # NaN passes through, as in numpy
    assert np.isnan(ai.tenant_demand_share(float("nan"), REF, CHOKE, e))
    assert np.isnan(ai.new_lease_demand_mw_at(float("nan"), 10.0, 0.0, REF, CHOKE, e))
    with pytest.raises(ValueError, match="choke_rate"):
        ai.tenant_demand_share_at(100.0, REF, 140.0, e)
    with pytest.raises(ValueError, match="elasticity_below"):
        ai.tenant_demand_share_at(100.0, REF, CHOKE, -0.1)


def test_clearing_with_some_empty_offers_fills_the_others_as_if_they_were_alone():
    """Offers of 0 MW take no part: the indexed sort (some offers empty) and the plain one (all
    with MW) give the same rate and fills."""
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(1, 12))
        mw = rng.uniform(1, 80, n).round(1)
        res = rng.uniform(90, 210, n).round(0)  # ties: the stable sort keeps the offers' order
        wanted, contracted = float(rng.uniform(0, 600)), float(rng.uniform(0, 200))
        alone = ai.clear_lease_market(mw, res, wanted, contracted, REF, CHOKE, 0.15)
        gaps = rng.random(n) < 0.4
        mw_g = np.insert(mw, np.arange(n)[gaps], 0.0)
        res_g = np.insert(res, np.arange(n)[gaps], rng.uniform(0, 300, gaps.sum()))
        mixed = ai.clear_lease_market(mw_g, res_g, wanted, contracted, REF, CHOKE, 0.15)
        assert mixed.rate_usd_per_kw_month == alone.rate_usd_per_kw_month or (
            np.isnan(mixed.rate_usd_per_kw_month) and np.isnan(alone.rate_usd_per_kw_month))
        assert mixed.filled_mw[mw_g > 0].tobytes() == alone.filled_mw.tobytes()
        assert not mixed.filled_mw[mw_g == 0].any()
        assert mixed.demand_at_rate_mw == alone.demand_at_rate_mw
        assert (alone.signed_mw > 0) == (alone.rate_usd_per_kw_month >= res.min() and alone.filled_mw.any())


def test_clearing_still_refuses_bad_offers():
    for mw, res, match in (([1.0, np.nan], [1.0, 2.0], "offer_mw"), ([1.0, np.inf], [1.0, 2.0], "offer_mw"),
                           ([1.0, -1.0], [1.0, 2.0], "offer_mw"), ([1.0, 2.0], [np.inf, 2.0], "reservation_rate"),
                           ([1e308, 1e308], [1.0, 2.0], None)):  # a sum that overflows: still valid offers
        if match is None:
            with np.errstate(over="ignore"):
                filled = ai.clear_lease_market(mw, res, 10.0, 0.0, REF, CHOKE, 0.1).filled_mw
            assert filled[0] > 10.0 and filled[1] == 0.0  # demand below the reference: a little more than 10
            continue
        with pytest.raises(ValueError, match=match):
            ai.clear_lease_market(mw, res, 10.0, 0.0, REF, CHOKE, 0.1)
    empty = ai.clear_lease_market([0.0, 0.0], [1.0, 2.0], 10.0, 0.0, REF, CHOKE, 0.1)
    assert np.isnan(empty.rate_usd_per_kw_month) and empty.filled_mw.tolist() == [0.0, 0.0]


def _model_at(steps: int, scenario: str = "ai-pivot-20pct", n_firms: int = 40):
    model = IndustryModel(load_scenario(scenario, n_firms=n_firms, months=steps + 6), rng=1)
    for _ in range(steps):
        model.step()
    return model


def test_reservations_asked_by_kind_are_the_rates_of_every_row():
    """Each rule is asked only about the rows with new-hall (or conversion) room; where there is
    room the rate is the one the rule gives when asked about every row."""
    model = _model_at(24)
    o = decisions.outlook(model, model.seen, model.decisions.lease_market.supply_it_mw)
    power, decline = model.seen.site_power_usd_per_mwh, model.beliefs.expected_decline_per_year
    capex = conversion.capex_per_it_mw(model.config, model.market.state.date, model.firms.conversion_capex_usd_per_mw)
    rows = (model.firms.active[model.sites.owner] & (model.sites.live_mw > 0)).nonzero()[0]
    assert len(rows) > 4
    every_hall, every_conv = conversion._reservations(model, o, power, capex, rows, decline)
    hall_room = np.arange(len(rows)) % 2 == 0
    conv_room = np.arange(len(rows)) % 3 != 0
    hall, conv = conversion._reservations(model, o, power, capex, rows, decline, hall_room=hall_room,
                                          conv_room=conv_room)
    assert np.isfinite(every_hall).all() and np.isfinite(every_conv).all()
    assert hall[hall_room].tobytes() == every_hall[hall_room].tobytes() and np.isinf(hall[~hall_room]).all()
    assert conv[conv_room].tobytes() == every_conv[conv_room].tobytes() and np.isinf(conv[~conv_room]).all()
    none = conversion._reservations(model, o, power, capex, rows, decline, hall_room=np.zeros(len(rows), bool),
                                    conv_room=np.zeros(len(rows), bool))
    assert np.isinf(none[0]).all() and np.isinf(none[1]).all()


def test_offers_return_the_empty_halls_the_gpu_cloud_choice_reads():
    model = _model_at(30)
    o = decisions.outlook(model, model.seen, model.decisions.lease_market.supply_it_mw)
    spend = np.full(len(model.firms), 1e12)
    args = (model, spend, o, model.seen.site_power_usd_per_mwh, model.beliefs.expected_decline_per_year)
    *offered, empty = conversion._offers(*args)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(offered, conversion.offers(*args)))
    assert empty.tobytes() == conversion.empty_hall_it_mw(model).tobytes()
    assert (empty >= 0).all()


def test_capex_growth_kept_for_a_date_is_the_growth_worked_out_anew():
    s = load_scenario("baseline")
    base = np.array([7.5e6, 9e6])
    for day in range(-30, 900, 61):
        date = pd.Timestamp(s.conversion_capex_reference_date) + pd.Timedelta(days=day)
        first = conversion.capex_per_it_mw(s, date, base)
        again = conversion.capex_per_it_mw(s, date, base)  # the kept factor
        anew = conversion.capex_per_it_mw(s, date.to_datetime64(), base)  # another date object: worked out
        assert first.tobytes() == again.tobytes() == anew.tobytes()
    faster = s.with_overrides(conversion_capex_growth_per_year=s.conversion_capex_growth_per_year + 0.5)
    later = pd.Timestamp(s.conversion_capex_growth_until)
    assert conversion.capex_per_it_mw(faster, later, base)[0] > conversion.capex_per_it_mw(s, later, base)[0]


def _clear_the_long_way(mw, res, wanted, contracted, ref, choke, e):
    """The clearing as it was before the shortcuts: demand at every offer's rate, as arrays."""
    mw, res = np.asarray(mw, dtype=float), np.asarray(res, dtype=float)
    filled = np.zeros_like(mw)
    idx = (mw > 0).nonzero()[0]
    if not len(idx):
        return float("nan"), filled, 0.0
    order = idx[res[idx].argsort(kind="stable")]
    r_sorted, q_sorted = res[order], mw[order]
    cum = q_sorted.cumsum()
    before = np.concatenate(([0.0], cum[:-1]))
    curve = (wanted, contracted, ref, choke, e)
    demand = ai.new_lease_demand_mw(r_sorted, *curve)
    met = (cum >= demand).nonzero()[0]
    if not len(met):
        rate = ai._rate_for_quantity(cum[-1], *curve)
        filled[order] = q_sorted
    else:
        k = int(met[0])
        if demand[k] > before[k]:
            rate = float(r_sorted[k])
            filled[order[:k]] = q_sorted[:k]
            filled[order[k]] = demand[k] - before[k]
        else:
            rate = ai._rate_for_quantity(before[k], *curve)
            filled[order[:k]] = q_sorted[:k]
    rate = max(rate, float(r_sorted[0])) if filled.sum() > 0 else float(r_sorted[0])
    return rate, filled, float(ai.new_lease_demand_mw(rate, *curve))


@pytest.mark.parametrize("e", [0.0, 0.15, 2.0])
def test_clearing_by_bisection_is_the_clearing_of_every_offer_bit_for_bit(e):
    """The marginal offer found by bisection (demand asked at a few offers, in floats) is the one
    the array form finds, and the rate, fills and demand at the rate are the same numbers."""
    rng = np.random.default_rng(11)
    for trial in range(400):
        n = int(rng.integers(1, 40))
        mw = rng.uniform(0.5, 60, n).round(int(rng.integers(0, 3)))
        if trial % 3 == 0:
            mw[rng.random(n) < 0.3] = 0.0  # some offers without MW
        res = rng.uniform(50, 260, n).round(int(rng.integers(0, 2)))  # ties, rates above the choke
        wanted = float(rng.choice([0.0, rng.uniform(0, 50), rng.uniform(0, 2000)]))
        contracted = float(rng.choice([0.0, rng.uniform(0, wanted + 1)]))
        fast = ai.clear_lease_market(mw, res, wanted, contracted, REF, CHOKE, e)
        rate, filled, demand = _clear_the_long_way(mw, res, wanted, contracted, REF, CHOKE, e)
        assert np.float64(fast.rate_usd_per_kw_month).tobytes() == np.float64(rate).tobytes()
        assert fast.filled_mw.tobytes() == filled.tobytes()
        assert fast.demand_at_rate_mw == demand


def test_rules_are_not_asked_about_rows_without_room_and_the_bisection_asks_few_rates(monkeypatch):
    """The shortcuts are taken: a rule is not asked about a kind none of its rows has room for, and
    the clearing asks the demand curve at ~log2(n) offers, not at each."""
    model = _model_at(24)
    o = decisions.outlook(model, model.seen, model.decisions.lease_market.supply_it_mw)
    power, decline = model.seen.site_power_usd_per_mwh, model.beliefs.expected_decline_per_year
    capex = conversion.capex_per_it_mw(model.config, model.market.state.date, model.firms.conversion_capex_usd_per_mw)
    rows = (model.firms.active[model.sites.owner] & (model.sites.live_mw > 0)).nonzero()[0]
    asked = []

    class Spy:
        def __init__(self, rule):
            self.rule = rule

        def conversion_reservation_rate(self, c, o):
            asked.append((o.conversion_lead_months, len(c)))
            return self.rule.conversion_reservation_rate(c, o)

    monkeypatch.setattr(model, "rules", [Spy(r) for r in model.rules])
    conversion._reservations(model, o, power, capex, rows, decline, hall_room=np.zeros(len(rows), bool),
                             conv_room=np.ones(len(rows), bool))
    assert asked and all(lead == o.conversion_lead_months for lead, _ in asked)  # conversions only
    assert sum(n for _, n in asked) == len(rows)

    calls = []
    real = ai._demand_at
    monkeypatch.setattr(ai, "_demand_at", lambda *a: calls.append(a[0]) or real(*a))
    n = 1000
    mw, res = np.full(n, 1.0), np.linspace(100.0, 199.0, n)
    c = ai.clear_lease_market(mw, res, 300.0, 0.0, REF, CHOKE, 0.15)
    assert len(calls) <= 12  # ~log2(1000) + the marginal offer + the demand at the rate
    rate, filled, demand = _clear_the_long_way(mw, res, 300.0, 0.0, REF, CHOKE, 0.15)
    assert c.rate_usd_per_kw_month == rate and c.filled_mw.tobytes() == filled.tobytes() and c.demand_at_rate_mw == demand
