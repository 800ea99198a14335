"""Issue 14, fourth round (decide and exits): the shortcuts give the numbers of the long way, exactly.

- the exits value the screened sites for the best bidders and for their owners in one pass
  (``valuation.site_values_to_bidders_and_owners``), and a target with one live site takes its
  values without a sum;
- ``decide`` reuses the site part of the assets ``pay`` valued just before
  (``finance.asset_value_after_pay``);
- all rules' orders are placed in one pass and their events written rule by rule, as when each
  rule ordered in turn (``decisions._record_orders``);
- the repeat check of the finance helpers on long lists.
"""

from __future__ import annotations

import numpy as np
import pytest

from marketsim import IndustryModel, consolidation, load_scenario, valuation
from marketsim.firms import decisions, finance


@pytest.fixture(scope="module")
def bear_model():
    model = IndustryModel(load_scenario("bear-consolidation", n_firms=80, months=14), rng=5)
    for _ in range(12):
        model.step()
    return model


@pytest.mark.parametrize("cells", [None, 1])
def test_bidders_and_owners_in_one_pass_are_the_two_valuations_bit_for_bit(bear_model, monkeypatch, cells):
    model = bear_model
    if cells is not None:  # one site per block for the bidders
        monkeypatch.setattr(valuation, "MAX_CELLS_PER_BLOCK", cells)
    rng = np.random.default_rng(1)
    active = np.flatnonzero(model.firms.active)
    for _ in range(10):
        rows = np.sort(rng.choice(len(model.sites), size=int(rng.integers(1, 30)), replace=False))
        bidders = rng.choice(active, size=min(12, len(active)), replace=False)
        owners = rng.choice(active, size=len(rows))
        to_bidders, to_owners = valuation.site_values_to_bidders_and_owners(model, rows, bidders, owners)
        assert np.array_equal(to_bidders, valuation.site_values_for_bidders(model, rows, bidders))
        assert np.array_equal(to_owners, valuation.site_values_to_firms(model, rows, owners))
        assert (to_bidders > 0).any()


def test_screened_values_are_each_targets_own_valuation_bit_for_bit(bear_model):
    """What the screen keeps per target (its sum over its sites, to each bidder and to itself) is
    what ``_value_target`` gives for that target alone, one-site targets included."""
    model = bear_model
    spend = finance.spendable_usd(model)
    book = consolidation.ExitBook(model, spend)
    targets = np.flatnonzero(model.firms.active)
    live, screened = consolidation._screened_values(model, book, targets)
    matched = {"one site": 0, "several sites": 0}
    for t, (rows, bidders, to_bidders, to_owner) in screened.items():
        fresh_bidders, fresh_owner = consolidation._value_target(model, rows, bidders, t)
        assert np.array_equal(to_bidders, fresh_bidders)
        assert to_owner == fresh_owner and np.signbit(to_owner) == np.signbit(fresh_owner)
        matched["one site" if len(rows) == 1 else "several sites"] += 1
    # both ways of summing a target's sites (``x + 0.0`` for one, a sum for more) were compared
    assert matched["one site"] > 0 and matched["several sites"] > 0, matched


def test_assets_after_pay_are_the_full_valuation_and_the_same_ceilings(monkeypatch):
    model = IndustryModel(load_scenario("bear-consolidation", n_firms=60, months=10), rng=2)
    kept = finance.asset_value_after_pay
    reused = []

    def checked(model, seen):
        reused.append(model.assets_after_pay is not None)
        assets = kept(model, seen)
        ceiling = model.firms.debt_ceiling_usd.copy()
        fresh = finance.asset_value_usd(model, seen)
        assert np.array_equal(assets, fresh)
        assert np.array_equal(ceiling, model.firms.debt_ceiling_usd)
        return assets

    monkeypatch.setattr(finance, "asset_value_after_pay", checked)
    for _ in range(10):
        model.step()
    assert all(reused) and len(reused) == 10
    assert model.assets_after_pay is None  # handed over once: decide consumed it


def test_assets_after_pay_value_afresh_for_another_record():
    model = IndustryModel(load_scenario("baseline", n_firms=30, months=4), rng=0)
    model.step()
    seen = model.seen
    finance.pay(model, seen)
    other = seen.with_new_sites(np.zeros(0))  # another record of the same step
    assert np.array_equal(finance.asset_value_after_pay(model, other), finance.asset_value_usd(model, other))
    assert model.assets_after_pay is None


def test_orders_of_several_rules_are_written_rule_by_rule_expansions_first():
    """Each step's order events come as a rule's expansions, then its upgrades, rule after rule
    (the order in which each rule used to place its orders)."""
    model = IndustryModel(load_scenario("baseline", n_firms=200, months=24), rng=3)
    model.run()
    events = model.events.frame()
    orders = events[events["kind"].isin(["expansion_ordered", "upgrade_ordered"])]
    rule = model.firms.rule
    both = 0
    for _, step in orders.groupby("step", sort=False):
        key = list(zip(rule[step["firm_id"].to_numpy()].tolist(),
                       (step["kind"] == "upgrade_ordered").astype(int).tolist()))
        assert key == sorted(key)
        both += len({r for r, _ in key}) > 1
    assert both > 0  # steps with orders of both rules were seen


def test_has_repeats_on_long_lists():
    ids = np.arange(200)
    assert not finance.has_repeats(ids)
    assert finance.has_repeats(np.append(ids, 17))
    assert finance.has_repeats(np.array([3] * 100))
    assert not finance.has_repeats(np.random.default_rng(0).permutation(1000))


def test_record_orders_with_one_rule_writes_in_the_order_given():
    class Events:
        def __init__(self):
            self.calls = []

        def add_many(self, kind, f, site, mw, value_usd=None):
            self.calls.append((kind, list(f), list(site)))

    model = type("M", (), {})()
    model.events = Events()
    model.rules = [object(), object()]
    model.firms = type("F", (), {"rule": np.array([0, 1, 1, 0])})()
    exp = (np.array([0, 3, 1]), np.array([10, 13, 11]), np.ones(3), np.ones(3))
    up = (np.array([2, 0]), np.array([4, 5]), np.ones(2), np.ones(2))
    decisions._record_orders(model, exp, up, several_rules=True)
    assert model.events.calls == [("expansion_ordered", [0, 3], [10, 13]), ("upgrade_ordered", [0], [5]),
                                  ("expansion_ordered", [1], [11]), ("upgrade_ordered", [2], [4])]
    model.events = Events()
    decisions._record_orders(model, exp, None, several_rules=False)
    assert model.events.calls == [("expansion_ordered", [0, 3, 1], [10, 13, 11])]
