"""Fleets as vintages: each site holds a few machine cohorts (MW, J/TH, age).

Why cohorts and not one fleet average: a real fleet mixes S9s, S17s and S19s. The old machines
are the first to curtail, the first to be replaced and the first to be scrapped, while the new
ones keep mining; an average efficiency switches the whole site at once and makes an upgrade
all-or-nothing. Each site has ``VINTAGE_SLOTS`` cohort slots (a 2-D array over all sites, so
the hot path stays vectorised); a new cohort takes an empty slot, or merges with the cohort
closest in efficiency when all are taken (TH and MW are conserved by the merge).

Retired machines (replaced by an upgrade, or taken out when MW converts to AI hosting) go to a
second-hand market (``resell``): operators with cheaper power and empty powered MW buy them
if they pay their way there, at a price per TH set by the marginal buyer; what nobody wants is
scrapped. Everything here is a plain function of arrays; ``operations`` and ``decisions``
call it.
"""

from __future__ import annotations

import numpy as np

from marketsim import fastnp
from marketsim.market import asic

W_PER_MW = 1e6  # TH per MW = W_PER_MW / (J/TH)
VINTAGE_SLOTS = 4
COHORT_TOLERANCE_MW = 1e-9  # float residue, not machines
# The start: a site whose fleet averages worse than a modern machine is a mix of modern
# machines (S19j Pro class, 29.5 J/TH nameplate x 1.07 facility overhead; calibration facts s3)
# and older ones (S17/T17 class ~45 J/TH and S9 ~98 J/TH; a 70 J/TH mix x 1.07, the fleet
# the 2020 fit assumes). Sites at or better than the modern class start as one cohort.
INITIAL_MODERN_J_PER_TH = 29.5 * 1.07
INITIAL_OLD_J_PER_TH = 70.0 * 1.07
# Hashrate Index ASIC price index tiers (J/TH upper bounds), used to report used-machine prices
PRICE_TIERS_J_PER_TH = (25.0, 38.0, 68.0)
TIER_NAMES = ("<25", "25-38", "38-68", ">68")


def initial_cohorts(mw: np.ndarray, efficiency: np.ndarray, age_years: np.ndarray):
    """Split each starting fleet into a modern and an old cohort with the same MW and TH.

    With MW shares a (modern, e1) and 1 - a (old, e2) the fleet's TH is mw (a/e1 + (1-a)/e2),
    so a = (1/E - 1/e2) / (1/e1 - 1/e2) keeps the fleet average E exactly.
    """
    n = len(mw)
    e1, e2 = INITIAL_MODERN_J_PER_TH, INITIAL_OLD_J_PER_TH
    a = np.clip((1.0 / efficiency - 1.0 / e2) / (1.0 / e1 - 1.0 / e2), 0.0, 1.0)
    mixed = (efficiency > e1) & (efficiency < e2)
    cohort_mw = np.zeros((n, VINTAGE_SLOTS))
    cohort_eff = np.repeat(np.asarray(efficiency, float)[:, None], VINTAGE_SLOTS, axis=1)
    cohort_mw[:, 0] = np.where(mixed, mw * a, mw)
    cohort_eff[:, 0] = np.where(mixed, e1, efficiency)
    cohort_mw[:, 1] = np.where(mixed, mw * (1.0 - a), 0.0)
    cohort_eff[:, 1] = np.where(mixed, e2, efficiency)
    cohort_age = np.repeat(np.asarray(age_years, float)[:, None], VINTAGE_SLOTS, axis=1)
    return cohort_mw, cohort_eff, cohort_age


