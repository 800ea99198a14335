"""AI/HPC hosting demand at (former) mining sites, and the lease market that clears it.

Demand (MW of critical IT tenants want from converted mining sites, cumulative):
- ``logistic``: a logistic curve toward ``max_mw`` with its midpoint at ``midpoint_years``,
  shifted so demand at t = 0 equals ``initial_mw``;
- ``boom_bust``: the same until ``bust_years``, then it decays exponentially at
  ``bust_speed_per_year`` toward ``bust_floor_share`` of the level reached at the turn.

Clearing: tenants take min(new demand, MW on offer), pro rata across offering sites. The rate
moves by partial adjustment toward scarcity, rate' = rate x (1 + adjustment x tightness) with
tightness = (demand - offered) / max(demand, offered) in [-1, 1], clipped to [floor, cap]: a
shortage raises it, a glut lowers it and leaves MW unleased.
"""

from __future__ import annotations

import math

import numpy as np

KINDS = {
    "logistic": ("max_mw", "midpoint_years", "steepness_per_year", "initial_mw"),
    "boom_bust": ("max_mw", "midpoint_years", "steepness_per_year", "initial_mw", "bust_years",
                  "bust_floor_share", "bust_speed_per_year"),
}


def _logistic(t, max_mw, midpoint_years, steepness_per_year, initial_mw):
    raw = lambda x: max_mw / (1.0 + math.exp(-steepness_per_year * (x - midpoint_years)))  # noqa: E731
    r0 = raw(0.0)
    if max_mw <= r0:
        return max_mw
    # rescale so that f(0) = initial_mw and f(inf) = max_mw
    return initial_mw + (raw(t) - r0) * (max_mw - initial_mw) / (max_mw - r0)


def ai_demand_mw(years_since_start: float, kind: str, **params) -> float:
    if kind not in KINDS:
        raise ValueError(f"ai demand kind {kind!r}: allowed kinds are {', '.join(KINDS)}")
    missing = [p for p in KINDS[kind] if p not in params]
    if missing:
        raise ValueError(f"ai demand kind {kind!r}: missing parameter(s) {', '.join(missing)}")
    base = (params["max_mw"], params["midpoint_years"], params["steepness_per_year"], params["initial_mw"])
    t = max(float(years_since_start), 0.0)
    if kind == "logistic" or t <= params["bust_years"]:
        return _logistic(t, *base)
    peak = _logistic(params["bust_years"], *base)
    floor = params["bust_floor_share"] * peak
    return floor + (peak - floor) * math.exp(-params["bust_speed_per_year"] * (t - params["bust_years"]))


def clear_lease_market(new_demand_mw: float, offered_mw: np.ndarray, current_rate_usd_per_kw_month: float,
                       adjustment_per_step: float, floor_rate: float, cap_rate: float) -> tuple[np.ndarray, float]:
    if floor_rate > cap_rate:
        raise ValueError(f"floor_rate={floor_rate} must not exceed cap_rate={cap_rate}")
    offered = np.clip(np.asarray(offered_mw, dtype=float), 0.0, None)
    demand = max(float(new_demand_mw), 0.0)
    supply = float(offered.sum())
    leased_total = min(demand, supply)
    leased = offered * (leased_total / supply) if supply > 0 else np.zeros_like(offered)
    return leased, adjust_lease_rate(current_rate_usd_per_kw_month, demand, supply, adjustment_per_step,
                                     floor_rate, cap_rate)


def adjust_lease_rate(rate_usd_per_kw_month: float, demand_mw: float, supply_mw: float, adjustment_per_step: float,
                      floor_rate: float, cap_rate: float) -> float:
    """Partial adjustment toward scarcity: rate x (1 + adjustment x tightness), clipped."""
    scale = max(demand_mw, supply_mw)
    tightness = (demand_mw - supply_mw) / scale if scale > 0 else 0.0
    rate = rate_usd_per_kw_month * (1.0 + adjustment_per_step * tightness)
    return float(min(max(rate, floor_rate), cap_rate))
