"""Market drivers: each process has the statistics it claims, and clearing moves the right way.

Tolerances are a few standard errors of the estimator (noted beside each), not loose bands.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketsim.market import ai, asic, fees, power, price

DT = 1 / 12
DAYS_PER_MONTH = 365.25 / 12


def _paths(make, n_paths, n_steps, seed=0):
    rng = np.random.default_rng(seed)
    out = np.empty((n_paths, n_steps + 1))
    for i in range(n_paths):
        p = make()
        out[i] = [p.next_price(k, DT, rng) for k in range(n_steps + 1)]
    return out


def _regime(**overrides):
    args = dict(initial_usd=100.0, bull_drift=0.5, bull_volatility=0.5, bear_drift=-0.5, bear_volatility=0.7,
                bull_to_bear_per_year=1.0, bear_to_bull_per_year=1.0, jump_intensity_per_year=1.0,
                jump_mean_log=-0.2, jump_std_log=0.1)
    args.update(overrides)
    return price.RegimeSwitchingPrice(**args)


# --- BTC price ---------------------------------------------------------------------------

def test_gbm_recovers_drift_and_volatility():
    mu, sigma, n_paths, n_steps = 0.3, 0.6, 4000, 120
    paths = _paths(lambda: price.GBMPrice(100.0, mu, sigma), n_paths, n_steps)
    assert (paths[:, 0] == 100.0).all()  # step 0 is the initial price
    logret = np.diff(np.log(paths), axis=1).ravel()
    n = logret.size
    # annualised mean log return = mu - s^2/2; SE = sigma / sqrt(dt n) = 0.003, tolerance 4 SE
    assert logret.mean() / DT == pytest.approx(mu - sigma**2 / 2, abs=4 * sigma / np.sqrt(DT * n))
    # sd of the sample sd is sigma / sqrt(2n): 0.07% here, tolerance 0.5%
    assert logret.std() / np.sqrt(DT) == pytest.approx(sigma, rel=0.005)
    # arithmetic drift: E[P(1 yr)] = P0 e^{mu}; SE ~ 1%, tolerance 4%
    assert paths[:, 12].mean() / 100.0 == pytest.approx(np.exp(mu), rel=0.04)


def test_gbm_with_zero_volatility_is_deterministic_exponential_growth():
    p = price.GBMPrice(100.0, 0.12, 0.0)
    rng = np.random.default_rng(0)
    got = [p.next_price(k, DT, rng) for k in range(13)]
    assert got[12] == pytest.approx(100.0 * np.exp(0.12))


def test_regime_chain_spends_the_theoretical_share_of_time_in_bull():
    b2bear, bear2b = 0.6, 1.2
    rng = np.random.default_rng(1)
    p = _regime(bull_to_bear_per_year=b2bear, bear_to_bull_per_year=bear2b, jump_intensity_per_year=0.0)
    bull = [p.next_price(k, DT, rng) and p.regime == "bull" for k in range(60_000)]
    # mean regime spell ~ 0.8 yr = 10 steps: ~3,000 independent blocks, SE ~ 0.01
    assert np.mean(bull) == pytest.approx(bear2b / (bear2b + b2bear), abs=0.03)


def test_regimes_have_their_own_drift():
    # never leave the starting regime: a bear path falls, a bull path rises, on the same draws
    def mean_logret(start):
        paths = _paths(lambda: _regime(bull_to_bear_per_year=0, bear_to_bull_per_year=0, jump_intensity_per_year=0,
                                       bull_volatility=0.3, bear_volatility=0.3, start_regime=start), 200, 60, seed=6)
        return np.diff(np.log(paths), axis=1).mean() / DT

    assert mean_logret("bull") == pytest.approx(0.5 - 0.045, abs=0.05)
    assert mean_logret("bear") == pytest.approx(-0.5 - 0.045, abs=0.05)


def test_negative_jumps_lower_the_mean_log_return_by_intensity_times_mean():
    def mean_logret(intensity):
        paths = _paths(lambda: _regime(bull_drift=0.2, bull_volatility=0.3, bear_drift=0.2, bear_volatility=0.3,
                                       bull_to_bear_per_year=0, bear_to_bull_per_year=0,
                                       jump_intensity_per_year=intensity, jump_mean_log=-0.2, jump_std_log=0.05),
                       400, 120, seed=2)
        return np.diff(np.log(paths), axis=1).mean() / DT

    # fixed draws per step: both runs share their diffusion draws, so the difference is the
    # jump part alone; its SE over 4,000 path-years is sqrt(2 x 0.0425 / 4000) = 0.005
    assert mean_logret(2.0) - mean_logret(0.0) == pytest.approx(2.0 * -0.2, abs=0.02)


@pytest.mark.parametrize("intensity_per_year", [1.2, 120.0])
def test_jump_counts_are_poisson(intensity_per_year):
    # no diffusion, fixed jump size: each step's log return is (count x jump size)
    p = _regime(bull_drift=0.0, bull_volatility=0.0, bull_to_bear_per_year=0.0,
                jump_intensity_per_year=intensity_per_year, jump_mean_log=-0.001, jump_std_log=0.0)
    rng = np.random.default_rng(8)
    path = np.array([p.next_price(k, DT, rng) for k in range(20_001)])
    counts = np.round(np.diff(np.log(path)) / -0.001)
    lam = intensity_per_year * DT
    assert counts.mean() == pytest.approx(lam, rel=0.05)  # SE: sqrt(lam / 20000), <= 2.5%
    assert counts.var() == pytest.approx(lam, rel=0.08)


def test_shocks_apply_exactly_at_their_step_and_persist():
    base = price.GBMPrice(100.0, 0.0, 0.0)
    shocked = price.ShockedPrice(price.GBMPrice(100.0, 0.0, 0.0), [(6, -0.5)])
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    plain = [base.next_price(k, DT, rng_a) for k in range(10)]
    moved = [shocked.next_price(k, DT, rng_b) for k in range(10)]
    assert moved[:6] == pytest.approx(plain[:6])
    assert moved[6:] == pytest.approx([p * 0.5 for p in plain[6:]])


def test_shocks_compose_with_a_stochastic_base_and_with_each_other():
    make = lambda: _regime()  # noqa: E731
    plain = _paths(make, 1, 24, seed=4)[0]
    shocked = _paths(lambda: price.ShockedPrice(make(), [(6, -0.5), (12, 0.2), (12, 0.5)]), 1, 24, seed=4)[0]
    factor = np.ones(25)
    factor[6:] *= 0.5
    factor[12:] *= 1.2 * 1.5
    assert shocked == pytest.approx(plain * factor)


def test_series_replays_and_past_its_end_names_the_step():
    s = price.SeriesPrice([1.0, 2.0, 3.0])
    assert [s.next_price(k, DT, None) for k in range(3)] == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="price series has 3 steps; step 3 requested"):
        s.next_price(3, DT, np.random.default_rng())


def test_spliced_price_continues_from_the_last_historical_price():
    spliced = price.SplicedPrice(price.SeriesPrice([10.0, 20.0, 30.0]), price.GBMPrice(30.0, 0.0, 0.0), 3)
    rng = np.random.default_rng(0)
    assert [spliced.next_price(k, DT, rng) for k in range(5)] == pytest.approx([10, 20, 30, 30, 30])
    moving = price.SplicedPrice(price.SeriesPrice([10.0, 20.0, 30.0]), price.GBMPrice(30.0, 0.0, 0.5), 3)
    got = [moving.next_price(k, DT, rng) for k in range(4)]
    assert got[:3] == [10.0, 20.0, 30.0] and got[3] != 30.0  # the first stochastic step moves


def test_same_seed_same_path_and_fixed_draws_per_step():
    for make in (_regime, lambda: price.GBMPrice(100.0, 0.1, 0.6)):
        a, b, c = (_paths(make, 1, 50, seed=s) for s in (9, 9, 10))
        assert (a == b).all() and not (a == c).all()
    # different parameters, same seed: the generator ends in the same state (draws do not depend on outcomes)
    rngs = [np.random.default_rng(5), np.random.default_rng(5)]
    for p, rng in zip((_regime(bull_to_bear_per_year=9, bear_to_bull_per_year=9, jump_intensity_per_year=500),
                       _regime(bull_to_bear_per_year=0, bear_to_bull_per_year=0, jump_intensity_per_year=0)), rngs):
        for k in range(30):
            p.next_price(k, DT, rng)
    assert rngs[0].random() == rngs[1].random()


# --- fees --------------------------------------------------------------------------------

def _fee_shares(spikes, n=6000, seed=4, **kw):
    args = dict(mean_share=0.05, reversion_per_year=3.0, volatility_per_year=0.8, spike_intensity_per_year=spikes,
                spike_mean_share=0.2, initial_share=0.5)
    args.update(kw)
    rng = np.random.default_rng(seed)
    f = fees.StochasticFeeShare(**args)
    return np.array([f.next_share(k, DT, rng) for k in range(n)]), rng


def test_fee_share_reverts_to_its_mean():
    calm, _ = _fee_shares(0.0)
    assert calm[0] == 0.5 and (calm >= 0).all()
    assert calm[12] < 0.5 * calm[0]  # a year at k = 3/yr removes 95% of the log gap
    # stationary: median = mean_share, log-sd = s / sqrt(2k) = 0.327 (about 700 independent spells)
    assert np.median(calm[600:]) == pytest.approx(0.05, rel=0.08)
    assert np.log(calm[600:]).std() == pytest.approx(0.8 / np.sqrt(6.0), rel=0.1)


def test_fee_spikes_raise_the_mean_by_rate_times_size():
    calm, _ = _fee_shares(0.0)
    spiky, _ = _fee_shares(4.0)
    # same draws, so the difference is the spikes alone: P(spike) x mean size per step, SE ~ 0.002
    expected = (1 - np.exp(-4.0 * DT)) * 0.2
    assert (spiky - calm)[1:].mean() == pytest.approx(expected, abs=0.01)
    assert ((spiky - calm) >= 0).all()


def test_fee_share_with_zero_mean_is_spikes_only():
    calm, _ = _fee_shares(0.0, n=500, mean_share=0.0, initial_share=0.0)
    assert (calm == 0.0).all()  # no log(0) error, no drift away from 0
    spiky, _ = _fee_shares(4.0, n=20_000, mean_share=0.0, initial_share=0.0)
    assert (spiky >= 0).all() and (spiky[1:] > 0).mean() == pytest.approx(1 - np.exp(-4.0 * DT), abs=0.01)
    assert spiky[1:].mean() == pytest.approx((1 - np.exp(-4.0 * DT)) * 0.2, rel=0.1)  # SE ~ 3%


def test_fee_paths_reproduce_by_seed_and_draw_a_fixed_count():
    a, rng_a = _fee_shares(4.0, n=200, seed=1)
    b, rng_b = _fee_shares(0.0, n=200, seed=1, volatility_per_year=0.0)
    c, _ = _fee_shares(4.0, n=200, seed=2)
    assert (a == _fee_shares(4.0, n=200, seed=1)[0]).all() and not (a == c).all()
    assert rng_a.random() == rng_b.random()


# --- power -------------------------------------------------------------------------------

def test_power_seasonality_peaks_in_its_month_and_is_vectorised():
    base = np.array([40.0, 20.0])
    by_month = np.array([power.power_price_usd_per_mwh(base, m, 0.2, 8) for m in range(1, 13)])
    assert int(np.argmax(by_month[:, 0])) + 1 == 8 and int(np.argmin(by_month[:, 0])) + 1 == 2
    assert by_month[7] == pytest.approx([48.0, 24.0]) and by_month[1] == pytest.approx([32.0, 16.0])
    assert by_month.mean(axis=0) == pytest.approx(base)  # seasonality averages out over a year
    assert power.power_price_usd_per_mwh(base, 8, 0.2, 8, multiplier=1.5) == pytest.approx([72.0, 36.0])
    assert (power.power_price_usd_per_mwh(base, 2, 1.5, 8) == 0.0).all()  # never below 0


def test_power_shocks_stay_in_their_window_and_compound():
    shocks = [(3, 2, 0.5)]
    assert [power.apply_power_shocks(k, shocks) for k in range(2, 6)] == [1.0, 1.5, 1.5, 1.0]
    both = [(3, 2, 0.5), (4, 3, -0.2)]
    assert [power.apply_power_shocks(k, both) for k in range(2, 8)] == pytest.approx([1, 1.5, 1.2, 0.8, 0.8, 1])


# --- ASIC frontier and machine economics ----------------------------------------------------

def test_frontier_improves_toward_its_floor():
    years = np.linspace(0, 30, 61)
    front = asic.frontier_efficiency_j_per_th(years, 21.5, 0.35, 8.0)
    assert front[0] == 21.5 and (np.diff(front) < 0).all() and (front > 8.0).all()
    assert front[-1] == pytest.approx(8.0, abs=1e-3)
    # the calibration: S19 XP (21.5, 2022) -> 17.5 after a year, ~14.7 after two (S21, S21 Pro)
    assert asic.frontier_efficiency_j_per_th([1.0, 2.0], 21.5, 0.35, 8.0) == pytest.approx([17.5, 14.7], abs=0.05)
    assert asic.frontier_efficiency_j_per_th(-1.0, 21.5, 0.35, 8.0) == 21.5


def test_machine_price_is_proportional_to_hashprice_with_elasticity_one():
    hp = np.array([30.0, 60.0, 120.0, 315.0])
    p = asic.machine_price_usd_per_th(hp, 60.0, 17.0, 1.0, 3.0)
    assert p / hp == pytest.approx(np.full(4, 17.0 / 60.0))
    assert asic.machine_price_usd_per_th(120.0, 60.0, 17.0, 2.0, 3.0) == pytest.approx(68.0)
    assert asic.machine_price_usd_per_th(float("nan"), 60.0, 17.0, 1.0, 3.0) == 3.0
    assert asic.machine_price_usd_per_th(1.0, 60.0, 17.0, 1.0, 3.0) == 3.0  # floored


# --- AI demand and leases -----------------------------------------------------------------

# the lease market's clearing is tested in tests/test_ai_market.py


def test_ai_demand_logistic_and_boom_bust():
    params = dict(max_mw=6000.0, midpoint_years=3.0, steepness_per_year=1.6, initial_mw=20.0)
    assert ai.ai_demand_mw(0.0, "logistic", **params) == pytest.approx(20.0)
    assert ai.ai_demand_mw(30.0, "logistic", **params) == pytest.approx(6000.0, rel=1e-3)
    curve = ai.ai_demand_mw(np.linspace(0, 10, 41), "logistic", **params)
    assert curve.shape == (41,) and (np.diff(curve) > 0).all()
    bb = dict(params, bust_years=4.0, bust_floor_share=0.3, bust_speed_per_year=2.0)
    peak = ai.ai_demand_mw(4.0, "boom_bust", **bb)
    assert peak == pytest.approx(ai.ai_demand_mw(4.0, "logistic", **params))
    later = [ai.ai_demand_mw(t, "boom_bust", **bb) for t in (5.0, 6.0, 20.0)]
    assert peak > later[0] > later[1] and later[2] == pytest.approx(0.3 * peak, rel=1e-3)


def test_dated_demand_is_linear_between_points_then_the_curve_continues_without_a_jump():
    years, mw = ai.dated_points((0.5, 1.0, 2.0), (20.0, 220.0, 220.0))
    never = lambda t: pytest.fail("the curve is not read before the last dated point")  # noqa: E731
    # before the first point, and at negative times (clamped to the start): the first point's MW
    assert ai.dated_then_curve(0.0, years, mw, never) == 20.0 == ai.dated_then_curve(-1.0, years, mw, never)
    # a quarter of the way from 0.5 to 1.0 years: 20 + 0.25 x 200
    assert ai.dated_then_curve(0.625, years, mw, never) == pytest.approx(70.0)
    assert ai.dated_then_curve(2.0, years, mw, never) == 220.0
    # after the last point: the logistic, delayed so that it wants 220 MW at 2.0 years.
    # Hand-worked: max 1,000, midpoint 2, k 2, initial 0: L(0) = 1,000 x sigmoid(-4) = 17.9862;
    # level = (17.9862 + 220 x 982.0138 / 1,000) / 1,000 = 0.234029; t* = 2 + ln(0.234029 / 0.765971) / 2
    # = 2 - 0.592849 = 1.407151, so the shift is 2.0 - 1.407151 = 0.592849 years
    curve_params = dict(max_mw=1000.0, midpoint_years=2.0, steepness_per_year=2.0, initial_mw=0.0)
    shift = ai.handover_shift_years("logistic", curve_params, 2.0, 220.0)
    assert shift == pytest.approx(0.592849, abs=1e-6)
    curve = ai.demand_curve("logistic", **curve_params)
    assert curve(2.0 - shift) == pytest.approx(220.0)  # continuous at the hand-over
    later = ai.dated_then_curve(3.0, years, mw, curve, shift)
    assert later == pytest.approx(curve(3.0 - shift)) and 220.0 < later < curve(3.0)
    # a curve that never reaches the last point's MW: no shift, demand steps to the curve
    assert ai.handover_shift_years("logistic", dict(curve_params, max_mw=200.0), 2.0, 220.0) == 0.0


def test_the_replay_feeds_the_dated_deals_as_demand():
    """halving-2024-replay: each deal is wanted from the first day of its month (a step's demand
    is read at its first day), and months between two dated points are interpolated by days."""
    from marketsim.market.engine import Market
    from marketsim.scenario import load_scenario
    from marketsim.units import DAYS_PER_YEAR

    market = Market(load_scenario("halving-2024-replay"), np.random.default_rng(0))
    at = {d: market.ai_demand_at((np.datetime64(d) - np.datetime64("2023-01-01")).astype(int) / DAYS_PER_YEAR)
          for d in ("2023-06-01", "2024-05-01", "2024-06-01", "2024-08-01", "2024-10-01", "2025-08-01")}
    assert at["2023-06-01"] == at["2024-05-01"] == pytest.approx(20.0)
    assert at["2024-06-01"] == pytest.approx(220.0)  # Core Scientific - CoreWeave, 3 June 2024
    # July (220) to October (580) 2024: 31 of 92 days by 1 August
    assert at["2024-08-01"] == pytest.approx(220.0 + 360.0 * 31 / 92)
    assert at["2024-10-01"] == pytest.approx(580.0) and at["2025-08-01"] == pytest.approx(1866.0)
    # the baseline replays the same deals until December 2025, then its logistic carries on from
    # their 2,618 MW, growing, without the ~340 MW step of the unshifted curve
    base = Market(load_scenario("baseline"), np.random.default_rng(0))
    years = {d: (np.datetime64(d) - np.datetime64("2023-01-01")).astype(int) / DAYS_PER_YEAR
             for d in ("2025-08-01", "2025-12-01", "2026-01-01", "2027-01-01")}
    assert base.ai_demand_at(years["2025-08-01"]) == pytest.approx(1866.0)
    assert base.ai_demand_at(years["2025-12-01"]) == pytest.approx(2618.0)
    s = base.scenario
    curve = ai.demand_curve("logistic", max_mw=s.ai_demand_max_mw, midpoint_years=s.ai_demand_midpoint_years,
                            steepness_per_year=s.ai_demand_steepness_per_year, initial_mw=s.ai_demand_initial_mw)
    jan = base.ai_demand_at(years["2026-01-01"])
    assert 2618.0 < jan < 2618.0 + 0.5 * (curve(years["2026-01-01"]) - 2618.0)
    assert jan < base.ai_demand_at(years["2027-01-01"]) <= s.ai_demand_max_mw


@pytest.mark.parametrize(
    "kind, params, match",
    [
        ("linear", dict(max_mw=1.0, midpoint_years=1.0, steepness_per_year=1.0, initial_mw=0.0), "allowed kinds"),
        ("boom_bust", dict(max_mw=1.0, midpoint_years=1.0, steepness_per_year=1.0, initial_mw=0.0), "bust_years"),
        ("logistic", dict(max_mw=1.0, midpoint_years=1.0, steepness_per_year=1.0, initial_mw=0.0, mid=2),
         "unknown parameter.*mid"),
        ("logistic", dict(max_mw=1.0, midpoint_years=1.0, steepness_per_year=0.0, initial_mw=0.0),
         "steepness_per_year=0.0"),
        ("logistic", dict(max_mw=10.0, midpoint_years=1.0, steepness_per_year=1.0, initial_mw=20.0), "max_mw=10.0"),
        ("boom_bust", dict(max_mw=1.0, midpoint_years=1.0, steepness_per_year=1.0, initial_mw=0.0, bust_years=1.0,
                           bust_floor_share=1.5, bust_speed_per_year=1.0), "bust_floor_share=1.5"),
    ],
)
def test_ai_demand_rejects_bad_kinds_and_parameters(kind, params, match):
    with pytest.raises(ValueError, match=match):
        ai.ai_demand_mw(1.0, kind, **params)


@pytest.mark.parametrize("years, mw, match", [((0.0,), (1.0,), "years"), ((1.0, 0.5), (1.0, 2.0), "strictly increasing"),
                                              ((0.0, 1.0), (1.0, -2.0), "mw=")])
def test_dated_demand_rejects_bad_points(years, mw, match):
    with pytest.raises(ValueError, match=match):
        ai.dated_points(years, mw)


# --- argument validation ----------------------------------------------------------------------

@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: price.GBMPrice(-1.0, 0.1, 0.5), "initial_usd=-1.0"),
        (lambda: price.GBMPrice(100.0, 0.1, -0.5), "volatility_per_year=-0.5"),
        (lambda: price.GBMPrice(100.0, float("nan"), 0.5), "drift_per_year=nan"),
        (lambda: _regime(bull_to_bear_per_year=-1), "bull_to_bear_per_year=-1"),
        (lambda: _regime(jump_std_log=-0.1), "jump_std_log=-0.1"),
        (lambda: _regime(start_regime="sideways"), "start_regime='sideways'"),
        (lambda: price.SeriesPrice([]), "prices"),
        (lambda: price.SeriesPrice([1.0, -2.0]), r"prices\[1\]=-2.0"),
        (lambda: price.ShockedPrice(price.GBMPrice(1.0, 0, 0), [(3, -1.5)]), r"shocks\[0\]=\(3, -1.5\)"),
        (lambda: price.SplicedPrice(price.SeriesPrice([1.0]), price.GBMPrice(1.0, 0, 0), 0), "switch_step=0"),
        (lambda: fees.StochasticFeeShare(0.05, 0.0, 0.8, 1.0, 0.1, 0.05), "reversion_per_year=0.0"),
        (lambda: fees.StochasticFeeShare(-0.05, 1.0, 0.8, 1.0, 0.1, 0.05), "mean_share=-0.05"),
        (lambda: fees.StochasticFeeShare(0.05, 1.0, 0.8, -1.0, 0.1, 0.05), "spike_intensity_per_year=-1.0"),
        (lambda: power.power_price_usd_per_mwh(np.ones(2), 13, 0.1, 8), "month_of_year=13"),
        (lambda: power.power_price_usd_per_mwh(np.ones(2), 1, -0.1, 8), "seasonal_amplitude=-0.1"),
        (lambda: power.apply_power_shocks(0, [(0, -1, 0.5)]), r"shocks\[0\]"),
        (lambda: asic.frontier_efficiency_j_per_th(1.0, 10.0, 0.2, 20.0), "floor_j_per_th=20.0"),
        (lambda: asic.frontier_efficiency_j_per_th(1.0, 20.0, -0.2, 10.0), "improvement_per_year=-0.2"),
        (lambda: asic.machine_price_usd_per_th(60.0, 0.0, 17.0, 1.0, 3.0), "reference_hashprice=0.0"),
        (lambda: asic.machine_price_usd_per_th(60.0, 60.0, 17.0, -1.0, 3.0), "elasticity=-1.0"),
        (lambda: ai.clear_lease_market(np.ones(2), np.ones(2), 10.0, 0.0, 150.0, 140.0, 0.1), "choke_rate=140.0"),
        (lambda: ai.clear_lease_market(np.ones(2), np.ones(2), -1.0, 0.0, 150.0, 200.0, 0.1), "wanted_mw=-1.0"),
    ],
)
def test_bad_arguments_name_themselves(make, name):
    with pytest.raises(ValueError, match=name):
        make()
