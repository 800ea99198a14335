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

**Dated history before the curve** (``dated_then_curve``): where the scenario gives the demand
as dated points (the deals as announced), demand follows them, linear between points and flat
before the first, up to the last point's date T with y MW; after it the curve continues from
there, shifted in time so that demand does not jump: f(t - s) with f(T - s) = y
(``handover_shift_years``; no shift when the curve's rising logistic never passes y, and then
demand steps to the curve). Why dated points: over the years the data covers, demand is an
exogenous driver like the price, and the deals came in waves (mid-2024, then from mid-2025;
calibration.md section 7.1) that no smooth curve through yearly totals has: the logistic through
them wants ~60 MW by mid-2024, when ~580 MW had been signed by October. Why the shift: the curve
and the deal list are two readings of the same announcements (the curve also counts a GPU-cloud
contract and converts rates to the reference), ~340 MW apart at the hand-over in December 2025; a step of that size in
one month would read as a wave of deals that nobody announced.

The curve is the IT MW tenants want *at a reference rate* (``reference_rate``, $/kW-month).
Above it they want less, linearly, down to zero at the **choke rate**, the rate at which a
tenant prefers to wait for a greenfield data centre; below it they want only a little more,
with a small price elasticity ``elasticity_below`` (e, at the reference rate):
    share(r) = max(0, (choke - r) / (choke - reference))      for r >= reference,
    share(r) = 1 + e x (reference - r) / reference             for r <  reference,
    choke = greenfield_rent x (1 + speed_value_per_year x (greenfield_lead - miner_lead)).
Why the choke: miners sell *speed to power* (about a year, against 4+ years for a greenfield
hall in the interconnection queue); a tenant pays a premium over the greenfield rent for each
year gained, and no more (MODEL.md; calibration.md section 6.3). Why the kink: the MW a
GPU-cloud tenant needs are set by the GPUs it has bought or ordered; rent is ~15% of what a MW
of running GPUs costs a year, so a cheaper rent barely changes how many MW it wants (e = 0 is a
vertical segment), while a dearer one makes it wait for a greenfield hall instead.

Clearing (one step, ``clear_lease_market``): new leases demanded at rate r are
    Q(r) = max(0, wanted x share(r) - contracted)
(the backlog of tenants not yet served at that rate; signed leases keep their own rate).
Supply is a list of offers (MW, reservation rate). Sort offers by reservation rate, take
their cumulative sum S, and cut where demand at that rate is met: the clearing rate r* is the
lowest rate at which S(r*) >= Q(r*). Either the marginal offer sets it (and is partly
filled), or demand does (between two offers, r* solves Q(r*) = S; above the last offer when
every offer is taken). Q is non-increasing and continuous, so the cut is unique; on a vertical
segment (e = 0, r below the reference) the quantity is fixed and the marginal offer sets the
rate. No cap: r* never exceeds the choke rate, because Q(choke) = 0.

Lease value: PV of a lease's net operating income, see ``firms.economics.lease_pv_per_gross_mw``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_WANTED_MW = 1e-9  # below this nobody is asking (and the inverse demand would overflow)
MIN_RATE = 1e-9  # $/kW-month: a zero reference rate has no "below" (guards the division)