def slot_sum(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=1)`` of a (sites, slots) array, to the last bit, at a fraction of the cost.

    numpy sums a short last axis slot by slot into the row's total, left to right (no pairwise
    split below 8 terms), which is what this does with one vector add per slot; its own
    reduction over 4-wide rows costs ~17 us at 1,000 sites, this ~3 us."""
    total = a[:, 0].copy() if a.shape[1] else np.zeros(len(a), a.dtype)
    for j in range(1, a.shape[1]):
        total += a[:, j]
    return total


def fleet_efficiency(cohort_mw: np.ndarray, cohort_eff: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """MW-weighted harmonic mean (MW / TH) per site; ``fallback`` where a site has no machines."""
    th = slot_sum(cohort_mw / cohort_eff)
    total = slot_sum(cohort_mw)
    has = th > 0
    return np.where(has, total / np.where(has, th, 1.0), fallback)


def add_cohort(cohort_mw, cohort_eff, cohort_age, rows: np.ndarray, mw: np.ndarray, eff: np.ndarray) -> None:
    """New machines (``mw`` at ``eff``, age 0) join ``rows`` (unique): an empty slot, else the
    cohort closest in log-efficiency (merged: MW and TH add up)."""
    rows = np.asarray(rows)
    if not len(rows):
        return
    m, e = cohort_mw[rows], cohort_eff[rows]
    dist = np.where(m <= 0, -1.0, np.abs(np.log(e / eff[:, None])))
    slot = dist.argmin(axis=1)  # the method: ``np.argmin``'s answer without its Python wrapper
    i = np.arange(len(rows))
    old_m, old_e, old_a = m[i, slot], e[i, slot], cohort_age[rows, slot]
    new_m = old_m + mw
    th = np.where(old_m > 0, old_m / old_e, 0.0) + mw / eff
    has_th, has_mw = th > 0, new_m > 0
    cohort_eff[rows, slot] = np.where(has_th, new_m / np.where(has_th, th, 1.0), eff)
    cohort_age[rows, slot] = np.where(has_mw, old_m * old_a / np.where(has_mw, new_m, 1.0), 0.0)
    cohort_mw[rows, slot] = new_m


def remove_worst(cohort_mw, cohort_eff, rows: np.ndarray, mw: np.ndarray) -> np.ndarray:
    """Take ``mw`` out of each of ``rows`` (unique), least efficient cohort first; returns the
    MW taken per (row, slot). A sort, a cumulative sum and a cut: no loop over sites."""
    rows = np.asarray(rows)
    m, e = cohort_mw[rows], cohort_eff[rows]
    order = np.where(m > 0, -e, np.inf).argsort(axis=1)  # highest J/TH (worst) first
    # ``np.take_along_axis`` / ``np.put_along_axis`` on axis 1, as the plain fancy index they
    # build (the same cells, without ~35 us of their index set-up)
    i = np.arange(len(rows))[:, None]
    m_sorted = m[i, order]
    before = m_sorted.cumsum(axis=1) - m_sorted
    take_sorted = fastnp.clip(np.asarray(mw, float)[:, None] - before, 0.0, m_sorted)
    take = np.zeros(m.shape)
    take[i, order] = take_sorted
    cohort_mw[rows] = m - take
    return take


def price_tier(efficiency_j_per_th: np.ndarray) -> np.ndarray:
    """Index into ``TIER_NAMES`` of each efficiency."""
    return np.searchsorted(np.asarray(PRICE_TIERS_J_PER_TH), efficiency_j_per_th, side="right")


def used_price_cap_usd_per_mw(efficiency_j_per_th, frontier_price_usd_per_th: float, frontier_j_per_th: float,
                              hashprice_usd_per_ph_day: float, power_cost_usd_per_mwh: float,
                              floor_usd_per_th: float = 0.0) -> np.ndarray:
    """The most a buyer pays for a MW of used machines of each efficiency: the tier price per TH
    (``asic.tier_prices_usd_per_th``: the frontier price times the tier's earning power relative
    to the frontier's at the bidders' median power cost, never below the floor) times the TH
    in a MW.

    Why a cap: a buyer with cheap power values a used lot above that price, but the same tier is
    on offer from resellers at the tier price (Hashrate Index quotes one price per tier), so a
    seller gets no more. A tier that earns nothing at that power cost is still quoted at the
    machine price floor (``floor_usd_per_th``; Hashrate Index's > 68 J/TH tier was $4.7/TH in
    December 2022, not 0), so old machines are sold, not given away, to whoever can run them."""
    eff = np.asarray(efficiency_j_per_th, dtype=float)
    per_th = asic.tier_prices_usd_per_th(frontier_price_usd_per_th, frontier_j_per_th, eff, hashprice_usd_per_ph_day,
                                         power_cost_usd_per_mwh)
    return np.maximum(per_th, floor_usd_per_th) * W_PER_MW / eff


def clear_used_lot(mw: float, buyer_free_mw: np.ndarray, buyer_value_usd_per_mw: np.ndarray):
    """One lot of used machines against buyers sorted best-first (highest value per MW).

    Buyers with a positive value take MW in that order up to their free MW; all pay the value of
    the last buyer served (a uniform price: the marginal buyer is indifferent). Returns
    (MW bought per buyer, price per MW); a price of 0 and nothing bought means scrap.
    """
    want = buyer_value_usd_per_mw > 0
    free = np.where(want, buyer_free_mw, 0.0)
    before = free.cumsum() - free
    bought = fastnp.clip(mw - before, 0.0, free)
    served = (bought > 0).nonzero()[0]
    if not len(served):
        return bought, 0.0
    return bought, float(buyer_value_usd_per_mw[served[-1]])


def migrant_value_usd_per_mw(margin_usd_per_mw_month, fixed_cost_usd_per_mw_month: float, payback_months: float,
                             site_capex_usd_per_mw: float):
    """What an operator with cheap power but no empty MW would pay for a MW of used machines: the
    payback value an incumbent buyer puts on it (monthly margin net of the site's fixed cost times
    the payback miners accept) less the new MW it must build to run them (containers on an
    interconnect, ``site_build_capex_usd_per_mw``). Positive: the machines are worth more than the
    MW they need, so they move and keep hashing; otherwise they are scrapped.

    Worked: 1 MW of 60 J/TH machines (16.7 PH/s) at $150/PH/day earns $2,500 a day; at $40/MWh
    plus $6 opex the power costs $1,104 a day, a margin of ~$42.5k a month; less $3k fixed cost,
    times 16 months is $632k, less $325k of site: $307k per MW."""
    return (np.asarray(margin_usd_per_mw_month, dtype=float) - fixed_cost_usd_per_mw_month) * payback_months \
        - site_capex_usd_per_mw
