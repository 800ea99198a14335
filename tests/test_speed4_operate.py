"""Shortcuts of the fourth speed round (issue 14) in the operate phase give the numbers of the long
way, bit for bit: ``fastnp.ndtr`` (no erfc where ndtr is 1), and the fixed point that computes the
shares of the cohorts sure to mine every hour once and reuses its first search's shares after
scrapping (``memo``)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr

from marketsim import IndustryModel, fastnp, load_scenario, protocol
from marketsim.firms import economics as econ
from marketsim.firms import operations


def test_fastnp_ndtr_is_scipy_ndtr_bit_for_bit():
    rng = np.random.default_rng(11)
    x = np.concatenate((rng.normal(0, 6, 5000), rng.uniform(8.0, 8.6, 5000), rng.uniform(-40, 60, 5000),
                        [np.nan, np.inf, -np.inf, 0.0, -0.0, fastnp.NDTR_ONE_FROM, 8.29, 1e300, -1e300]))
    got, want = fastnp.ndtr(x), ndtr(x)
    assert np.array_equal(got, want, equal_nan=True)
    assert fastnp.ndtr(x[:10]).tolist() == ndtr(x[:10]).tolist()  # small: scipy's own call
    assert fastnp.ndtr(np.float64(9.0)) == 1.0 and fastnp.ndtr(np.asarray(0.5)) == ndtr(0.5)


def test_ndtr_is_exactly_one_from_the_cut_on():
    """The cut's premise: from NDTR_ONE_FROM up, scipy's ndtr rounds to 1.0 (a dense grid, then
    a log grid to the largest float)."""
    assert (ndtr(np.linspace(fastnp.NDTR_ONE_FROM, 60.0, 2_000_001)) == 1.0).all()
    assert (ndtr(np.geomspace(60.0, 1e308, 10_001)) == 1.0).all()
    assert ndtr(8.29) < 1.0  # and the cut is close to where it starts


def _reference(model, power, online, last):
    """``consistent_hashprice`` as it was before the shortcuts: every live cohort, every time."""
    s, sites = model.config, model.sites
    reward = model.market.reward_usd_per_day()
    live = (sites.cohort_mw.ravel() > 0).nonzero()[0]
    rows = live // sites.cohort_mw.shape[1]
    mw, eff = sites.cohort_mw.ravel()[live], sites.cohort_efficiency_j_per_th.ravel()[live]
    ths = mw / eff * online
    capacity = float(ths.sum())
    if capacity <= 0 or reward <= 0:
        return float("nan")
    rph = (econ.PH_PER_EH / eff) / econ.HOURS_PER_DAY
    marginal = np.asarray(power)[rows] * (1.0 - sites.power_take_or_pay_share[rows])
    vol, free = s.power_hourly_volatility, s.power_negative_hours_share
    lmp = np.log(np.maximum(marginal, 1e-9))

    def supply(hp):
        k = rph * hp - s.mining_opex_usd_per_mwh
        if vol <= 0:
            share = (k > marginal).astype(float)
        else:
            positive = k > 0
            d = (np.log(np.where(positive, k, 1.0)) - lmp + vol * vol / 2) / vol
            share = np.where(positive, ndtr(d), 0.0)
        return float(((share * (1.0 - free) + free) * ths).sum())

    def excess(log_h):
        return float(np.log(max(supply(reward / (np.exp(log_h) * protocol.PH_PER_EH)), 1e-300))) - log_h

    high = np.log(capacity)
    if last > 0 and np.log(last) - operations.FIXED_POINT_NEAR_LOG < high:
        lo, hi = np.log(last) - operations.FIXED_POINT_NEAR_LOG, min(high, np.log(last) + operations.FIXED_POINT_NEAR_LOG)
        if hi < high - operations.FIXED_POINT_SLOPE_MARGIN_LOG and excess(lo) > 0 > excess(hi):
            return reward / (np.exp(brentq(excess, lo, hi, xtol=operations.FIXED_POINT_TOLERANCE_LOG)) * protocol.PH_PER_EH)
        if excess(high) >= 0:
            return reward / (capacity * protocol.PH_PER_EH)
        if excess(lo) > 0 > excess(hi):
            return reward / (np.exp(brentq(excess, lo, hi, xtol=operations.FIXED_POINT_TOLERANCE_LOG)) * protocol.PH_PER_EH)
    elif excess(high) >= 0:
        return reward / (capacity * protocol.PH_PER_EH)
    low = high - operations.FIXED_POINT_BRACKET_LOG
    if excess(low) <= 0:
        return reward / (np.exp(low) * protocol.PH_PER_EH)
    return reward / (np.exp(brentq(excess, low, high, xtol=operations.FIXED_POINT_TOLERANCE_LOG)) * protocol.PH_PER_EH)


def test_fixed_point_with_sure_cohorts_and_memo_is_the_long_way(monkeypatch):
    """Each step of a small run, at several starting hashrates: the fixed point equals the long
    way's; then some cohorts are scrapped (part of their MW, some whole) and the second search
    with the first one's memo equals the long way's on the scrapped fleet."""
    model = IndustryModel(load_scenario("baseline", n_firms=40, months=36), rng=3, check=False)
    rng = np.random.default_rng(5)
    compared = sure_steps = 0
    reused = _CountingShares()
    sizes: list[int] = []  # how many cohorts each evaluation of the search computes ndtr for
    monkeypatch.setattr(operations, "ndtr", lambda x, **kw: sizes.append(np.size(x)) or ndtr(x, **kw))
    while model.running and model.steps < model.n_steps:
        model.step()
        power, sites = model.seen.site_power_usd_per_mwh, model.sites
        live, sure = int((sites.cohort_mw > 0).sum()), _sure_cohorts(model, power, 0.9)
        sure_steps += sure > 0
        for last in (model.network_hashrate_ehs, model.network_hashrate_ehs * 1.7, model.network_hashrate_ehs / 3, 0.0):
            kept = sites.cohort_mw.copy()
            memo: dict = {}
            sizes.clear()
            assert operations.consistent_hashprice(model, power, 0.9, last, memo) == _reference(model, power, 0.9, last)
            assert set(sizes) <= {live - sure}  # the sure cohorts' ndtr is never computed
            if "shares" in memo:  # the second search looks its trial points up here: count the hits
                memo["shares"] = reused.wrap(memo["shares"])
            cut = rng.random(sites.cohort_mw.shape) < 0.2
            sites.cohort_mw = np.where(cut, sites.cohort_mw * rng.choice([0.0, 0.5], sites.cohort_mw.shape), sites.cohort_mw)
            second = operations.consistent_hashprice(model, power, 0.9, last, memo)
            want = _reference(model, power, 0.9, last)
            assert second == want or (np.isnan(second) and np.isnan(want)), (model.steps, last)
            sites.cohort_mw = kept
            compared += 1
    assert compared == 4 * model.n_steps
    # the shortcuts were taken, not only the long way: steps with cohorts sure to mine every
    # hour, and second searches that took shares from the first one's memo
    assert sure_steps > 0 and reused.hits > 0


class _CountingShares:
    """Counts the trial points a second search finds in its memo (``log_h in prior``)."""

    def __init__(self):
        self.hits = 0

    def wrap(self, shares: dict) -> dict:
        counter = self

        class Counted(dict):
            def __contains__(self, key):
                found = dict.__contains__(self, key)
                counter.hits += found
                return found

        return Counted(shares)


def _sure_cohorts(model, power, online) -> int:
    """How many live cohorts have d >= the cut at the fleet's capacity (the lowest hashprice a
    search tries): the cohorts ``consistent_hashprice`` computes once instead of every time."""
    s, sites = model.config, model.sites
    live = (sites.cohort_mw.ravel() > 0).nonzero()[0]
    rows = live // sites.cohort_mw.shape[1]
    eff = sites.cohort_efficiency_j_per_th.ravel()[live]
    capacity = float((sites.cohort_mw.ravel()[live] / eff * online).sum())
    reward = model.market.reward_usd_per_day()
    if capacity <= 0 or s.power_hourly_volatility <= 0:
        return 0
    hashprice = reward / (np.exp(np.log(capacity) + 1e-3) * protocol.PH_PER_EH)
    k = (econ.PH_PER_EH / eff) / econ.HOURS_PER_DAY * hashprice - s.mining_opex_usd_per_mwh
    marginal = np.asarray(power)[rows] * (1.0 - sites.power_take_or_pay_share[rows])
    vol = s.power_hourly_volatility
    d = (np.log(np.where(k > 0, k, 1.0)) - np.log(np.maximum(marginal, 1e-9)) + vol * vol / 2) / vol
    return int(((k > 0) & (d >= fastnp.NDTR_ONE_FROM)).sum())
