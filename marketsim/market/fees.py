"""Transaction fees as a share of the block subsidy: mean-reverting, with spikes.

Why a share of the subsidy: fees are paid in BTC and have ranged from ~1% to over 100% of
the subsidy in short bursts (Ordinals/BRC-20 in 2023, the 2024 halving block), while their
long-run level is a few percent; a share is dimensionless and survives halvings.

Form (per year; ``dt_years`` per step):
- the log share x follows an Ornstein-Uhlenbeck process toward log(mean_share), stepped
  exactly: x' = m + (x - m) e^{-k dt} + s sqrt((1 - e^{-2k dt}) / 2k) Z, so its stationary
  median is ``mean_share`` and its stationary log-sd is s / sqrt(2k);
- spikes arrive as a Poisson process (``spike_intensity_per_year``); a step with a spike
  adds Exponential(mean ``spike_mean_share``) to that step's share only (congestion clears).
Share returned = exp(x) + spike >= 0. Fixed draws per step (step 0 included): Z, the spike
uniform, the spike size.
"""

from __future__ import annotations

import math

import numpy as np

MIN_SHARE = 1e-6  # log-space floor so a zero mean or initial share stays finite (numerical, not economic)


def _check_nonnegative(name: str, value: float) -> None:
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}={value!r}: must be finite and >= 0")


class StochasticFeeShare:
    """Fee share of the subsidy: log-OU toward ``mean_share`` plus one-step Poisson spikes."""

    def __init__(self, mean_share: float, reversion_per_year: float, volatility_per_year: float,
                 spike_intensity_per_year: float, spike_mean_share: float, initial_share: float):
        for name, v in (("mean_share", mean_share), ("volatility_per_year", volatility_per_year),
                        ("spike_intensity_per_year", spike_intensity_per_year),
                        ("spike_mean_share", spike_mean_share), ("initial_share", initial_share)):
            _check_nonnegative(name, v)
        if not (np.isfinite(reversion_per_year) and reversion_per_year > 0):
            raise ValueError(f"reversion_per_year={reversion_per_year!r}: must be finite and > 0")
        self.mean_log = math.log(max(mean_share, MIN_SHARE))
        self.zero_mean = mean_share == 0
        self.k, self.sigma = reversion_per_year, volatility_per_year
        self.spike_rate, self.spike_mean = spike_intensity_per_year, spike_mean_share
        self.initial_share = float(initial_share)
        self.x = math.log(max(initial_share, MIN_SHARE))

    def next_share(self, step: int, dt_years: float, rng: np.random.Generator) -> float:
        """Share for ``step``: step 0 returns ``initial_share``, later steps move by ``dt_years``."""
        z, u, size = rng.standard_normal(), rng.random(), rng.exponential()
        if step == 0:
            return self.initial_share
        decay = math.exp(-self.k * dt_years)
        sd = self.sigma * math.sqrt((1 - decay**2) / (2 * self.k))
        self.x = self.mean_log + (self.x - self.mean_log) * decay + sd * z
        base = 0.0 if self.zero_mean else math.exp(self.x)
        spike = size * self.spike_mean if u < 1 - math.exp(-self.spike_rate * dt_years) else 0.0
        return base + spike
