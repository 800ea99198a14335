"""Entry (issue 12, Deliver item 4): new operators come in with their own site, power price and
frontier machines when a new site's expected return beats their hurdle; their MW is ordered at
once and energised after the site lead time; the books grow and the invariants hold."""

from __future__ import annotations

import numpy as np
import pytest

from marketsim.firms import entry
from marketsim.firms.book import Pipeline
from marketsim.model import IndustryModel
from marketsim.scenario import Scenario


def flat(**overrides) -> Scenario:
    """A deterministic market: constant price and fees, no AI demand, an empty order book."""
    base = dict(
        n_firms=30, months=6, price_model="gbm", price_drift_per_year=0.0, price_volatility_per_year=0.0,
        price_initial_usd=20_000.0, fee_share_mean=0.02, fee_volatility_per_year=0.0,
        fee_spike_intensity_per_year=0.0, ai_demand_initial_mw=0.0, ai_demand_max_mw=0.0, ai_demand_path=[], seed_order_book=False,
        entry_candidates_per_year=120.0, entry_site_lead_time_months=3,
    )
    return Scenario(**{**base, **overrides})


def test_pipeline_and_books_grow_by_appended_rows():
    p = Pipeline(2, 3)
    p.add(1, 5.0, 2)
    p.append_rows(2)
    assert p.buffer.shape == (4, 4)
    p.add(3, 7.0, 1)
    assert p.pop().tolist() == [0.0, 0.0, 0.0, 7.0]
    assert p.pop().tolist() == [0.0, 5.0, 0.0, 0.0]


def test_entrants_come_when_returns_are_high_and_their_mw_arrives_after_the_lead_time():
    # BTC at $60k and cheap entrant power: a new site pays for itself many times over
    model = IndustryModel(flat(price_initial_usd=60_000.0, entry_power_price_mean_usd_per_mwh=25.0), rng=5)
    n0, sites0 = len(model.firms), len(model.sites)
    model.step()
    new = np.arange(n0, len(model.firms))
    assert len(new) > 0 and model.outcome["entries"] == len(new)
    assert model.outcome["firms_active"] == int(model.firms.active.sum())
    rows = np.arange(sites0, len(model.sites))
    assert (model.sites.owner[rows] == new).all() and (model.sites.capacity_mw[rows] == 0).all()
    ordered = model.sites.build_pipeline.pending()[rows]
    assert (ordered > 0).all()
    # equity raised = capex x 1.1 (working capital); instalments over the lead time are the capex
    raised = model.firms.ledger["equity_raised_usd"][new]
    np.testing.assert_allclose(raised, model.firms.payments.pending()[new] * (1 + entry.ENTRANT_WORKING_CAPITAL_SHARE))
    assert all(i in model.agents_by_index for i in new)
    ev = model.events.columns_at(model.steps_done)
    assert (ev["kind"] == "entry").sum() == len(new)
    for _ in range(2):  # lead time 3 months: nothing energised before the third step after the order
        model.step()
        assert (model.sites.capacity_mw[rows] == 0).all()
    model.step()
    # the machines ship within the makers' (ample) capacity: the whole site is energised
    np.testing.assert_allclose(model.sites.capacity_mw[rows] + model.sites.mw_cancelled[rows], ordered, rtol=1e-9)


def test_no_entry_when_returns_are_low():
    # BTC at $5k: no new site earns its power, let alone its hurdle
    model = IndustryModel(flat(price_initial_usd=5_000.0), rng=5)
    n0 = len(model.firms)
    for _ in range(3):
        model.step()
    assert len(model.firms) == n0 and model.outcome["entries"] == 0


def test_entry_probability_falls_with_the_entrants_power_price():
    model = IndustryModel(flat(price_initial_usd=30_000.0), rng=5)
    model.step()
    from marketsim.firms import decisions
    o = decisions.outlook(model, model.seen, model.decisions.lease_market.supply_it_mw)
    p = entry.entry_probability(model, o, np.array([10.0, 40.0, 80.0, 200.0]), model.beliefs)
    assert np.all(np.diff(p) <= 0) and p[0] > 0 and p[-1] == 0.0


def test_invariants_hold_with_entry_over_a_stochastic_run():
    """MARKETSIM_CHECK=1 (tests/conftest.py): MW conservation counts the entrants' orders, the
    cash identity their raised equity."""
    s = flat(months=18, price_volatility_per_year=0.8, price_initial_usd=40_000.0)
    model = IndustryModel(s, rng=10).run()  # operators enter on this path (rng 9's has none since the MW refit)
    assert model.checker is not None
    assert len(model.firms) > s.n_firms
    assert model.datacollector.get_model_vars_dataframe()["entries"].sum() == len(model.firms) - s.n_firms
