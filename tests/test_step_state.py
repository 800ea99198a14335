"""The step's phases hand each other typed records (marketsim.step_state): each phase can be
called alone with a hand-made record, and what it returns is checked on worked numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from marketsim import IndustryModel
from marketsim.step_state import Beliefs, Observation
from marketsim.units import DAYS_PER_MONTH, DAYS_PER_YEAR


def _observation(n_sites: int, hashprice: float = 60.0, days: float = 31.0) -> Observation:
    return Observation(step=0, days=days, months_in_step=days / DAYS_PER_MONTH, years_in_step=days / DAYS_PER_YEAR,
                       site_power_usd_per_mwh=np.full(n_sites, 40.0), hashprice_observed=hashprice,
                       machine_price_usd_per_th=15.0, ai_demand_mw=100.0)


def test_observe_returns_the_calendar_of_the_step_it_moved(small_baseline):
    model = IndustryModel(small_baseline, rng=1)  # starts 1 Jan 2023: the first step is January, 31 days
    seen = model.observe_market(0)
    assert seen.step == 0 and seen.days == 31
    assert seen.months_in_step == pytest.approx(31 / 30.4375)
    assert seen.years_in_step == pytest.approx(31 / 365.25)
    assert len(seen.site_power_usd_per_mwh) == len(model.sites)
    assert np.isfinite(seen.hashprice_observed) and seen.hashprice_observed > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        seen.hashprice_observed = 1.0


def test_beliefs_start_at_the_first_hashprice_then_smooth_towards_the_next(small_baseline):
    model = IndustryModel(small_baseline.with_overrides(hashprice_smoothing=0.25), rng=1)
    n = len(model.firms)
    model.update_beliefs(_observation(len(model.sites), hashprice=80.0))
    assert np.allclose(model.firms.expected_hashprice, 80.0)  # no belief yet: take what is seen
    model.update_beliefs(_observation(len(model.sites), hashprice=40.0))
    assert np.allclose(model.firms.expected_hashprice, 0.25 * 40.0 + 0.75 * 80.0)  # 70
    beliefs = model.update_beliefs(_observation(len(model.sites)))
    assert beliefs.expected_decline_per_year.shape == (n,)


def test_entrants_extend_the_records_without_editing_them():
    seen = _observation(2)
    grown = seen.with_new_sites(np.array([55.0]))
    assert list(grown.site_power_usd_per_mwh) == [40.0, 40.0, 55.0] and len(seen.site_power_usd_per_mwh) == 2
    beliefs = Beliefs(network_trend_per_year=0.3, expected_decline_per_year=np.array([0.1, 0.3, 0.2]))
    assert list(beliefs.with_new_firms(2).expected_decline_per_year) == [0.1, 0.3, 0.2, 0.2, 0.2]  # the median


def test_count_after_deals_returns_this_steps_tally_and_adds_it_to_the_totals(small_baseline):
    model = IndustryModel(small_baseline, rng=2)
    model.step()
    before = dict(model.cumulative)
    model.retire_firm(0, "wound_down")
    tally = model.count_after_deals(model.steps_done)
    assert tally.exits == int(model.left_this_step.sum()) >= 1
    assert model.cumulative["exits"] == before["exits"] + tally.exits
    owner_hashrate = model.site_hashrate_ehs[model.sites.owner == 3].sum()
    assert tally.firm_hashrate_ehs[3] == pytest.approx(owner_hashrate)


def test_the_start_row_is_the_models_own_and_prices_the_start_by_hand(small_baseline):
    """The summary's "start" is what the constructed model says (``IndustryModel.start``): at a set
    price and fee share, hashprice = subsidy x (1 + fee share) x 144 blocks x price / difficulty in PH/s."""
    scenario = small_baseline.with_overrides(price_initial_usd=20_000.0, fee_model="stochastic", fee_share_initial=0.05)
    model = IndustryModel(scenario, rng=4)
    start = model.start
    assert start["btc_price_usd"] == 20_000.0
    assert start["subsidy_btc"] == 6.25  # January 2023: between the 2020 and 2024 halvings
    difficulty_phs = model.market.chain.difficulty_hashrate_ehs * 1000.0
    assert start["hashprice_usd_per_ph_day"] == pytest.approx(6.25 * 1.05 * 144 * 20_000.0 / difficulty_phs)
    assert start["firms_active"] == len(model.firms) and start["network_hashrate_ehs"] == model.network_hashrate_ehs
    assert start["mw_mining"] + start["mw_idle"] == pytest.approx(model.sites.capacity_mw.sum() - start["mw_shutdown"]
                                                                  - start["mw_converting"] - start["mw_ai"]
                                                                  - start["mw_ai_empty"])
