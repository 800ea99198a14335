"""The ASIC frontier, machine prices, and the per-MW economics of a fleet.

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

Per-MW economics (vectorised over sites):
- 1 MW at ``eff`` J/TH runs 1e6 / eff TH/s = 1000 / eff PH/s;
- margin ($/MW-day) = hashprice x 1000 / eff - (power + opex) x 24 h;
- machine capex ($/MW) = $/TH x 1e6 / eff;
- payback (months) = capex / (monthly margin gain). Used for curtailment (margin < 0),
  upgrade (gain of a new fleet over the old) and expansion decisions.
"""

from __future__ import annotations

import numpy as np

TH_PER_MW_AT_1_J_PER_TH = 1e6  # 1 MW / (1 J/TH) = 1e6 TH/s
PH_PER_MW_AT_1_J_PER_TH = 1e3  # the same in PH/s
HOURS_PER_DAY = 24.0


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


def mining_margin_usd_per_mw_day(hashprice_usd_per_ph_day, efficiency_j_per_th, power_price_usd_per_mwh,
                                 opex_usd_per_mwh):
    """Cash margin of one MW mining all day: hashprice x 1000/eff PH/s - (power + opex) x 24 MWh.

    Negative means the MW loses money at the margin and should be curtailed. All arguments
    broadcast (arrays over sites).
    """
    eff = np.asarray(efficiency_j_per_th, dtype=float)
    if np.any(~(eff > 0)):
        raise ValueError(f"efficiency_j_per_th={efficiency_j_per_th!r}: must be > 0")
    revenue = np.asarray(hashprice_usd_per_ph_day, dtype=float) * PH_PER_MW_AT_1_J_PER_TH / eff
    cost = (np.asarray(power_price_usd_per_mwh, dtype=float) + np.asarray(opex_usd_per_mwh, dtype=float)) * HOURS_PER_DAY
    return revenue - cost


def machine_capex_usd_per_mw(efficiency_j_per_th, price_usd_per_th):
    """Cost of filling one MW with machines: $/TH x 1e6/eff TH/s per MW (broadcasts)."""
    eff = np.asarray(efficiency_j_per_th, dtype=float)
    if np.any(~(eff > 0)):
        raise ValueError(f"efficiency_j_per_th={efficiency_j_per_th!r}: must be > 0")
    return np.asarray(price_usd_per_th, dtype=float) * TH_PER_MW_AT_1_J_PER_TH / eff


def upgrade_payback_months(capex_usd_per_mw, margin_gain_usd_per_mw_day, days_per_month):
    """Simple payback of a capex per MW from a daily margin gain per MW: capex / (gain x days).

    Infinite where the gain is not positive (the upgrade never pays). For an upgrade the
    gain is the new fleet's margin minus the old one's (floored at 0 when the old fleet would
    be curtailed); for an expansion it is the new fleet's margin.
    """
    if not (np.isfinite(days_per_month) and days_per_month > 0):
        raise ValueError(f"days_per_month={days_per_month!r}: must be finite and > 0")
    gain = np.asarray(margin_gain_usd_per_mw_day, dtype=float) * days_per_month
    capex = np.asarray(capex_usd_per_mw, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(gain > 0, capex / np.where(gain > 0, gain, 1.0), np.inf)
