"""Power prices per site: a site's base price, the scenario's level, seasonality and shocks.

price = base x multiplier x (1 + amplitude x cos(2 pi (month - peak) / 12)): Texas-style
summer peaks (``peak_month`` 8) make high-cost sites curtail seasonally.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def power_price_usd_per_mwh(base_usd_per_mwh, month_of_year: int, seasonal_amplitude: float, peak_month: int,
                            multiplier: float = 1.0) -> np.ndarray:
    if not 1 <= month_of_year <= 12 or not 1 <= peak_month <= 12:
        raise ValueError(f"month_of_year={month_of_year}, peak_month={peak_month}: must be 1..12")
    season = 1.0 + seasonal_amplitude * math.cos(2 * math.pi * (month_of_year - peak_month) / 12)
    return np.maximum(np.asarray(base_usd_per_mwh, dtype=float) * multiplier * season, 0.0)


def apply_power_shocks(step: int, shocks: Sequence[tuple[int, int, float]]) -> float:
    """Multiplier in force at ``step`` from shocks (start_step, duration_steps, change)."""
    factor = 1.0
    for start, duration, change in shocks:
        if start <= step < start + duration:
            factor *= 1.0 + change
    return factor
