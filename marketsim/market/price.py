"""BTC price paths: one interface, several processes, stepped open-endedly.

Every path answers ``next_price(step, dt_years, rng)``; step 0 returns the initial price, each
later call advances one step of ``dt_years``. Each process consumes a fixed number of random
draws per step whatever happens, so a seed reproduces a run exactly, even when parameters
change an outcome.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np


def _check(name: str, value: float, low: float = -math.inf, high: float = math.inf, *, open_low=False) -> None:
    """Raise a ValueError naming the argument, its value and the allowed range."""
    bad = not np.isfinite(value) or value > high or (value <= low if open_low else value < low)
    if bad:
        sign = ">" if open_low else ">="
        raise ValueError(f"{name}={value!r}: must be finite, {sign} {low} and <= {high}")


def _poisson_by_inversion(u: float, mean: float) -> int:
    """Poisson(mean) count from ONE uniform by inverting the CDF.

    numpy's own Poisson sampler consumes a number of underlying draws that depends on the
    outcome; inverting a single uniform keeps the draw count per step fixed. The search stops
    ``mean + 10 sd + 10`` counts out, where the tail mass left is negligible (< 1e-20).
    """
    if mean <= 0.0:
        return 0
    k, p = 0, math.exp(-mean)
    cdf, cap = p, int(mean + 10.0 * math.sqrt(mean) + 10.0)
    while u > cdf and k < cap:
        k += 1
        p *= mean / k
        cdf += p
    return k


class PricePath(Protocol):
    """What the model needs from any BTC price driver.

    ``next_price(0, ...)`` returns the initial price; each later call advances one step of
    ``dt_years`` and returns the new price in USD. Implementations draw the same number of
    random variates at every step (step 0 included) whatever the outcome.
    """

    def next_price(self, step: int, dt_years: float, rng: np.random.Generator) -> float: ...


class GBMPrice:
    """Geometric Brownian motion, stepped exactly: P' = P exp((mu - s^2/2) dt + s sqrt(dt) Z).

    The exact log-normal step has no discretisation bias whatever the step length, so a
    monthly, weekly or daily run has the same distribution at a given date. ``drift_per_year``
    (mu) is the expected arithmetic return per year; the median log return per year is
    mu - s^2/2. One standard normal per step.
    """

    def __init__(self, initial_usd: float, drift_per_year: float, volatility_per_year: float):
        _check("initial_usd", initial_usd, 0.0, open_low=True)
        _check("drift_per_year", drift_per_year, -10.0, 10.0)
        _check("volatility_per_year", volatility_per_year, 0.0, 10.0)
        self.level = float(initial_usd)
        self.mu, self.sigma = drift_per_year, volatility_per_year

    def next_price(self, step, dt_years, rng):
        z = rng.standard_normal()
        if step > 0:
            self.level *= math.exp((self.mu - 0.5 * self.sigma**2) * dt_years + self.sigma * math.sqrt(dt_years) * z)
        return self.level


class RegimeSwitchingPrice:
    """Bull and bear regimes (a two-state Markov chain) with compound-Poisson log jumps.

    In each step the regime switches with probability 1 - exp(-rate x dt) (exact for a
    continuous-time chain observed once a step); the log price then moves like GBM with the
    new regime's drift and volatility (per year), plus N ~ Poisson(intensity x dt) jumps
    whose sizes are Normal(jump_mean_log, jump_std_log) in log price (crashes when the mean is
    negative), so jumps shift the mean log return by intensity x jump_mean_log per year.
    Long-run share of time in bull: bear_to_bull / (bull_to_bear + bear_to_bull). Why: BTC
    alternates long rallies and long drawdowns with sudden crashes, which GBM cannot produce.
    Four draws per step (switch uniform, diffusion normal, jump-count uniform, jump normal);
    the sum of N normal jumps is drawn as N mean + sqrt(N) sd Z, exact in distribution.
    """

    def __init__(self, initial_usd, bull_drift, bull_volatility, bear_drift, bear_volatility,
                 bull_to_bear_per_year, bear_to_bull_per_year, jump_intensity_per_year, jump_mean_log,
                 jump_std_log, start_regime: str = "bull"):
        _check("initial_usd", initial_usd, 0.0, open_low=True)
        for name, v in (("bull_drift", bull_drift), ("bear_drift", bear_drift), ("jump_mean_log", jump_mean_log)):
            _check(name, v, -10.0, 10.0)
        for name, v in (("bull_volatility", bull_volatility), ("bear_volatility", bear_volatility),
                        ("bull_to_bear_per_year", bull_to_bear_per_year), ("bear_to_bull_per_year", bear_to_bull_per_year),
                        ("jump_intensity_per_year", jump_intensity_per_year), ("jump_std_log", jump_std_log)):
            _check(name, v, 0.0)
        if start_regime not in ("bull", "bear"):
            raise ValueError(f"start_regime={start_regime!r}: must be 'bull' or 'bear'")
        self.level = float(initial_usd)
        self.params = {"bull": (bull_drift, bull_volatility, bull_to_bear_per_year),
                       "bear": (bear_drift, bear_volatility, bear_to_bull_per_year)}
        self.jump = (jump_intensity_per_year, jump_mean_log, jump_std_log)
        self.regime = start_regime

    def next_price(self, step, dt_years, rng):
        u, z, n_jumps_u, jz = rng.random(), rng.standard_normal(), rng.random(), rng.standard_normal()
        if step == 0:
            return self.level
        drift, vol, leave_rate = self.params[self.regime]
        if u < 1.0 - math.exp(-leave_rate * dt_years):
            self.regime = "bear" if self.regime == "bull" else "bull"
            drift, vol, _ = self.params[self.regime]
        intensity, jmean, jstd = self.jump
        k = _poisson_by_inversion(n_jumps_u, intensity * dt_years)
        jump = k * jmean + math.sqrt(k) * jstd * jz
        self.level *= math.exp((drift - 0.5 * vol**2) * dt_years + vol * math.sqrt(dt_years) * z + jump)
        return self.level


class SeriesPrice:
    """A given series, one value per step (replay of the shipped data, or a user's CSV).

    ``prices[step]`` in USD; no randomness. Running past the end is an error, not a silent
    repeat of the last value: a replay that ends early must say so.
    """

    def __init__(self, prices: Sequence[float]):
        self.prices = np.asarray(prices, dtype=float).ravel()
        if len(self.prices) == 0:
            raise ValueError("prices: empty series; need at least one price")
        bad = np.flatnonzero(~(np.isfinite(self.prices) & (self.prices > 0)))
        if bad.size:
            raise ValueError(f"prices[{bad[0]}]={float(self.prices[bad[0]])!r}: every price must be finite and > 0")

    def next_price(self, step, dt_years, rng):
        if not 0 <= step < len(self.prices):
            raise ValueError(f"price series has {len(self.prices)} steps; step {step} requested")
        return float(self.prices[step])


class ShockedPrice:
    """Deterministic, permanent shocks on top of any path: (step, change) multiplies the level
    by (1 + change) from that step on (e.g. (6, -0.5) is -50% in month 6).

    Price = base price x prod over shocks with step_k <= step of (1 + change_k). The base
    keeps its own dynamics (and draws), so the shock is a level shift of the same random
    path; a deterministic scenario is ``GBMPrice(p0, mu, 0)`` plus shocks. Several shocks at
    one step compound.
    """

    def __init__(self, base: PricePath, shocks: Sequence[tuple[int, float]]):
        for i, (step, change) in enumerate(shocks):
            if int(step) != step or step < 0 or not np.isfinite(change) or change <= -1.0:
                raise ValueError(f"shocks[{i}]=({step}, {change}): step must be an integer >= 0 and change "
                                 f"finite and > -1")
        self.base = base
        self.shock_steps = np.array([int(st) for st, _ in shocks], dtype=int)
        self.shock_factors = np.array([1.0 + float(c) for _, c in shocks], dtype=float)

    def factor_at(self, step: int) -> float:
        """Cumulative multiplier of all shocks dated at or before ``step``."""
        return float(np.prod(self.shock_factors[self.shock_steps <= step]))

    def next_price(self, step, dt_years, rng):
        return self.base.next_price(step, dt_years, rng) * self.factor_at(step)


class SplicedPrice:
    """History first, then a stochastic path that starts where the history ends.

    Steps before ``switch_step`` read ``history``. ``then`` must start at the last historical
    price: its step 0 *is* that price (step ``switch_step - 1``, already returned by the
    history, so it is not asked for), and at ``switch_step`` it takes its first move. Why:
    the baseline replays 2023-2025 and then goes stochastic without a jump at the seam.
    """

    def __init__(self, history: PricePath, then: PricePath, switch_step: int):
        if switch_step < 1:
            raise ValueError(f"switch_step={switch_step!r}: must be an integer >= 1")
        self.history, self.then, self.switch = history, then, switch_step

    def next_price(self, step, dt_years, rng):
        if step < self.switch:
            return self.history.next_price(step, dt_years, rng)
        return self.then.next_price(step - self.switch + 1, dt_years, rng)
