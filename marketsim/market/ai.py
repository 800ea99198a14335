"""AI/HPC hosting demand at (former) mining sites, the lease market that clears it, and the
value of a signed lease.

Demand (MW of critical IT that AI tenants want from converted mining sites, cumulative;
``t`` in years since the run's start, negative times clamp to 0):
- ``logistic`` (max_mw, midpoint_years, steepness_per_year, initial_mw): a logistic curve
  L(t) = max / (1 + e^{-k (t - mid)}), rescaled so that f(0) = initial_mw and f(inf) = max_mw:
  f(t) = initial + (L(t) - L(0)) x (max - initial) / (max - L(0)). Why: adoption curves.
- ``boom_bust`` (the logistic's parameters plus bust_years, bust_floor_share,
  bust_speed_per_year): the logistic until ``bust_years``; then demand decays exponentially
  toward ``bust_floor_share`` of the level P reached at the turn:
  f(t) = F + (P - F) e^{-speed (t - bust)}, F = share x P. Why: tenants cancel or do not
  renew when an AI boom ends, after miners have committed to conversions.
- ``waves`` (lists max_mw, midpoint_years, steepness_per_year; scalar initial_mw): the sum of
  logistic waves, each rescaled to add 0 at t = 0 and ``max_mw[i]`` at t = inf, on top of
  ``initial_mw``: f(t) = initial + sum_i g_i(t). Why: announced leases clustered in mid-2024
  and from mid-2025 (calibration.md section 4), not along one smooth curve.

Clearing (one step): tenants take min(new demand, MW on offer), pro rata across offering
sites. The rate for new leases ($ per kW of critical IT per month) moves by partial
adjustment toward scarcity:
    rate' = clip(rate x (1 + adjustment x tightness), floor, cap),
    tightness = (demand - offered) / max(demand, offered) in [-1, 1] (0 when both are 0).
A shortage raises it, a glut lowers it and leaves MW unleased. ``adjustment`` <= 1 keeps the
rate positive before the clip.

Lease value: PV of a lease's net operating income, see ``firms.economics.lease_pv_per_gross_mw``.
"""

from __future__ import annotations

import numpy as np

KW_PER_MW = 1000.0
MONTHS_PER_YEAR = 12.0

KINDS = {
    "logistic": ("max_mw", "midpoint_years", "steepness_per_year", "initial_mw"),
    "boom_bust": ("max_mw", "midpoint_years", "steepness_per_year", "initial_mw", "bust_years",
                  "bust_floor_share", "bust_speed_per_year"),
    "waves": ("max_mw", "midpoint_years", "steepness_per_year", "initial_mw"),
}


def _bad(name: str, value, rule: str) -> ValueError:
    return ValueError(f"ai demand parameter {name}={value!r}: must be {rule}")


