"""Transaction fees as a share of the block subsidy: mean-reverting, with spikes.

The log of the share follows an Ornstein-Uhlenbeck process toward log(mean_share), stepped
exactly: x' = m + (x - m) e^{-k dt} + s sqrt((1 - e^{-2k dt}) / 2k) Z. Fee spikes (ordinals
in 2023, congestion) arrive as a Poisson process and add an exponential amount with mean
``spike_mean_share`` to that step only. Fixed draws per step: Z, the spike uniform, its size.
"""

from __future__ import annotations

import math

import numpy as np

MIN_SHARE = 1e-6  # log-space floor so a zero mean share stays finite


class StochasticFeeShare:
    def __init__(self, mean_share: float, reversion_per_year: float, volatility_per_year: float,
                 spike_intensity_per_year: float, spike_mean_share: float, initial_share: float):
        for name, v in (("mean_share", mean_share), ("volatility_per_year", volatility_per_year),
                        ("spike_intensity_per_year", spike_intensity_per_year),
                        ("spike_mean_share", spike_mean_share), ("initial_share", initial_share)):
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{name}={v!r}: must be >= 0")
        if not reversion_per_year > 0:
            raise ValueError(f"reversion_per_year={reversion_per_year!r}: must be > 0")
        self.mean_log = math.log(max(mean_share, MIN_SHARE))
        self.zero_mean = mean_share == 0
        self.k, self.sigma = reversion_per_year, volatility_per_year
        self.spike_rate, self.spike_mean = spike_intensity_per_year, spike_mean_share
        self.x = math.log(max(initial_share, MIN_SHARE))

    def next_share(self, step: int, dt_years: float, rng: np.random.Generator) -> float:
        z, u, size = rng.standard_normal(), rng.random(), rng.exponential()
        if step > 0:
            decay = math.exp(-self.k * dt_years)
            sd = self.sigma * math.sqrt((1 - decay**2) / (2 * self.k))
            self.x = self.mean_log + (self.x - self.mean_log) * decay + sd * z
        base = 0.0 if self.zero_mean else math.exp(self.x)
        spike = size * self.spike_mean if step > 0 and u < 1 - math.exp(-self.spike_rate * dt_years) else 0.0
        return base + spike
