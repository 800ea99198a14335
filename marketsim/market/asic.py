"""The ASIC frontier and machine prices.

Frontier: the best machine on sale improves exponentially toward a physical floor,
floor + (start - floor) e^{-rate t}. With start 21.5 J/TH (S19 XP, 2022), floor 8 and rate
0.35/yr it gives 17.0 J/TH after one year and 14.7 after two (S21 17.5 and S21 Pro 15 in 2024,
S21 XP 13.5 late 2024; volume shipments lag launches). 2020-22 (S19 Pro 29.5 to S19 XP 21.5)
fits a rate of 0.2.

Machine price: prices follow hashprice, ref x (hp / ref_hp)^elasticity, floored. Calibration:
best-tier machines cost ~$15.7-20/TH at ~$60/PH/day (Dec 2022) and ~$119/TH at ~$315/PH/day
(2021 peak); log(119/17)/log(315/60) = 1.17, so an elasticity of about 1 fits.
"""

from __future__ import annotations

import numpy as np


def frontier_efficiency_j_per_th(years_since_start, start_j_per_th, improvement_per_year, floor_j_per_th):
    if floor_j_per_th <= 0 or start_j_per_th < floor_j_per_th:
        raise ValueError(f"floor_j_per_th={floor_j_per_th}: must be > 0 and <= start_j_per_th={start_j_per_th}")
    t = np.maximum(np.asarray(years_since_start, dtype=float), 0.0)
    return floor_j_per_th + (start_j_per_th - floor_j_per_th) * np.exp(-improvement_per_year * t)


def machine_price_usd_per_th(hashprice_usd_per_ph_day, reference_hashprice, reference_price_usd_per_th,
                             elasticity, floor_usd_per_th):
    if reference_hashprice <= 0:
        raise ValueError(f"reference_hashprice={reference_hashprice}: must be > 0")
    hp = np.asarray(hashprice_usd_per_ph_day, dtype=float)
    safe = np.where(np.isfinite(hp) & (hp > 0), hp, 0.0)
    price = reference_price_usd_per_th * (safe / reference_hashprice) ** elasticity
    return np.maximum(np.where(safe > 0, price, floor_usd_per_th), floor_usd_per_th)