def _sigmoid(x):
    """1 / (1 + e^{-x}) without overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))


def _logistic(t, max_mw, midpoint_years, steepness_per_year, initial_mw):
    """Logistic toward ``max_mw`` rescaled so that f(0) = ``initial_mw`` (see module doc)."""
    r0 = max_mw * _sigmoid(-steepness_per_year * midpoint_years)
    if max_mw - r0 <= 0:  # the curve is already saturated at t = 0
        return np.full_like(np.asarray(t, dtype=float), float(max_mw))
    raw = max_mw * _sigmoid(steepness_per_year * (np.asarray(t, dtype=float) - midpoint_years))
    return initial_mw + (raw - r0) * (max_mw - initial_mw) / (max_mw - r0)


def _validate(kind: str, params: dict) -> None:
    if kind not in KINDS:
        raise ValueError(f"ai demand kind {kind!r}: allowed kinds are {', '.join(KINDS)}")
    missing = [p for p in KINDS[kind] if p not in params]
    if missing:
        raise ValueError(f"ai demand kind {kind!r}: missing parameter(s) {', '.join(missing)}")
    extra = [p for p in params if p not in KINDS[kind]]
    if extra:
        raise ValueError(f"ai demand kind {kind!r}: unknown parameter(s) {', '.join(extra)}; "
                         f"expected {', '.join(KINDS[kind])}")
    initial = params["initial_mw"]
    if not (np.isfinite(initial) and initial >= 0):
        raise _bad("initial_mw", initial, "finite and >= 0")
    if kind == "waves":
        lists = {p: np.atleast_1d(np.asarray(params[p], dtype=float))
                 for p in ("max_mw", "midpoint_years", "steepness_per_year")}
        sizes = {p: v.size for p, v in lists.items()}
        if len(set(sizes.values())) != 1 or sizes["max_mw"] == 0:
            raise ValueError(f"ai demand kind 'waves': max_mw, midpoint_years, steepness_per_year must be "
                             f"non-empty lists of one length; got lengths {sizes}")
        waves = list(zip(*(lists[p] for p in ("max_mw", "midpoint_years", "steepness_per_year"))))
        for i, (mx, mid, k) in enumerate(waves):
            if not (np.isfinite(mx) and mx >= 0):
                raise _bad(f"max_mw[{i}]", mx, "finite and >= 0")
            if not np.isfinite(mid):
                raise _bad(f"midpoint_years[{i}]", mid, "finite")
            if not (np.isfinite(k) and k > 0):
                raise _bad(f"steepness_per_year[{i}]", k, "finite and > 0")
        return
    mx, mid, k = params["max_mw"], params["midpoint_years"], params["steepness_per_year"]
    if not (np.isfinite(mx) and mx >= initial):
        raise _bad("max_mw", mx, f"finite and >= initial_mw={initial!r}")
    if not np.isfinite(mid):
        raise _bad("midpoint_years", mid, "finite")
    if not (np.isfinite(k) and k > 0):
        raise _bad("steepness_per_year", k, "finite and > 0")
    if kind == "boom_bust":
        if not (np.isfinite(params["bust_years"]) and params["bust_years"] >= 0):
            raise _bad("bust_years", params["bust_years"], "finite and >= 0")
        if not 0 <= params["bust_floor_share"] <= 1:
            raise _bad("bust_floor_share", params["bust_floor_share"], "in [0, 1]")
        if not (np.isfinite(params["bust_speed_per_year"]) and params["bust_speed_per_year"] >= 0):
            raise _bad("bust_speed_per_year", params["bust_speed_per_year"], "finite and >= 0")


def ai_demand_mw(years_since_start, kind: str, **params):
    """Cumulative IT MW AI tenants want from converted mining sites at ``years_since_start``.

    A float for a scalar time, an array for an array of times. ``kind`` and its parameters are
    described in the module docstring; unknown kinds, missing, unknown or out-of-range
    parameters raise ValueError naming them.
    """
    _validate(kind, params)
    t = np.maximum(np.asarray(years_since_start, dtype=float), 0.0)
    if kind == "waves":
        out = np.full_like(t, float(params["initial_mw"]))
        for mx, mid, k in zip(*(np.atleast_1d(np.asarray(params[p], dtype=float))
                                for p in ("max_mw", "midpoint_years", "steepness_per_year"))):
            out = out + _logistic(t, mx, mid, k, 0.0)
    else:
        base = (params["max_mw"], params["midpoint_years"], params["steepness_per_year"], params["initial_mw"])
        out = _logistic(t, *base)
        if kind == "boom_bust":
            turn = float(params["bust_years"])
            peak = float(_logistic(turn, *base))
            floor = params["bust_floor_share"] * peak
            decayed = floor + (peak - floor) * np.exp(-params["bust_speed_per_year"] * np.maximum(t - turn, 0.0))
            out = np.where(t <= turn, out, decayed)
    return float(out) if out.ndim == 0 else out


def _check_rate_bounds(floor_rate: float, cap_rate: float) -> None:
    if not (np.isfinite(floor_rate) and floor_rate >= 0):
        raise ValueError(f"floor_rate={floor_rate!r}: must be finite and >= 0")
    if not (np.isfinite(cap_rate) and cap_rate >= floor_rate):
        raise ValueError(f"cap_rate={cap_rate!r}: must be finite and >= floor_rate={floor_rate!r}")


def clear_lease_market(new_demand_mw: float, offered_mw: np.ndarray, current_rate_usd_per_kw_month: float,
                       adjustment_per_step: float, floor_rate: float, cap_rate: float) -> tuple[np.ndarray, float]:
    """Lease new demand against the MW on offer; return (leased MW per site, new rate).

    ``offered_mw`` is each site's converted, unleased IT MW (negative entries count as 0).
    Leased = offered x min(demand, total offered) / total offered (pro rata), so it never
    exceeds a site's offer or the demand and sums to min(demand, total). The rate follows the
    partial-adjustment rule in the module docstring.
    """
    _check_rate_bounds(floor_rate, cap_rate)
    offered = np.clip(np.asarray(offered_mw, dtype=float), 0.0, None)
    if not np.all(np.isfinite(offered)):
        raise ValueError(f"offered_mw={offered_mw!r}: must be finite")
    if not np.isfinite(new_demand_mw):
        raise ValueError(f"new_demand_mw={new_demand_mw!r}: must be finite")
    demand = max(float(new_demand_mw), 0.0)
    supply = float(offered.sum())
    leased_total = min(demand, supply)
    leased = offered * (leased_total / supply) if supply > 0 else np.zeros_like(offered)
    return leased, adjust_lease_rate(current_rate_usd_per_kw_month, demand, supply, adjustment_per_step,
                                     floor_rate, cap_rate)


def adjust_lease_rate(rate_usd_per_kw_month: float, demand_mw: float, supply_mw: float, adjustment_per_step: float,
                      floor_rate: float, cap_rate: float) -> float:
    """Partial adjustment toward scarcity: clip(rate x (1 + adjustment x tightness), floor, cap)."""
    _check_rate_bounds(floor_rate, cap_rate)
    if not (np.isfinite(adjustment_per_step) and 0 <= adjustment_per_step <= 1):
        raise ValueError(f"adjustment_per_step={adjustment_per_step!r}: must be in [0, 1]")
    if not (np.isfinite(rate_usd_per_kw_month) and rate_usd_per_kw_month >= 0):
        raise ValueError(f"current_rate_usd_per_kw_month={rate_usd_per_kw_month!r}: must be finite and >= 0")
    demand, supply = max(float(demand_mw), 0.0), max(float(supply_mw), 0.0)
    scale = max(demand, supply)
    tightness = (demand - supply) / scale if scale > 0 else 0.0
    rate = rate_usd_per_kw_month * (1.0 + adjustment_per_step * tightness)
    return float(min(max(rate, floor_rate), cap_rate))
