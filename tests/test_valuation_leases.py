"""``valuation.lease_value``: the rent still due on each site's leases, valued once per step.

It answers sites without a lease with 0 without discounting any rent, and sites with leases
with the PV of the book as it stands (a cut within the step is seen)."""

from __future__ import annotations

import numpy as np

from marketsim import IndustryModel, load_scenario, valuation
from marketsim.firms import economics as econ


def _model_with_leases():
    model = IndustryModel(load_scenario("ai-pivot-20pct", n_firms=60, months=40), rng=0)
    while len(model.leases) == 0 or len(np.unique(model.leases.site)) == len(model.sites):
        model.step()
    return model


def _by_hand(model, site):
    """The PV of one site's leases, lease by lease, from the scenario's formula."""
    s, leases = model.config, model.leases
    total = 0.0
    for i in np.flatnonzero(leases.site == site):
        years = 0.0 if leases.own_gpu[i] else (model.steps_done - leases.signed_step[i]) / model.steps_per_year
        rate = leases.rate_usd_per_kw_month[i] * (1.0 + s.ai_lease_escalator_per_year) ** np.floor(years)
        left = max((leases.expiry_step[i] - model.steps_done) / model.steps_per_year, 0.0)
        total += float(econ.lease_pv_per_gross_mw(rate, 1.0, s.ai_margin, left, s.ai_lease_escalator_per_year,
                                                  s.hurdle_rate_per_year, 0.0)) * leases.mw_it[i]
    return total


def test_sites_without_leases_are_worth_no_rent_and_leased_sites_their_leases_pv():
    model = _model_with_leases()
    leased = np.unique(model.leases.site)
    bare = np.setdiff1d(np.arange(len(model.sites)), leased)[:5]
    assert np.array_equal(valuation.lease_value(model, bare), np.zeros(len(bare)))
    values = valuation.lease_value(model, np.concatenate([bare, leased]))
    assert (values[: len(bare)] == 0).all()
    assert np.allclose(values[len(bare):], [_by_hand(model, site) for site in leased], rtol=1e-12)
    assert (values[len(bare):] > 0).all()


def test_a_cut_in_the_book_within_the_step_is_valued_at_its_new_size():
    """A bankrupt's unbuilt halls cut their leases (``consolidation.cancel_pipelines``) between two
    auctions of the same step: the second auction must see the cut book, not the step's first one."""
    model = _model_with_leases()
    leased = np.unique(model.leases.site)
    before = valuation.lease_value(model, leased)
    assert np.allclose(before, [_by_hand(model, site) for site in leased], rtol=1e-12)
    model.leases.mw_it = model.leases.mw_it * 0.5  # a cut later in the step (a new array, as in the model)
    after = valuation.lease_value(model, leased)
    assert np.allclose(after, [_by_hand(model, site) for site in leased], rtol=1e-12)
    assert np.allclose(after, 0.5 * before, rtol=1e-12)
    model.steps_done += 1  # a new step values the book anew
    assert np.allclose(valuation.lease_value(model, leased), [_by_hand(model, site) for site in leased], rtol=1e-12)