KINDS = {
    "logistic": ("max_mw", "midpoint_years", "steepness_per_year", "initial_mw"),
    "boom_bust": ("max_mw", "midpoint_years", "steepness_per_year", "initial_mw", "bust_years",
                  "bust_floor_share", "bust_speed_per_year"),
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


def handover_shift_years(kind: str, params: dict, last_years: float, last_mw: float) -> float:
    """s such that the curve ``kind`` (``params``) at ``last_years - s`` wants ``last_mw``:
    the rescaled logistic of the module doc inverted, t = mid + logit(L / max) / k with
    L = L(0) + (y - initial) (max - L(0)) / (max - initial). 0 when no t gives y (y outside
    the logistic's range): demand then steps to the curve at the hand-over."""
    _validate(kind, params)
    mx, mid, k, initial = (params["max_mw"], params["midpoint_years"], params["steepness_per_year"],
                           params["initial_mw"])
    r0 = mx * float(_sigmoid(-k * mid))
    if not (mx > initial and mx - r0 > 0 and initial < last_mw < mx):
        return 0.0
    level = (r0 + (last_mw - initial) * (mx - r0) / (mx - initial)) / mx
    if not 0.0 < level < 1.0:
        return 0.0
    return float(last_years - (mid + np.log(level / (1.0 - level)) / k))


def dated_points(years, mw) -> tuple[np.ndarray, np.ndarray]:
    """The dated history as float arrays, checked: >= 2 points, times finite and strictly
    increasing, MW finite and >= 0 (ValueError naming the bad one)."""
    years, mw = np.asarray(years, dtype=float), np.asarray(mw, dtype=float)
    if years.ndim != 1 or years.shape != mw.shape or len(years) < 2:
        raise _bad("years", years.tolist(), f"a list of >= 2 times, as long as mw ({mw.size})")
    if not (np.all(np.isfinite(years)) and np.all(np.diff(years) > 0)):
        raise _bad("years", years.tolist(), "finite and strictly increasing")
    if not (np.all(np.isfinite(mw)) and np.all(mw >= 0)):
        raise _bad("mw", mw.tolist(), "finite and >= 0")
    return years, mw


def dated_then_curve(years_since_start: float, years: np.ndarray, mw: np.ndarray, curve,
                     shift_years: float = 0.0) -> float:
    """Demand at ``years_since_start``: the dated points (``dated_points``; linear between
    them, flat before the first) up to the last point, then ``curve`` delayed by
    ``shift_years`` (``handover_shift_years``; see the module doc)."""
    t = max(float(years_since_start), 0.0)
    if t <= years[-1]:
        return float(np.interp(t, years, mw))
    return float(curve(t - shift_years))


def ai_demand_mw(years_since_start, kind: str, **params):
    """Cumulative IT MW AI tenants want from converted mining sites at ``years_since_start``.

    A float for a scalar time, an array for an array of times. ``kind`` and its parameters are
    described in the module docstring; unknown kinds, missing, unknown or out-of-range
    parameters raise ValueError naming them.
    """
    _validate(kind, params)
    return _demand_mw(years_since_start, kind, params)


def demand_curve(kind: str, **params):
    """``ai_demand_mw`` with its parameters checked once: a function of the years since the start
    (the market asks it once a step; the checks cost more than the curve)."""
    _validate(kind, params)
    return lambda years_since_start: _demand_mw(years_since_start, kind, params)


def _demand_mw(years_since_start, kind: str, params: dict):
    t = np.maximum(np.asarray(years_since_start, dtype=float), 0.0)
    base = (params["max_mw"], params["midpoint_years"], params["steepness_per_year"], params["initial_mw"])
    out = _logistic(t, *base)
    if kind == "boom_bust":
        turn = float(params["bust_years"])
        peak = float(_logistic(turn, *base))
        floor = params["bust_floor_share"] * peak
        decayed = floor + (peak - floor) * np.exp(-params["bust_speed_per_year"] * np.maximum(t - turn, 0.0))
        out = np.where(t <= turn, out, decayed)
    return float(out) if out.ndim == 0 else out


def greenfield_choke_rate(greenfield_rent_usd_per_kw_month: float, speed_value_per_year: float,
                          greenfield_lead_years: float, miner_lead_years: float) -> float:
    """Highest rate a tenant pays at a mining site before waiting for a greenfield hall."""
    years_gained = max(0.0, greenfield_lead_years - miner_lead_years)
    return float(greenfield_rent_usd_per_kw_month * (1.0 + speed_value_per_year * years_gained))


def _check_curve(reference_rate: float, choke_rate: float, elasticity_below: float) -> None:
    """ValueError unless choke > reference >= 0 (both finite) and the elasticity is finite and >= 0
    (plain float checks: ``math.isfinite`` is the same test as ``np.isfinite`` on a number)."""
    if not (math.isfinite(choke_rate) and math.isfinite(reference_rate) and choke_rate > reference_rate >= 0):
        raise ValueError(f"choke_rate={choke_rate!r}: must be finite and above reference_rate={reference_rate!r} >= 0")
    if not (math.isfinite(elasticity_below) and elasticity_below >= 0):
        raise ValueError(f"elasticity_below={elasticity_below!r}: must be finite and >= 0")


def tenant_demand_share(rate, reference_rate: float, choke_rate: float, elasticity_below: float):
    """share(r): 1 at the reference rate, falling linearly to 0 at the choke above it, and rising
    with price elasticity ``elasticity_below`` below it (see the module docstring)."""
    _check_curve(reference_rate, choke_rate, elasticity_below)
    r = np.asarray(rate, dtype=float)
    above = np.maximum(0.0, (choke_rate - r) / (choke_rate - reference_rate))
    below = 1.0 + elasticity_below * (reference_rate - r) / max(reference_rate, MIN_RATE)
    return np.where(r < reference_rate, below, above)


def tenant_demand_share_at(rate: float, reference_rate: float, choke_rate: float, elasticity_below: float) -> float:
    """``tenant_demand_share`` at one rate, as a float: the same branch and the same arithmetic on
    plain floats (IEEE doubles either way), without numpy's ~10 us of array set-up; the market asks
    it two or three times a step. ``np.maximum(0, x)`` keeps a NaN x, and so does this."""
    _check_curve(reference_rate, choke_rate, elasticity_below)
    return _share_at(float(rate), reference_rate, choke_rate, elasticity_below)


def _share_at(r: float, reference_rate: float, choke_rate: float, elasticity_below: float) -> float:
    """``tenant_demand_share_at`` of a checked curve."""
    if r < reference_rate:
        return 1.0 + elasticity_below * (reference_rate - r) / max(reference_rate, MIN_RATE)
    above = (choke_rate - r) / (choke_rate - reference_rate)
    return above if above > 0.0 or above != above else 0.0


def new_lease_demand_mw(rate, wanted_mw: float, contracted_mw: float, reference_rate: float, choke_rate: float,
                        elasticity_below: float):
    """Q(r) = max(0, wanted x share(r) - contracted): IT MW of new leases tenants sign at ``rate``."""
    share = tenant_demand_share(rate, reference_rate, choke_rate, elasticity_below)
    return np.maximum(0.0, wanted_mw * share - contracted_mw)


def new_lease_demand_mw_at(rate: float, wanted_mw: float, contracted_mw: float, reference_rate: float,
                           choke_rate: float, elasticity_below: float) -> float:
    """``new_lease_demand_mw`` at one rate, as a float (``tenant_demand_share_at``: the same numbers)."""
    _check_curve(reference_rate, choke_rate, elasticity_below)
    return _demand_at(float(rate), wanted_mw, contracted_mw, reference_rate, choke_rate, elasticity_below)


def _demand_at(r: float, wanted_mw: float, contracted_mw: float, reference_rate: float, choke_rate: float,
               elasticity_below: float) -> float:
    """``new_lease_demand_mw_at`` of a checked curve."""
    q = wanted_mw * _share_at(r, reference_rate, choke_rate, elasticity_below) - contracted_mw
    return float(q) if q > 0.0 or q != q else 0.0


def _first_met(cum: np.ndarray, r_sorted: np.ndarray, curve: tuple) -> int:
    """The first offer k (in rate order) whose cumulative MW ``cum[k]`` meets the demand at its rate,
    ``len(cum)`` when none does: ``(cum >= Q(r_sorted)).nonzero()[0][0]``. Q is non-increasing in
    the rate (each operation of ``_demand_at`` is monotone under rounding, and at the reference the
    lower branch is >= 1 >= the upper) and ``cum`` non-decreasing, so the test is false and then
    true: a bisection asks Q at ~log2(n) offers, in plain floats, where the array form costs a dozen
    numpy calls on all of them."""
    lo, hi = 0, len(cum)
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] >= _demand_at(float(r_sorted[mid]), *curve):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _rate_for_quantity(quantity_mw: float, wanted_mw: float, contracted_mw: float, reference_rate: float,
                       choke_rate: float, elasticity_below: float) -> float:
    """Inverse demand: the highest rate r at which Q(r) = ``quantity_mw`` (the choke when nothing
    is wanted). Above the reference the linear segment; below it the elastic one, or, when
    ``elasticity_below`` is 0 (a vertical segment, no rate gives more than ``wanted``), the
    reference rate itself, the top of the vertical."""
    if wanted_mw <= MIN_WANTED_MW:
        return float(choke_rate)
    share = (quantity_mw + contracted_mw) / wanted_mw
    if share <= 1.0:
        return float(min(choke_rate, choke_rate - (choke_rate - reference_rate) * share))
    if elasticity_below <= 0:
        return float(reference_rate)
    return float(reference_rate * (1.0 - (share - 1.0) / elasticity_below))


