"""Invariant mode: each law catches a planted break and names the step, the firm or site and the values."""

from __future__ import annotations

import numpy as np
import pytest

import marketsim
from marketsim import IndustryModel, consolidation, invariants, load_scenario
from marketsim.cli import main
from marketsim.errors import InvariantError, MarketsimError


def _model(steps=2, **overrides):
    scenario = load_scenario("baseline", n_firms=30, months=6, history_until=None, **overrides)
    model = IndustryModel(scenario, rng=3, check=True)
    for _ in range(steps):
        model.step()
    return model


def test_check_defaults_to_the_environment_flag(monkeypatch):
    monkeypatch.setenv("MARKETSIM_CHECK", "1")
    assert invariants.wanted(None) and not invariants.wanted(False)
    monkeypatch.setenv("MARKETSIM_CHECK", "0")
    assert not invariants.wanted(None) and invariants.wanted(True)
    monkeypatch.delenv("MARKETSIM_CHECK")
    assert IndustryModel(load_scenario("baseline", n_firms=20, months=2)).checker is None
    assert IndustryModel(load_scenario("baseline", n_firms=20, months=2), check=True).checker is not None
    assert issubclass(InvariantError, MarketsimError)  # the CLI reports it in one line, exit 2


def test_site_mw_states_must_add_to_capacity():
    model = _model()
    model.sites.mw_idle[4] += 2.5
    with pytest.raises(InvariantError, match=r"step 1: site 4: MW states sum to .* capacity is"):
        invariants.check_site_mw(model)


def test_mw_may_not_appear_or_vanish_in_the_industry():
    model = _model()
    before = invariants.industry_mw(model)
    model.sites.build_pipeline.buffer[0, :] = 0.0  # an order silently dropped ...
    model.sites.build_pipeline.buffer[0, 1] = 0.0
    model.sites.capacity_mw[1] -= 3.0  # ... and MW that vanished
    with pytest.raises(InvariantError, match=r"industry MW .* expected"):
        invariants.check_industry_mw(model, before)


def test_cash_identity_names_the_firm_and_both_amounts():
    model = _model()
    cash_before = model.checker.cash_usd  # as the step started
    invariants.check_cash_identity(model, cash_before)
    flows = invariants.ledger_cash_flow(model.firms.ledger)[2]
    model.firms.cash_usd[2] += 1_000.0  # money from nowhere
    with pytest.raises(InvariantError, match=rf"firm 2 \({model.firms.name[2]}\): cash moved by {flows + 1_000:,.2f} USD "
                                             rf"but its ledger items add to {flows:,.2f} USD"):
        invariants.check_cash_identity(model, cash_before)


def test_a_firm_that_left_holds_nothing():
    model = _model()
    active_before = model.firms.active.copy()
    model.firms.active[5] = False
    model.firms.debt_usd[5] = 1e6
    with pytest.raises(InvariantError, match=r"firm 5 .* has left but holds"):
        invariants.check_closed_books(model, active_before)


def test_live_mw_of_a_firm_that_left_is_caught():
    model = _model()
    site = int(np.argmax(model.sites.capacity_mw))
    model.firms.active[model.sites.owner[site]] = False
    with pytest.raises(InvariantError, match=rf"site {site}: live MW .* has left"):
        invariants.check_owners(model)


def test_negative_btc_and_non_finite_outcomes_are_caught():
    model = _model()
    model.firms.btc_held[1] = -3.0
    with pytest.raises(InvariantError, match=r"firm 1 \(Riot\): btc_held = -3.0 \(must be >= 0\)"):
        invariants.check_signs_and_numbers(model)
    model.firms.btc_held[1] = 0.0
    model.outcome = {**model.outcome, "profit_usd": float("inf")}
    with pytest.raises(InvariantError, match=r"outcome profit_usd = inf"):
        invariants.check_signs_and_numbers(model)


def test_missing_hashrate_outcomes_are_allowed_only_when_halted():
    model = _model()
    model.outcome = {**model.outcome, "hhi_hashrate": float("nan")}
    with pytest.raises(InvariantError, match=r"outcome hhi_hashrate = nan .*network not halted"):
        invariants.check_signs_and_numbers(model)


def test_chain_height_and_subsidy_follow_the_protocol():
    model = _model()
    height = float(model.operation.chain.height_end)
    with pytest.raises(InvariantError, match=r"block height .* != .* blocks mined"):
        invariants.check_chain(model, height - model.operation.chain.blocks - 10.0)
    model.outcome = {**model.outcome, "subsidy_btc": 6.25}  # the 2023 chain pays 6.25 until the 2024 halving
    invariants.check_chain(model, height - model.operation.chain.blocks)
    model.outcome = {**model.outcome, "subsidy_btc": 12.5}
    with pytest.raises(InvariantError, match=r"subsidy 12.5 BTC != protocol subsidy 6.25 BTC"):
        invariants.check_chain(model, height - model.operation.chain.blocks)


def test_exits_must_equal_the_sum_of_their_kinds():
    model = _model()
    active_before = model.firms.active.copy()
    model.outcome = {**model.outcome, "exits": 1}
    with pytest.raises(InvariantError, match=r"exits = 1 and 0 firm\(s\) left, but their kinds add to 0"):
        invariants.check_exits(model, active_before)


def test_a_broken_step_stops_the_run_with_the_step_and_firm(monkeypatch):
    settle = consolidation.settle_exits

    def leaky(model, seen, payments):
        settle(model, seen, payments)
        if model.steps_done == 2:
            model.firms.cash_usd[7] += 5e6  # a phase that creates money

    monkeypatch.setattr(consolidation, "settle_exits", leaky)
    scenario = load_scenario("baseline", n_firms=30, months=6, history_until=None)
    with pytest.raises(InvariantError, match=r"step 2: firm 7 .* cash moved by"):
        marketsim.run(scenario, seed=1, check=True)
    # without the check the same run finishes (and the leak goes unnoticed)
    assert len(marketsim.run(scenario, seed=1, check=False).industry) == 6


def test_cli_run_check_runs_the_invariants(monkeypatch, capsys):
    monkeypatch.delenv("MARKETSIM_CHECK")
    seen = []
    monkeypatch.setattr(invariants.Checker, "check", lambda self: seen.append(self.model.steps_done))
    assert main(["run", "baseline", "--months", "3", "--firms", "20", "--check", "--quiet"]) == 0
    assert seen == [0, 1, 2]
    seen.clear()
    assert main(["run", "baseline", "--months", "3", "--firms", "20", "--quiet"]) == 0
    assert seen == []
