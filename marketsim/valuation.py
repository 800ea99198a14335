"""What sites are worth to a given firm: the common currency of auctions and takeovers.

A bidder values a site as the present value, under *its own* hashprice belief and hurdle
rate, of mining the site's MW with the better of the site's fleet and the bidder's ability to
re-fleet it at the frontier (less that capex), plus the rent of the site's AI leases, plus
what its converted-but-empty MW would be worth as a mining-grade site (its build cost; a
buyer may lease them later). Sellers value their own sites the same way with their own
beliefs, so a sale happens when the buyer's valuation beats the seller's: heterogeneous
expectations, hurdle rates and power costs are the gains from trade.
"""

from __future__ import annotations

import numpy as np

from marketsim.firms import economics as econ


def site_values_for_bidders(model, site_rows: np.ndarray, bidders: np.ndarray) -> np.ndarray:
    """Matrix (bidders x sites) of present values in USD."""
    s, sites = model.config, model.sites
    o_hp = model.firms.expected_hashprice[bidders]
    hurdle = model.firms.hurdle_rate_per_year[bidders]
    months = round(s.decision_horizon_years * 12)
    subsidy = model.market.subsidy_per_block_now()
    fee = model.market.state.fee_share
    ratio = (subsidy / 2 + fee * subsidy) / (subsidy + fee * subsidy)
    hp = econ.hashprice_outlook(o_hp, months, s.expected_hashprice_decline_per_year,
                                model.market.months_to_next_halving(), ratio)
    disc = econ.monthly_discount(hurdle, months)
    cost = model.site_power_usd_per_mwh[site_rows] + s.mining_opex_usd_per_mwh
    frontier = model.market.state.frontier_j_per_th
    refleet_capex = econ.machine_capex_usd_per_mw(model.machine_price_usd_per_th, frontier)
    machines = sites.mw_machines[site_rows]
    live_mw = sites.capacity_mw[site_rows] - sites.mw_shutdown[site_rows]
    values = np.empty((len(bidders), len(site_rows)))
    for j, site in enumerate(site_rows):
        n = len(bidders)
        keep = econ.pv_mining_margin_per_mw(hp, np.full(n, sites.efficiency_j_per_th[site]), np.full(n, cost[j]), disc)
        new = econ.pv_mining_margin_per_mw(hp, np.full(n, frontier), np.full(n, cost[j]), disc) - refleet_capex
        mining = np.maximum(keep, new) * machines[j]
        values[:, j] = mining
    values += lease_value(model, site_rows)[None, :]
    empty_halls = sites.mw_converted[site_rows] + sites.mw_converting[site_rows]
    values += (empty_halls * s.site_build_capex_usd_per_mw)[None, :]
    return np.where(live_mw[None, :] > 0, np.maximum(values, 0.0), 0.0)


def lease_value(model, site_rows: np.ndarray) -> np.ndarray:
    """PV of the rent still due on each site's leases, at the average hurdle rate.

    Computed once per step and lease-book size (auctions and takeovers ask for it many times).
    """
    key = (model.steps_done, len(model.leases))
    if getattr(model, "_lease_value_key", None) != key:
        model._lease_value_cache = _lease_value_by_site(model)
        model._lease_value_key = key
    return model._lease_value_cache[site_rows]


def _lease_value_by_site(model) -> np.ndarray:
    s, leases = model.config, model.leases
    if len(leases) == 0:
        return np.zeros(len(model.sites))
    rates = leases.current_rates(model.steps_done, model.steps_per_year, s.ai_lease_escalator_per_year)
    years_left = np.clip((leases.expiry_step - model.steps_done) / model.steps_per_year, 0.0, None)
    pv = econ.lease_pv_per_gross_mw(rates, 1.0, s.ai_margin, years_left, s.ai_lease_escalator_per_year,
                                    s.hurdle_rate_per_year, 0.0) * leases.mw_it
    return np.bincount(leases.site, weights=pv, minlength=len(model.sites))
