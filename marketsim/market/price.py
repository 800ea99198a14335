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
    bad = not np.isfinite(value) or value > high or (value <= low if open_low else value < low)
    if bad:
        sign = ">" if open_low else ">="
        raise ValueError(f"{name}={value!r}: must be {sign} {low} and <= {high}")


class PricePath(Protocol):
    def next_price(self, step: int, dt_years: float, rng: np.random.Generator) -> float: ...


class GBMPrice:
    """Geometric Brownian motion, stepped exactly: P' = P exp((mu - s^2/2) dt + s sqrt(dt) Z)."""

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

    In each step the regime switches with probability 1 - exp(-rate x dt); the log price then
    moves like GBM with the regime's drift and volatility, plus N ~ Poisson(intensity x dt)
    jumps of size Normal(jump_mean_log, jump_std_log) (crashes when the mean is negative).
    """

    def __init__(self, initial_usd, bull_drift, bull_volatility, bear_drift, bear_volatility,
                 bull_to_bear_per_year, bear_to_bull_per_year, jump_intensity_per_year, jump_mean_log,
                 jump_std_log, start_regime: str = "bull"):
        _check("initial_usd", initial_usd, 0.0, open_low=True)
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
        # Poisson count by inversion of one uniform keeps the draw count fixed
        lam, k, p = intensity * dt_years, 0, math.exp(-intensity * dt_years)
        cdf = p
        while n_jumps_u > cdf and k < 50:
            k += 1
            p *= lam / k
            cdf += p
        jump = k * jmean + math.sqrt(k) * jstd * jz
        self.level *= math.exp((drift - 0.5 * vol**2) * dt_years + vol * math.sqrt(dt_years) * z + jump)
        return self.level


class SeriesPrice:
    """A given series, one value per step (replay of the shipped data, or a user's CSV)."""

    def __init__(self, prices: Sequence[float]):
        self.prices = np.asarray(prices, dtype=float)
        if len(self.prices) == 0 or not (self.prices > 0).all():
            raise ValueError("prices: need at least one value, all positive")

    def next_price(self, step, dt_years, rng):
        if step >= len(self.prices):
            raise ValueError(f"price series has {len(self.prices)} steps; step {step} requested")
        return float(self.prices[step])


class ShockedPrice:
    """Deterministic, permanent shocks on top of any path: (step, change) multiplies the level
    by (1 + change) from that step on (e.g. (6, -0.5) is -50% in month 6)."""

    def __init__(self, base: PricePath, shocks: Sequence[tuple[int, float]]):
        for step, change in shocks:
            if step < 0 or change <= -1.0:
                raise ValueError(f"shocks: ({step}, {change}) needs step >= 0 and change > -1")
        self.base = base
        self.shocks = list(shocks)
        self.factor = 1.0

    def next_price(self, step, dt_years, rng):
        for at, change in self.shocks:
            if at == step:
                self.factor *= 1.0 + change
        return self.base.next_price(step, dt_years, rng) * self.factor


class SplicedPrice:
    """History first, then a stochastic path that starts where the history ends.

    Steps before ``switch_step`` read ``history``; from then on ``then`` moves on (its own
    step counter starts at 0 at the switch, where it returns its initial price, which is
    the last historical one, before moving on the next step).
    """

    def __init__(self, history: PricePath, then: PricePath, switch_step: int):
        if switch_step < 1:
            raise ValueError(f"switch_step={switch_step}: must be >= 1")
        self.history, self.then, self.switch = history, then, switch_step

    def next_price(self, step, dt_years, rng):
        if step < self.switch:
            return self.history.next_price(step, dt_years, rng)
        return self.then.next_price(step - self.switch + 1, dt_years, rng)
