"""Issue 14, fifth round (decide's rules, funding and finance): the shortcuts give the numbers of the
long way, exactly, and are taken.

- ``Candidates.of_firms`` holds the owners' columns (beliefs, hurdle rates, conversion capex, paths)
  that a ``Candidates`` built field by field holds, and the rules value both alike;
- the NPV rule values upgrades and expansions on a scalar frontier (the numbers of the
  per-candidate arrays are checked in tests/test_decide_caches.py);
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
from marketsim.firms.book import FirmBook, Pipeline
from marketsim.firms.rules import Candidates, FirmPaths, MyopicRule, NPVRule


@pytest.fixture(scope="module")
def model():
    model = IndustryModel(load_scenario("baseline", n_firms=60, months=14), rng=4)
    for _ in range(6):
        model.step()
    return model


def _by_field(model, site_idx, decline, paths):
    firms, sites = model.firms, model.sites
    owner = sites.owner[site_idx]
    return Candidates(
        efficiency_j_per_th=sites.efficiency_j_per_th[site_idx],
        cost_usd_per_mwh=model.seen.site_power_usd_per_mwh[site_idx] + model.config.mining_opex_usd_per_mwh,
        expected_hashprice=firms.expected_hashprice[owner], expected_decline_per_year=decline[owner],
        hurdle_rate_per_year=firms.hurdle_rate_per_year[owner],
        conversion_capex_usd_per_mw=firms.conversion_capex_usd_per_mw[owner],
        paths=None if paths is None else paths.of(owner, "hurdle", firms.hurdle_rate_per_year), site=site_idx)


def _of_firms(model, site_idx, decline, paths):
    sites = model.sites
    return Candidates.of_firms(
        sites.efficiency_j_per_th[site_idx],
        model.seen.site_power_usd_per_mwh[site_idx] + model.config.mining_opex_usd_per_mwh,
        sites.owner[site_idx], model.firms, decline, paths, site=site_idx)


def test_candidates_of_firms_hold_the_owners_columns(model):
    decline = model.beliefs.expected_decline_per_year
    o = decisions.outlook(model, model.seen, 0.0)
    site_idx = np.flatnonzero(model.sites.live_mw > 0)[::2]
    for paths in (None, FirmPaths(o, model.firms.expected_hashprice, decline)):
        owned = _of_firms(model, site_idx, decline, paths)
        built = _by_field(model, site_idx, decline, paths)
        for name in ("expected_hashprice", "expected_decline_per_year", "hurdle_rate_per_year",
                     "conversion_capex_usd_per_mw", "efficiency_j_per_th", "cost_usd_per_mwh", "site"):
            assert np.array_equal(getattr(owned, name), getattr(built, name)), name
        assert (owned.paths is None) == (paths is None)
        if paths is not None:
            assert np.array_equal(owned.paths.firm, built.paths.firm)
        for rule in (NPVRule(), MyopicRule()):
            for method in ("upgrade_score", "expansion_intensity", "conversion_reservation_rate"):
                a, b = getattr(rule, method)(owned, o), getattr(rule, method)(built, o)
                assert np.array_equal(a, b), (rule.name, method)
        # a rule that declares it reads no paths values the same without them (decide hands it none)
        assert NPVRule.reads_paths and not MyopicRule.reads_paths
        bare = _of_firms(model, site_idx, decline, None)
        for method in ("upgrade_score", "expansion_intensity"):
            assert np.array_equal(getattr(MyopicRule(), method)(owned, o), getattr(MyopicRule(), method)(bare, o))


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