@dataclass(frozen=True)
class LeaseClearing:
    """One step of the lease market. ``rate`` is NaN when nobody offers anything."""

    rate_usd_per_kw_month: float
    filled_mw: np.ndarray  # per offer, in the caller's order
    demand_at_rate_mw: float  # Q(rate)

    @property
    def signed_mw(self) -> float:
        return float(self.filled_mw.sum())


def clear_lease_market(offer_mw, reservation_rate, wanted_mw: float, contracted_mw: float,
                       reference_rate: float, choke_rate: float, elasticity_below: float) -> LeaseClearing:
    """Clear new leases between tenants' demand curve and the offers (see the module docstring).

    ``offer_mw`` and ``reservation_rate`` are per offer (MW of IT, $/kW-month). Offers at or
    below the clearing rate are filled in order of reservation rate; the marginal one may be
    partly filled. Every filled offer signs at the one clearing rate (a uniform-price call
    market; callers may scale it by a site's location quality).
    """
    mw = np.asarray(offer_mw, dtype=float)
    res = np.asarray(reservation_rate, dtype=float)
    if mw.shape != res.shape:
        raise ValueError(f"offer_mw and reservation_rate: shapes differ ({mw.shape} vs {res.shape})")
    # a finite sum has no inf or NaN in it (the usual case: two sums); one that is not (or overflows)
    # is looked at value by value
    if not (math.isfinite(mw.sum()) and math.isfinite(res.sum())):
        if not np.isfinite(mw).all():
            raise ValueError("offer_mw: must be finite and >= 0")
        if not np.isfinite(res).all():
            raise ValueError("reservation_rate: must be finite")
    live = mw > 0
    all_live = live.all()
    if not (all_live or (mw >= 0).all()):  # every offer > 0 is >= 0
        raise ValueError("offer_mw: must be finite and >= 0")
    if not (math.isfinite(wanted_mw) and wanted_mw >= 0 and math.isfinite(contracted_mw) and contracted_mw >= 0):
        raise ValueError(f"wanted_mw={wanted_mw!r}, contracted_mw={contracted_mw!r}: must be finite and >= 0")
    filled = np.zeros(mw.shape)
    if all_live:  # every offer has MW (the model's always do): the same order as the indexed sort below
        if not len(mw):
            return LeaseClearing(float("nan"), filled, 0.0)
        order = res.argsort(kind="stable")
    elif not live.any():
        return LeaseClearing(float("nan"), filled, 0.0)
    else:
        idx = live.nonzero()[0]
        order = idx[res[idx].argsort(kind="stable")]
    r_sorted, q_sorted = res[order], mw[order]
    cum = q_sorted.cumsum()
    _check_curve(reference_rate, choke_rate, elasticity_below)
    curve = (wanted_mw, contracted_mw, reference_rate, choke_rate, elasticity_below)
    k = _first_met(cum, r_sorted, curve)
    # every offer has MW > 0, so a fill of k >= 1 of them sums to more than 0
    if k == len(cum):  # every offer is taken: demand sets the rate above the last offer
        rate = _rate_for_quantity(float(cum[-1]), *curve)
        filled[order] = q_sorted
        any_filled = True
    else:
        demand = _demand_at(float(r_sorted[k]), *curve)
        before = float(cum[k - 1]) if k else 0.0  # the exclusive sum (no cancellation error)
        if demand > before:  # the marginal offer sets the rate and is partly filled
            rate = float(r_sorted[k])
            filled[order[:k]] = q_sorted[:k]
            filled[order[k]] = demand - before
            any_filled = True
        else:  # demand runs out between offers k-1 and k
            rate = _rate_for_quantity(before, *curve)
            filled[order[:k]] = q_sorted[:k]
            any_filled = k > 0
    first = float(r_sorted[0])
    rate = max(rate, first) if any_filled else first
    return LeaseClearing(rate, filled, _demand_at(rate, *curve))


