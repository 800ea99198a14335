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

ASIC supply (issue 12, Deliver item 5): machines ship no faster than a manufacturing capacity
that grows, cap(t) = cap_2023 e^{g (t - 2023)} EH/s a month. Orders beyond it wait (the excess of
a step's deliveries rolls to the next step: longer lead times, as in 2021) and are priced: the
frontier price clears between that supply and the order backlog,
    price = max(floor, value(hp) x (max(backlog / capacity, spot lead) / spot lead)^k),
where value(hp) is the earning-power price above (elasticity 1 in hashprice, fitted on the
Dec-2022 spot market) and backlog / capacity is the lead time, in months, that the backlog
implies; ``SPOT_LEAD_MONTHS`` (1) is the lead of machines landed from stock. Calibration (public
by end-2022, research note buildout.md section 2): Dec 2022, spot machines at $15.7-20/TH with
~$60/PH/day (the value reference, $17); 2021, 8-9 month leads and $101-119/TH at ~$315/PH/day:
value $89/TH x 8^k = 101-119 gives k = 0.06-0.14; k = 0.1 gives $110/TH. The 2020-22 hashrate fit
prefers k = 0.2 ($135/TH; docs/calibration.md 11.1), the default. Capacity: MicroBT's
~36 EH/s in 2019 at a ~35% share (~100 EH/s industry), ~150-250 EH/s in 2021 (Canaan ~25 EH/s at
a 10-15% share; its Q4-2021 run rate implies 17-26 EH/s a month): growth ln 2 / 2 years = 0.35 a
year, and ~25 EH/s a month at the start of 2023. Tiers below the frontier are priced by their
earning power relative to it (``tier_prices_usd_per_th``).

The per-MW economics of a fleet (revenue, cash cost, machine capex, payback) live in
``marketsim.firms.economics``, next to the decisions that use them.
"""

from __future__ import annotations

import math

import numpy as np

# months from order to a machine hashing even when makers and resellers hold stock (Hashrate
# Index / research note buildout.md section 2b: "~0-1 month (spot, landed machines) in a bust")
SPOT_LEAD_MONTHS = 1.0


def _check_scalar(name: str, value: float, low: float, *, open_low: bool = False) -> None:
    if type(value) is float and math.isfinite(value) and (value > low if open_low else value >= low):
        return  # the usual case, a scenario's float, without numpy (checked several times a step)
    v = np.asarray(value, dtype=float)
    bad = ~np.isfinite(v) | ((v <= low) if open_low else (v < low))
    if np.any(bad):
        raise ValueError(f"{name}={value!r}: must be finite and {'>' if open_low else '>='} {low}")


def frontier_efficiency_j_per_th(years_since_start, start_j_per_th, improvement_per_year, floor_j_per_th):
    """J/TH of the best machine on sale ``years_since_start`` years in (negative times clamp to 0)."""
    _check_scalar("floor_j_per_th", floor_j_per_th, 0.0, open_low=True)
    if not (math.isfinite(start_j_per_th) and start_j_per_th >= floor_j_per_th):
        raise ValueError(f"floor_j_per_th={floor_j_per_th!r}: must be > 0 and <= start_j_per_th={start_j_per_th!r}")
    _check_scalar("improvement_per_year", improvement_per_year, 0.0)
    if type(years_since_start) is float and years_since_start >= 0.0:  # a step's time (once a step): no
        # 0-d arrays; the exponential is still numpy's (``math.exp`` may differ in the last bit)
        return float(floor_j_per_th + (start_j_per_th - floor_j_per_th) * np.exp(-improvement_per_year * years_since_start))
    t = np.maximum(np.asarray(years_since_start, dtype=float), 0.0)
    return floor_j_per_th + (start_j_per_th - floor_j_per_th) * np.exp(-improvement_per_year * t)


def machine_price_usd_per_th(hashprice_usd_per_ph_day, reference_hashprice, reference_price_usd_per_th,
                             elasticity, floor_usd_per_th):
    """$/TH of new machines at this hashprice ($/PH/day); the floor where hashprice is <= 0 or NaN."""
    _check_scalar("reference_hashprice", reference_hashprice, 0.0, open_low=True)
    _check_scalar("reference_price_usd_per_th", reference_price_usd_per_th, 0.0, open_low=True)
    _check_scalar("elasticity", elasticity, 0.0)
    _check_scalar("floor_usd_per_th", floor_usd_per_th, 0.0)
    if isinstance(hashprice_usd_per_ph_day, float):  # a step's scalar (once a step): Python's float
        # tests, the power still numpy's scalar power (what a 0-d array's arithmetic returns: the same bits)
        hp = float(hashprice_usd_per_ph_day)
        if not (math.isfinite(hp) and hp > 0):
            return floor_usd_per_th
        price = reference_price_usd_per_th * float(np.float64(hp / reference_hashprice) ** elasticity)
        return price if price >= floor_usd_per_th else floor_usd_per_th
    hp = np.asarray(hashprice_usd_per_ph_day, dtype=float)
    safe = np.where(np.isfinite(hp) & (hp > 0), hp, 0.0)
    price = reference_price_usd_per_th * (safe / reference_hashprice) ** elasticity
    return np.maximum(np.where(safe > 0, price, floor_usd_per_th), floor_usd_per_th)


def supply_capacity_ehs_per_month(years_since_anchor, capacity_at_anchor_ehs_per_month, growth_per_year):
    """EH/s of new machines the manufacturers can ship a month, ``years_since_anchor`` years after
    the anchor date (negative before it): cap e^{growth t}. Why exponential: wafer allocations and
    J/TH both improve by similar fractions a year (2019 -> 2021 shipments roughly doubled)."""
    _check_scalar("capacity_at_anchor_ehs_per_month", capacity_at_anchor_ehs_per_month, 0.0)
    _check_scalar("growth_per_year", growth_per_year, 0.0)
    t = np.asarray(years_since_anchor, dtype=float)
    return capacity_at_anchor_ehs_per_month * np.exp(growth_per_year * t)


def shipped_share(due_ehs, capacity_ehs):
    """Share of the EH/s due this step that ships: all of it within capacity, else capacity / due
    (the rest waits a step). Never negative; 1 when nothing is due."""
    _check_scalar("capacity_ehs", capacity_ehs, 0.0)
    if type(due_ehs) is float and type(capacity_ehs) is float:  # a step's total (once a step): the same division
        return capacity_ehs / (due_ehs if due_ehs > 0 else 1.0) if due_ehs > capacity_ehs else 1.0
    due = np.asarray(due_ehs, dtype=float)
    return np.where(due > capacity_ehs, capacity_ehs / np.where(due > 0, due, 1.0), 1.0)


def clearing_price_usd_per_th(value_price_usd_per_th, backlog_ehs, capacity_ehs_per_month, scarcity_elasticity,
                              floor_usd_per_th, spot_lead_months=SPOT_LEAD_MONTHS):
    """$/TH of frontier machines when ``backlog_ehs`` is on order against a supply of
    ``capacity_ehs_per_month``: the (spot) earning-power price times (implied lead / spot
    lead)^k, the implied lead being backlog / capacity months and never below the spot lead;
    never below the floor. Rises when orders outrun capacity, falls back to the spot price as the
    backlog clears; k = 0 is the pure earning-power price."""
    _check_scalar("spot_lead_months", spot_lead_months, 0.0, open_low=True)
    _check_scalar("scarcity_elasticity", scarcity_elasticity, 0.0)
    _check_scalar("floor_usd_per_th", floor_usd_per_th, 0.0)
    if all(isinstance(x, float) for x in (value_price_usd_per_th, backlog_ehs, capacity_ehs_per_month)):
        # a step's scalars: the same operations in Python floats, the power numpy's scalar power (same bits)
        backlog, cap = max(float(backlog_ehs), 0.0), float(capacity_ehs_per_month)
        lead = backlog / cap if cap > 0 else math.inf
        ratio = lead / spot_lead_months
        scale = float(np.float64(1.0 if ratio <= 1.0 else ratio) ** scarcity_elasticity)
        raw = float(value_price_usd_per_th) * scale
        if math.isnan(raw):
            raw = floor_usd_per_th
        elif raw == math.inf:
            raw = np.finfo(float).max
        return raw if raw >= floor_usd_per_th else floor_usd_per_th
    value = np.asarray(value_price_usd_per_th, dtype=float)
    backlog = np.maximum(np.asarray(backlog_ehs, dtype=float), 0.0)
    cap = np.asarray(capacity_ehs_per_month, dtype=float)
    with np.errstate(over="ignore"):  # a lead past the float range is infinite: handled below
        implied_lead = np.where(cap > 0, backlog / np.where(cap > 0, cap, 1.0), np.inf)
        scale = np.maximum(implied_lead / spot_lead_months, 1.0) ** scarcity_elasticity
    raw = value * scale
    # ``np.nan_to_num(raw, nan=floor, posinf=max)`` (-inf goes to the floor below either way), without
    # its ~20 us of generic set-up on a scalar
    raw = np.where(np.isnan(raw), floor_usd_per_th, np.where(raw == np.inf, np.finfo(float).max, raw))
    return np.maximum(raw, floor_usd_per_th)


def tier_prices_usd_per_th(frontier_price_usd_per_th, frontier_j_per_th, tier_j_per_th, hashprice_usd_per_ph_day,
                           power_cost_usd_per_mwh):
    """$/TH of machines of each efficiency tier: the frontier price times the tier's daily margin
    per TH over the frontier's (what a TH earns above its power bill), zero where it earns
    nothing. A buyer pays for earning power, so prices fall with J/TH (ordered by efficiency)."""
    hp_th = np.asarray(hashprice_usd_per_ph_day, dtype=float) / 1000.0  # $/TH/day
    cost_per_j = power_cost_usd_per_mwh * 24.0 / 1e6  # $ per (J/s) per day = $ per W per day
    tier = np.asarray(tier_j_per_th, dtype=float)
    margin = np.maximum(hp_th - cost_per_j * tier, 0.0)
    frontier_margin = hp_th - cost_per_j * frontier_j_per_th
    if not frontier_margin > 0:
        return np.zeros_like(tier)
    return frontier_price_usd_per_th * np.minimum(margin / frontier_margin, 1.0)
