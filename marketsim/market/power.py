"""Power prices per site: a site's base price, the scenario's level, seasonality and shocks.

Form ($/MWh): price = max(0, base x multiplier x (1 + amplitude x cos(2 pi (month - peak) / 12))).
Why: a site's contract or tariff sets its base; the scenario scales all sites at once
(``multiplier``: a level plus temporary shocks such as a gas-price spike); seasonality makes
high-cost sites curtail in peak months (Texas summer: ``peak_month`` 8). The cosine peaks at
``peak_month`` and bottoms six months later; an amplitude above 1 would make the trough
negative, so the price is floored at zero. Vectorised over sites.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from marketsim import units

MONTHS_PER_YEAR = round(units.MONTHS_PER_YEAR)  # an int: months of the year are numbered 1..12


def power_price_usd_per_mwh(base_usd_per_mwh, month_of_year: int, seasonal_amplitude: float, peak_month: int,
                            multiplier: float = 1.0) -> np.ndarray:
    """Each site's power price this month ($/MWh), from its base ($/MWh, array over sites)."""
    if not 1 <= month_of_year <= MONTHS_PER_YEAR:
        raise ValueError(f"month_of_year={month_of_year!r}: must be an integer in 1..12")
    if not 1 <= peak_month <= MONTHS_PER_YEAR:
        raise ValueError(f"peak_month={peak_month!r}: must be an integer in 1..12")
    # scalars: ``math.isfinite`` answers as ``np.isfinite`` does, without a ufunc call on a 0-d array
    if not (math.isfinite(seasonal_amplitude) and seasonal_amplitude >= 0):
        raise ValueError(f"seasonal_amplitude={seasonal_amplitude!r}: must be finite and >= 0")
    if not (math.isfinite(multiplier) and multiplier >= 0):
        raise ValueError(f"multiplier={multiplier!r}: must be finite and >= 0")
    season = 1.0 + seasonal_amplitude * math.cos(2 * math.pi * (month_of_year - peak_month) / MONTHS_PER_YEAR)
    return np.maximum(np.asarray(base_usd_per_mwh, dtype=float) * multiplier * season, 0.0)


def apply_power_shocks(step: int, shocks: Sequence[tuple[int, int, float]]) -> float:
    """Multiplier in force at ``step`` from shocks (start_step, duration_steps, change).

    A shock multiplies power prices by (1 + change) for steps start <= step < start + duration
    and then lapses (power spikes are temporary, unlike a BTC price level shift). Overlapping
    shocks compound. Returns 1.0 when none is in force.
    """
    factor = 1.0
    for i, (start, duration, change) in enumerate(shocks):
        if start < 0 or duration < 0 or not np.isfinite(change) or change < -1.0:
            raise ValueError(f"shocks[{i}]=({start}, {duration}, {change}): start_step and duration_steps must "
                             f"be >= 0 and change finite and >= -1")
        if start <= step < start + duration:
            factor *= 1.0 + change
    return factor