def rerated_equity_value_usd(mining_mw, signed_it_mw, delivered_it_mw, miner_usd_per_mw: float,
                             datacentre_usd_per_it_mw: float, signed_credibility: float, pue: float):
    """Market value of a public miner re-rated toward data-centre multiples by its AI leases.

    Investors value mining MW at the miners' multiple (~$4.5M per MW, Aug 2024) and leased AI
    capacity at data-centre multiples (> $30M per MW of IT); a lease signed but not yet
    delivered counts for ``signed_credibility`` of the uplift (execution risk), a delivered one
    fully (calibration.md section 4, valuation gap):
        V = miner x (mining MW + PUE x IT MW)
            + (dc - miner x PUE) x (delivered + credibility x (signed - delivered)).
    Pure: arrays in, arrays out (one value per firm).
    """
    mining = np.asarray(mining_mw, dtype=float)
    signed = np.asarray(signed_it_mw, dtype=float)
    delivered = np.minimum(np.asarray(delivered_it_mw, dtype=float), signed)
    base = miner_usd_per_mw * (mining + pue * signed)
    uplift = (datacentre_usd_per_it_mw - miner_usd_per_mw * pue) * (delivered + signed_credibility * (signed - delivered))
    return base + uplift


def rerating_uplift_usd_per_signed_it_mw(miner_usd_per_mw: float, datacentre_usd_per_it_mw: float,
                                         signed_credibility: float, pue: float) -> float:
    """What one newly signed MW of IT adds to a public miner's value (the derivative of
    ``rerated_equity_value_usd`` in signed MW converted from mining): the equity it can raise on it."""
    return float(signed_credibility * (datacentre_usd_per_it_mw - miner_usd_per_mw * pue))


def gpu_cloud_npv_per_it_mw(revenue_usd_per_it_mw_year, utilisation, opex_share: float, capex_usd_per_it_mw,
                            life_years: float, discount_rate_per_year):
    """NPV of running one's own GPU cloud on a MW of IT instead of leasing it out:
    revenue x utilisation x (1 - opex share), a level annuity over the GPUs' life, less the GPUs.
    Why: the GPU-cloud model earns ~$9M per MW-yr against ~$1.5-1.9M for colocation, but the
    miner buys the GPUs (~$40k per H200 installed) and carries the utilisation risk
    (calibration.md section 4)."""
    r = np.asarray(discount_rate_per_year, dtype=float)
    annuity = np.where(r > 0, (1.0 - (1.0 + r) ** -life_years) / np.where(r > 0, r, 1.0), life_years)
    net = np.asarray(revenue_usd_per_it_mw_year) * np.asarray(utilisation) * (1.0 - opex_share)
    return net * annuity - np.asarray(capex_usd_per_it_mw)
