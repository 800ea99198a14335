"""The ASIC frontier and machine prices.

Frontier (J/TH of the best machine on sale, ``t`` in years):
    eff(t) = floor + (start - floor) e^{-rate t}.
Why exponential toward a floor: each generation cuts J/TH by a similar fraction, but chips
approach physical limits. Calibration: start 21.5 J/TH (S19 XP, 2022), floor 8 and rate
0.35/yr give 17.5 J/TH after one year and 14.7 after two (S21 17.5 and S21 Pro 15 in 2024,
S21 XP 13.5 late 2024; volume shipments lag launches). 2020-22 (S19 Pro 29.5 to S19 XP 21.5)
fits a rate of about 0.2.

Machine price ($/TH): price = max(floor, ref x (hp / ref_hp)^elasticity).
Why: machines are bought for the revenue they earn, so their price moves with hashprice
(collapsing in 2022, recovering with it), which makes the payback of a new machine recover
faster than revenue. Calibration (Hashrate Index, best tier): ~$15.7-20/TH at ~$60/PH/day
(Nov-Dec 2022) and ~$119/TH at ~$315/PH/day (2021 average hashprice, May-2021 peak price):
elasticity = log(119 / 17) / log(315 / 60) = 1.95 / 1.66 = 1.17 (1.08 with $20/TH); an
elasticity of about 1 fits, i.e. $/TH roughly proportional to hashprice (~$0.28/TH per
$/PH/day).

The per-MW economics of a fleet (revenue, cash cost, machine capex, payback) live in
``marketsim.firms.economics``, next to the decisions that use them.
"""

from __future__ import annotations

import numpy as np


def _check_scalar(name: str, value: float, low: float, *, open_low: bool = False) -> None:
    v = np.asarray(value, dtype=float)
    bad = ~np.isfinite(v) | ((v <= low) if open_low else (v < low))
    if np.any(bad):
        raise ValueError(f"{name}={value!r}: must be finite and {'>' if open_low else '>='} {low}")


def frontier_efficiency_j_per_th(years_since_start, start_j_per_th, improvement_per_year, floor_j_per_th):
    """J/TH of the best machine on sale ``years_since_start`` years in (negative times clamp to 0)."""
    _check_scalar("floor_j_per_th", floor_j_per_th, 0.0, open_low=True)
    if not (np.isfinite(start_j_per_th) and start_j_per_th >= floor_j_per_th):
        raise ValueError(f"floor_j_per_th={floor_j_per_th!r}: must be > 0 and <= start_j_per_th={start_j_per_th!r}")
    _check_scalar("improvement_per_year", improvement_per_year, 0.0)
    t = np.maximum(np.asarray(years_since_start, dtype=float), 0.0)
    return floor_j_per_th + (start_j_per_th - floor_j_per_th) * np.exp(-improvement_per_year * t)


def machine_price_usd_per_th(hashprice_usd_per_ph_day, reference_hashprice, reference_price_usd_per_th,
                             elasticity, floor_usd_per_th):
    """$/TH of new machines at this hashprice ($/PH/day); the floor where hashprice is <= 0 or NaN."""
    _check_scalar("reference_hashprice", reference_hashprice, 0.0, open_low=True)
    _check_scalar("reference_price_usd_per_th", reference_price_usd_per_th, 0.0, open_low=True)
    _check_scalar("elasticity", elasticity, 0.0)
    _check_scalar("floor_usd_per_th", floor_usd_per_th, 0.0)
    hp = np.asarray(hashprice_usd_per_ph_day, dtype=float)
    safe = np.where(np.isfinite(hp) & (hp > 0), hp, 0.0)
    price = reference_price_usd_per_th * (safe / reference_hashprice) ** elasticity
    return np.maximum(np.where(safe > 0, price, floor_usd_per_th), floor_usd_per_th)
