"""Market drivers: each process has the statistics it claims, and clearing moves the right way."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketsim.market import ai, asic, fees, power, price

DT = 1 / 12


def _paths(make, n_paths, n_steps, seed=0):
    rng = np.random.default_rng(seed)
    out = np.empty((n_paths, n_steps + 1))
    for i in range(n_paths):
        p = make()
        out[i] = [p.next_price(k, DT, rng) for k in range(n_steps + 1)]
    return out


def test_gbm_recovers_drift_and_volatility():
    mu, sigma, n_paths, n_steps = 0.3, 0.6, 2000, 120
    paths = _paths(lambda: price.GBMPrice(100.0, mu, sigma), n_paths, n_steps)
    assert (paths[:, 0] == 100.0).all()  # step 0 is the initial price
    logret = np.diff(np.log(paths), axis=1).ravel()
    n = logret.size
    # per-year mean of log returns = mu - s^2/2; standard error sigma*sqrt(dt)/sqrt(n) per step
    assert logret.mean() / DT == pytest.approx(mu - sigma**2 / 2, abs=4 * sigma * np.sqrt(DT) / np.sqrt(n) / DT)
    assert logret.std() / np.sqrt(DT) == pytest.approx(sigma, rel=0.01)


def test_regime_chain_spends_the_theoretical_share_of_time_in_bull():
    b2bear, bear2b = 0.6, 1.2
    rng = np.random.default_rng(1)
    p = price.RegimeSwitchingPrice(100, 0.5, 0.5, -0.5, 0.5, b2bear, bear2b, 0.0, 0.0, 0.0)
    bull = [p.next_price(k, DT, rng) and p.regime == "bull" for k in range(60_000)]
    assert np.mean(bull) == pytest.approx(bear2b / (bear2b + b2bear), abs=0.03)


def test_negative_jumps_lower_the_mean_log_return_by_intensity_times_mean():
    def mean_logret(intensity):
        paths = _paths(lambda: price.RegimeSwitchingPrice(100, 0.2, 0.3, 0.2, 0.3, 0, 0, intensity, -0.2, 0.05),
                       400, 120, seed=2)
        return np.diff(np.log(paths), axis=1).mean() / DT

    assert mean_logret(2.0) - mean_logret(0.0) == pytest.approx(2.0 * -0.2, abs=0.08)


def test_shocks_apply_exactly_at_their_step_and_persist():
    base = price.GBMPrice(100.0, 0.0, 0.0)
    shocked = price.ShockedPrice(price.GBMPrice(100.0, 0.0, 0.0), [(6, -0.5)])
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    plain = [base.next_price(k, DT, rng_a) for k in range(10)]
    moved = [shocked.next_price(k, DT, rng_b) for k in range(10)]
    assert moved[:6] == pytest.approx(plain[:6])
    assert moved[6:] == pytest.approx([p * 0.5 for p in plain[6:]])


def test_spliced_price_continues_from_the_last_historical_price():
    spliced = price.SplicedPrice(price.SeriesPrice([10.0, 20.0, 30.0]), price.GBMPrice(30.0, 0.0, 0.0), 3)
    rng = np.random.default_rng(0)
    assert [spliced.next_price(k, DT, rng) for k in range(5)] == pytest.approx([10, 20, 30, 30, 30])


def test_series_past_its_end_names_the_step():
    with pytest.raises(ValueError, match="step 3 requested"):
        price.SeriesPrice([1.0, 2.0, 3.0]).next_price(3, DT, np.random.default_rng())


def test_same_seed_same_path_and_fixed_draws_per_step():
    a = _paths(lambda: price.RegimeSwitchingPrice(100, 0.5, 0.5, -0.5, 0.7, 1, 1, 1, -0.2, 0.1), 1, 50, seed=9)
    b = _paths(lambda: price.RegimeSwitchingPrice(100, 0.5, 0.5, -0.5, 0.7, 1, 1, 1, -0.2, 0.1), 1, 50, seed=9)
    c = _paths(lambda: price.RegimeSwitchingPrice(100, 0.5, 0.5, -0.5, 0.7, 1, 1, 1, -0.2, 0.1), 1, 50, seed=10)
    assert (a == b).all() and not (a == c).all()
    # different parameters, same seed: the generator ends in the same state (draws do not depend on outcomes)
    rngs = [np.random.default_rng(5), np.random.default_rng(5)]
    for p, rng in zip((price.RegimeSwitchingPrice(100, 0.5, 0.5, -0.5, 0.7, 9, 9, 9, -0.2, 0.1),
                       price.RegimeSwitchingPrice(100, 0.1, 0.2, -0.1, 0.2, 0, 0, 0, 0.0, 0.0)), rngs):
        for k in range(30):
            p.next_price(k, DT, rng)
    assert rngs[0].random() == rngs[1].random()


def test_fee_share_reverts_to_its_mean_and_spikes_raise_it():
    def shares(spikes):
        rng = np.random.default_rng(4)
        f = fees.StochasticFeeShare(0.05, 3.0, 0.8, spikes, 0.2, initial_share=0.5)
        return np.array([f.next_share(k, DT, rng) for k in range(6000)])

    calm = shares(0.0)
    assert calm[0] == 0.5
    assert np.median(calm[600:]) == pytest.approx(0.05, rel=0.15)
    assert shares(4.0)[600:].mean() > calm[600:].mean() + 0.04


def test_power_seasonality_peaks_in_its_month_and_shocks_stay_in_their_window():
    base = np.array([40.0])
    by_month = [power.power_price_usd_per_mwh(base, m, 0.2, 8)[0] for m in range(1, 13)]
    assert int(np.argmax(by_month)) + 1 == 8 and max(by_month) == pytest.approx(48.0)
    shocks = [(3, 2, 0.5)]
    assert [power.apply_power_shocks(k, shocks) for k in range(2, 6)] == [1.0, 1.5, 1.5, 1.0]


def test_frontier_improves_toward_its_floor_and_machine_price_follows_hashprice():
    years = np.linspace(0, 30, 61)
    front = asic.frontier_efficiency_j_per_th(years, 21.5, 0.2, 8.0)
    assert front[0] == 21.5 and (np.diff(front) < 0).all() and front[-1] > 8.0
    p60 = asic.machine_price_usd_per_th(60.0, 60.0, 17.0, 1.0, 3.0)
    assert p60 == pytest.approx(17.0)
    assert asic.machine_price_usd_per_th(120.0, 60.0, 17.0, 1.0, 3.0) == pytest.approx(34.0)
    assert asic.machine_price_usd_per_th(float("nan"), 60.0, 17.0, 1.0, 3.0) == 3.0
    assert asic.machine_price_usd_per_th(1.0, 60.0, 17.0, 1.0, 3.0) == 3.0


def test_lease_clearing_shortage_and_glut():
    offered = np.array([10.0, 30.0])
    leased, rate = ai.clear_lease_market(100.0, offered, 120.0, 0.05, 60.0, 250.0)
    assert leased.tolist() == [10.0, 30.0] and rate > 120.0  # shortage: all leased, rate up
    leased, rate = ai.clear_lease_market(20.0, offered, 120.0, 0.05, 60.0, 250.0)
    assert leased.sum() == pytest.approx(20.0) and leased[1] == pytest.approx(3 * leased[0]) and rate < 120.0
    leased, rate = ai.clear_lease_market(5.0, np.zeros(3), 120.0, 0.05, 60.0, 250.0)
    assert leased.sum() == 0 and rate > 120.0


@given(st.floats(0, 1e4), st.lists(st.floats(0, 1e3), min_size=1, max_size=8), st.floats(60, 250))
def test_lease_clearing_never_exceeds_offer_or_demand_and_respects_bounds(demand, offered, rate):
    leased, new_rate = ai.clear_lease_market(demand, np.array(offered), rate, 0.1, 60.0, 250.0)
    assert leased.sum() <= min(demand, sum(offered)) + 1e-6
    assert (leased <= np.array(offered) + 1e-9).all()
    assert 60.0 <= new_rate <= 250.0


def test_ai_demand_logistic_and_boom_bust():
    params = dict(max_mw=6000.0, midpoint_years=3.0, steepness_per_year=1.6, initial_mw=20.0)
    assert ai.ai_demand_mw(0.0, "logistic", **params) == pytest.approx(20.0)
    assert ai.ai_demand_mw(30.0, "logistic", **params) == pytest.approx(6000.0, rel=1e-3)
    bb = dict(params, bust_years=4.0, bust_floor_share=0.3, bust_speed_per_year=2.0)
    peak = ai.ai_demand_mw(4.0, "boom_bust", **bb)
    later = [ai.ai_demand_mw(t, "boom_bust", **bb) for t in (5.0, 6.0, 20.0)]
    assert peak > later[0] > later[1] and later[2] == pytest.approx(0.3 * peak, rel=1e-3)
    with pytest.raises(ValueError, match="allowed kinds"):
        ai.ai_demand_mw(1.0, "linear", **params)
    with pytest.raises(ValueError, match="bust_years"):
        ai.ai_demand_mw(1.0, "boom_bust", **params)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: price.GBMPrice(-1.0, 0.1, 0.5), "initial_usd"),
        (lambda: price.GBMPrice(100.0, 0.1, -0.5), "volatility_per_year"),
        (lambda: price.RegimeSwitchingPrice(100, 0.1, 0.5, -0.1, 0.5, -1, 1, 0, 0, 0), "bull_to_bear_per_year"),
        (lambda: fees.StochasticFeeShare(0.05, 0.0, 0.8, 1.0, 0.1, 0.05), "reversion_per_year"),
        (lambda: fees.StochasticFeeShare(-0.05, 1.0, 0.8, 1.0, 0.1, 0.05), "mean_share"),
        (lambda: asic.frontier_efficiency_j_per_th(1.0, 10.0, 0.2, 20.0), "floor_j_per_th"),
    ],
)
def test_bad_arguments_name_themselves(make, name):
    with pytest.raises(ValueError, match=name):
        make()
