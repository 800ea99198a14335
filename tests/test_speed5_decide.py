"""Issue 14, fifth round (decide's rules, funding and finance): the shortcuts give the numbers of the
long way, exactly, and are taken.

- ``Candidates.of_firms`` reads the owners' columns (beliefs, hurdle rates, conversion capex,
  paths) only when a rule asks, and they are the columns an eager ``Candidates`` holds;
- the NPV rule values upgrades and expansions on a scalar frontier (the numbers of the
  per-candidate arrays are checked in tests/test_decide_caches.py);
- ``_fund_best_first``'s profitability indices are ``profitability_index_per_month``'s numbers;
- one upfront share per firm (``_upfront_shares``) is ``_upfront_share`` of every firm;
- orders that name each firm once (``unique=True``) fund, draw and borrow as the general path;
- the ledger's items are rows of one block, each its own array; ``Pipeline.pending`` is the sum.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from marketsim import IndustryModel, load_scenario
from marketsim.firms import decisions, finance
from marketsim.firms import economics as econ
from marketsim.firms.book import FirmBook, Pipeline
from marketsim.firms.rules import Candidates, FirmPaths, MyopicRule, NPVRule


@pytest.fixture(scope="module")
def model():
    model = IndustryModel(load_scenario("baseline", n_firms=60, months=14), rng=4)
    for _ in range(6):
        model.step()
    return model


def _eager(model, site_idx, decline, paths):
    firms, sites = model.firms, model.sites
    owner = sites.owner[site_idx]
    return Candidates(
        efficiency_j_per_th=sites.efficiency_j_per_th[site_idx],
        cost_usd_per_mwh=model.seen.site_power_usd_per_mwh[site_idx] + model.config.mining_opex_usd_per_mwh,
        expected_hashprice=firms.expected_hashprice[owner], expected_decline_per_year=decline[owner],
        hurdle_rate_per_year=firms.hurdle_rate_per_year[owner],
        conversion_capex_usd_per_mw=firms.conversion_capex_usd_per_mw[owner],
        paths=None if paths is None else paths.of(owner, "hurdle", firms.hurdle_rate_per_year), site=site_idx)


def _lazy(model, site_idx, decline, paths):
    sites = model.sites
    return Candidates.of_firms(
        sites.efficiency_j_per_th[site_idx],
        model.seen.site_power_usd_per_mwh[site_idx] + model.config.mining_opex_usd_per_mwh,
        sites.owner[site_idx], model.firms, decline, paths, site=site_idx)


def test_candidates_of_firms_read_the_owners_columns_only_when_asked_and_the_same(model):
    decline = model.beliefs.expected_decline_per_year
    o = decisions.outlook(model, model.seen, 0.0)
    site_idx = np.flatnonzero(model.sites.live_mw > 0)[::2]
    for paths in (None, FirmPaths(o, model.firms.expected_hashprice, decline)):
        lazy = _lazy(model, site_idx, decline, paths)
        # the rules' upgrade and expansion valuations with the step's paths read no owner column
        # but the paths, the myopic rule none at all
        MyopicRule().upgrade_score(lazy, o)
        MyopicRule().expansion_intensity(lazy, o)
        assert not {"_hashprice", "_declines", "_hurdle", "_capex", "_paths"} & set(vars(lazy))
        if paths is not None:
            NPVRule().expansion_intensity(lazy, o)
            assert set(vars(lazy)) & {"_hashprice", "_declines", "_hurdle", "_capex"} == set()
        eager = _eager(model, site_idx, decline, paths)
        for name in ("expected_hashprice", "expected_decline_per_year", "hurdle_rate_per_year",
                     "conversion_capex_usd_per_mw", "efficiency_j_per_th", "cost_usd_per_mwh", "site"):
            assert np.array_equal(getattr(lazy, name), getattr(eager, name)), name
        assert (lazy.paths is None) == (paths is None)
        if paths is not None:
            assert np.array_equal(lazy.paths.firm, eager.paths.firm)
        for rule in (NPVRule(), MyopicRule()):
            for method in ("upgrade_score", "expansion_intensity", "conversion_reservation_rate"):
                a, b = getattr(rule, method)(_lazy(model, site_idx, decline, paths), o), getattr(rule, method)(eager, o)
                assert np.array_equal(a, b), (rule.name, method)
        taken = lazy.take(np.array([2, 0]))
        assert np.array_equal(taken.hurdle_rate_per_year, eager.hurdle_rate_per_year[[2, 0]])


def test_profitability_indices_on_floats_are_the_functions_numbers():
    rng = np.random.default_rng(11)
    for _ in range(50):
        hashprice, frontier = rng.uniform(20, 400), rng.uniform(12, 40)
        machines = float(econ.machine_capex_usd_per_mw(rng.uniform(3, 80), frontier))
        site = rng.uniform(2e5, 9e5)
        eff = rng.uniform(frontier, 120, 30)
        cost = rng.uniform(-5, 160, 30)
        frontier_rev = float(econ.revenue_usd_per_mw_day(hashprice, frontier))
        up = (frontier_rev - hashprice * econ.PH_PER_EH / eff) * econ.DAYS_PER_MONTH / max(machines, 1.0)
        assert np.array_equal(up, decisions.profitability_index_per_month(
            frontier_rev - econ.revenue_usd_per_mw_day(hashprice, eff), 0.0, machines))
        new = (frontier_rev - cost * econ.HOURS_PER_DAY) * econ.DAYS_PER_MONTH / max(site + machines, 1.0)
        assert np.array_equal(new, decisions.profitability_index_per_month(
            frontier_rev, cost * econ.HOURS_PER_DAY, site + machines))


def test_upfront_shares_are_each_firms_upfront_share(model):
    assert model.firms.is_public.any() and not model.firms.is_public.all()
    every = decisions._upfront_share(model, np.arange(len(model.firms)))
    assert np.array_equal(decisions._upfront_shares(model), every)


def _books(m):
    f = m.firms
    return [f.cash_usd, f.debt_usd, f.debt_rate_per_year, *f.ledger.values()]


def test_orders_naming_each_firm_once_fund_as_the_general_path(model):
    rng = np.random.default_rng(5)
    active = np.flatnonzero(model.firms.active)
    for _ in range(5):
        idx = rng.choice(active, size=min(9, len(active)), replace=False)
        capex = rng.uniform(1e5, 5e7, len(idx))
        results = []
        for unique in (False, True):
            m = copy.deepcopy(model)
            room = rng.uniform(-1e6, 3e7, len(m.firms)) if not results else results[0][2].copy()
            room_before = room.copy()
            credit = finance.draw_vendor_credit(m, idx, capex * 0.7, unique=unique)
            finance.fund_orders(m, idx, capex, room, unique=unique)
            drawn = finance.borrow(m.firms, idx, capex * 0.1, unique=unique)
            results.append((credit, drawn, room_before, room, _books(m)))
        (c0, d0, _, r0, b0), (c1, d1, _, r1, b1) = results
        assert np.array_equal(c0, c1) and np.array_equal(d0, d1) and np.array_equal(r0, r1)
        assert all(np.array_equal(x, y) for x, y in zip(b0, b1))


def test_ledger_items_are_rows_of_one_block_each_its_own_array():
    firms = FirmBook(name=["a", "b"], is_public=np.array([True, False]), rule=np.zeros(2, int),
                     cash_usd=np.zeros(2), debt_usd=np.zeros(2), debt_rate_per_year=np.zeros(2),
                     debt_maturity_step=np.zeros(2, int), btc_held=np.zeros(2), btc_sell_share=np.zeros(2),
                     hurdle_rate_per_year=np.zeros(2), conversion_capex_usd_per_mw=np.zeros(2),
                     expected_hashprice=np.zeros(2), hashprice_trend_weight=np.zeros(2),
                     active=np.ones(2, bool), payments=Pipeline(2, 4))
    firms.reset_ledger()
    assert list(firms.ledger) == list(FirmBook.LEDGER_ITEMS)
    assert all(v.shape == (2,) and v.dtype == np.float64 and not v.any() for v in firms.ledger.values())
    firms.ledger["power_usd"] += 3.0
    firms.ledger["capex_usd"][1] = 7.0
    assert firms.ledger["opex_usd"].tolist() == [0.0, 0.0] and firms.ledger["power_usd"].tolist() == [3.0, 3.0]
    firms.ledger["interest_usd"] = np.array([1.0, 2.0])  # replaced by a fresh array, as pay does
    firms.append(**{k: np.asarray(getattr(firms, k))[:1] if k != "name" else ["c"] for k in (
        "name", "is_public", "rule", "cash_usd", "debt_usd", "debt_rate_per_year", "debt_maturity_step", "btc_held",
        "btc_sell_share", "hurdle_rate_per_year", "conversion_capex_usd_per_mw", "expected_hashprice",
        "hashprice_trend_weight", "active")})
    assert list(firms.ledger) == list(FirmBook.LEDGER_ITEMS)
    assert firms.ledger["power_usd"].tolist() == [3.0, 3.0, 0.0]
    assert firms.ledger["capex_usd"].tolist() == [0.0, 7.0, 0.0]
    assert firms.ledger["interest_usd"].tolist() == [1.0, 2.0, 0.0]
    firms.ledger["opex_usd"][2] = 5.0
    assert firms.ledger["power_usd"][2] == 0.0 and firms.ledger["interest_usd"][2] == 0.0


def test_pipeline_pending_is_the_row_sums():
    pipe = Pipeline(7, 30)
    pipe.buffer[:] = np.random.default_rng(2).uniform(-1e6, 1e9, pipe.buffer.shape)
    assert np.array_equal(pipe.pending(), pipe.buffer.sum(axis=1))


@pytest.mark.parametrize("no_ceiling", [False, True])
def test_finance_orders_is_vendor_credit_then_fund_orders(model, no_ceiling):
    """``finance.finance_orders`` (one pass, each firm read once) leaves every book as
    ``draw_vendor_credit`` followed by ``fund_orders``, bit for bit: public and private firms,
    orders with and without a shortfall, rooms below zero, no valuation yet (no ceiling)."""
    rng = np.random.default_rng(8)
    active = np.flatnonzero(model.firms.active)
    for _ in range(6):
        idx = rng.choice(active, size=min(int(rng.integers(1, 12)), len(active)), replace=False)
        machines = rng.uniform(0, 4e7, len(idx))
        capex = machines + rng.choice([0.0, 3e6, 9e8], len(idx))
        room = rng.uniform(-1e6, 3e7, len(model.firms))
        out = []
        for fused in (False, True):
            m = copy.deepcopy(model)
            if no_ceiling:
                m.firms.debt_ceiling_usd = None
            r = room.copy()
            if fused:
                finance.finance_orders(m, idx, machines, capex, r)
            else:
                finance.draw_vendor_credit(m, idx, machines)
                finance.fund_orders(m, idx, capex, r)
            out.append((r, _books(m)))
        assert np.array_equal(out[0][0], out[1][0])
        assert all(np.array_equal(x, y) for x, y in zip(out[0][1], out[1][1]))
