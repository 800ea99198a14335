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

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from marketsim import fastnp
from marketsim.firms import economics as econ
from marketsim.firms.book import LeaseBook
from marketsim.units import MONTHS_PER_YEAR


# (bidder, site, month) cells valued in one numpy expression; a bigger block is cut by sites, so a
# buyer of thousands of sites never allocates more than this many doubles at once (~16 MB)
MAX_CELLS_PER_BLOCK = 2_000_000



@dataclass
class ValuationCache:
    """What valuation keeps between the many requests of one step (auctions and takeovers ask
    for site values again and again): the scenario's unit hashprice path and the lease book's
    PV by site, each with the key of the state it was computed for. One per model
    (``IndustryModel.valuation_cache``); nothing here outlives the state its key names."""

    unit_outlook_key: tuple | None = None
    unit_outlook: np.ndarray | None = None
    lease_value_key: tuple | None = None
    lease_value: np.ndarray | None = None
    lease_book: SimpleNamespace | None = None
    leased_site: np.ndarray | None = None

def _site_inputs(model, site_rows: np.ndarray):
    """What any buyer sees of these sites: cash cost per MWh, the frontier machine, its capex per
    MW (to re-fleet), and the machine MW (``mw_machines`` for these rows only)."""
    s, sites = model.config, model.sites
    cost = model.seen.site_power_usd_per_mwh[site_rows] + s.mining_opex_usd_per_mwh
    frontier = model.market.state.frontier_j_per_th
    refleet_capex = econ.machine_capex_usd_per_mw(model.seen.machine_price_usd_per_th, frontier)
    return cost, frontier, refleet_capex, sites.mw_mining[site_rows] + sites.mw_idle[site_rows]


def site_values_for_bidders(model, site_rows: np.ndarray, bidders: np.ndarray) -> np.ndarray:
    """Matrix (bidders x sites) of present values in USD.

    All (bidder, site) pairs in one expression over a (bidders, sites, months) block: each pair's
    mining PV is the same sum over months, in the same order, as ``econ.pv_mining_margin_per_mw``
    row by row, so the result is bit-for-bit that of a loop over sites. The site's own fleet and
    a frontier re-fleet are valued in the same expression (the frontier as extra columns).
    """
    site_rows = np.asarray(site_rows)
    hp, disc = _beliefs(model, bidders)
    inputs = _site_inputs(model, site_rows)
    values = np.empty((len(bidders), len(site_rows)))
    _mining_values_for_bidders(model, site_rows, hp, disc, inputs, values)
    return _add_halls_and_leases(model, site_rows, values)


def _mining_values_for_bidders(model, site_rows, hp, disc, inputs, out) -> None:
    """Into ``out`` (bidders x sites): the mining value of each site to each belief row of
    (``hp``, ``disc``), in blocks of sites (``MAX_CELLS_PER_BLOCK``)."""
    cost, frontier, refleet_capex, machines = inputs
    efficiency = model.sites.efficiency_j_per_th[site_rows]
    m = len(site_rows)
    block = max(1, MAX_CELLS_PER_BLOCK // max(1, 2 * len(hp) * hp.shape[1]))
    for lo in range(0, m, block):
        hi = min(lo + block, m)
        out[:, lo:hi] = _keep_or_refleet(hp, disc, efficiency[lo:hi], cost[lo:hi], frontier, refleet_capex,
                                         machines[lo:hi])


def site_values_to_bidders_and_owners(model, site_rows: np.ndarray, bidders: np.ndarray,
                                      owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``site_values_for_bidders(model, site_rows, bidders)`` and ``site_values_to_firms(model,
    site_rows, owners)`` in one pass: one lookup of the beliefs, of the sites' inputs and of
    their halls and leases for both (the exits value every screened site both ways each step).
    Each number is made by the same operations as in those two functions (the beliefs and the
    halls row by row, the mining values by the same expressions), so they are the same floats."""
    sites = model.sites
    site_rows = np.asarray(site_rows)
    k, m = len(bidders), len(site_rows)
    hp, disc = _beliefs(model, np.concatenate((bidders, owners)))
    inputs = _site_inputs(model, site_rows)
    cost, frontier, refleet_capex, machines = inputs
    values = np.empty((k + 1, m))  # the bidders' rows, then the owners' (one owner per site)
    _mining_values_for_bidders(model, site_rows, hp[:k], disc[:k], inputs, values[:k])
    own_hp, own_disc = hp[k:], disc[k:]
    both = econ.pv_mining_margin_per_mw(np.concatenate((own_hp, own_hp)),
                                        np.concatenate((sites.efficiency_j_per_th[site_rows], fastnp.full(m, frontier))),
                                        np.concatenate((cost, cost)), np.concatenate((own_disc, own_disc)))
    values[k] = np.maximum(both[:m], both[m:] - refleet_capex) * machines
    values = _add_halls_and_leases(model, site_rows, values)
    return values[:k], values[k]


def _keep_or_refleet(hp, disc, efficiency, cost, frontier, refleet_capex, machines) -> np.ndarray:
    """(rows x sites) mining value: the better of the site's fleet and a frontier re-fleet (less
    its capex), per machine MW; one ``_pv_mining_margin_pairs`` over both sets of columns."""
    m = len(cost)
    both = _pv_mining_margin_pairs(hp, np.concatenate((efficiency, fastnp.full(m, frontier))),
                                   np.concatenate((cost, cost)), disc)
    return np.maximum(both[:, :m], both[:, m:] - refleet_capex) * machines[None, :]


def site_values_to_firms(model, site_rows: np.ndarray, firm_ids: np.ndarray) -> np.ndarray:
    """Each site's value to one firm each (``firm_ids[i]`` values ``site_rows[i]``): the same
    numbers as the matching cells of ``site_values_for_bidders``, for a list of (site, firm)
    pairs (e.g. every screened firm's own sites, valued by their owners in one pass)."""
    sites = model.sites
    site_rows = np.asarray(site_rows)
    hp, disc = _beliefs(model, firm_ids)
    cost, frontier, refleet_capex, machines = _site_inputs(model, site_rows)
    m = len(site_rows)
    # the site's fleet (first m rows) and a frontier re-fleet (last m) in one pass over the pairs
    both = econ.pv_mining_margin_per_mw(np.concatenate((hp, hp)),
                                        np.concatenate((sites.efficiency_j_per_th[site_rows], fastnp.full(m, frontier))),
                                        np.concatenate((cost, cost)), np.concatenate((disc, disc)))
    return _add_halls_and_leases(model, site_rows, (np.maximum(both[:m], both[m:] - refleet_capex) * machines)[None, :])[0]


def _beliefs(model, firm_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each firm's hashprice path and discount factors over the decision horizon (rows)."""
    s = model.config
    months = round(s.decision_horizon_years * MONTHS_PER_YEAR)
    return (model.firms.expected_hashprice[firm_ids][:, None] * _unit_outlook(model, months),
            econ.monthly_discount(model.firms.hurdle_rate_per_year[firm_ids], months))


def _unit_outlook(model, months: int) -> np.ndarray:
    """``econ.hashprice_outlook`` of a hashprice of 1 (one row), once per step: the decline is the
    scenario's, the same for every firm, so each firm's path is its hashprice times this row (the
    same product, float for float, as the outlook computed per firm)."""
    market, cache = model.market, model.valuation_cache
    # the subsidy and the months to the halving are functions of the chain height
    key = (model.steps_done, months, int(market.chain.height), market.state.fee_share)
    if cache.unit_outlook_key != key:
        subsidy, fee = market.subsidy_per_block_now(), key[3]
        ratio = (subsidy / 2 + fee * subsidy) / (subsidy + fee * subsidy)
        cache.unit_outlook = econ.hashprice_outlook(1.0, months, model.config.expected_hashprice_decline_per_year,
                                                    market.months_to_next_halving(), ratio)[0]
        cache.unit_outlook_key = key
    return cache.unit_outlook


def _add_halls_and_leases(model, site_rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mining value (rows x sites) plus lease rent and empty AI halls; 0 for a site with no live MW."""
    s, sites = model.config, model.sites
    live_mw = sites.capacity_mw[site_rows] - sites.mw_shutdown[site_rows]
    values += lease_value(model, site_rows)[None, :]
    empty_halls = sites.mw_converted[site_rows] + sites.mw_converting[site_rows]
    values += (empty_halls * s.site_build_capex_usd_per_mw)[None, :]
    return np.where(live_mw[None, :] > 0, np.maximum(values, 0.0), 0.0)


def _pv_mining_margin_pairs(hashprice_path: np.ndarray, efficiency_j_per_th: np.ndarray,
                            cost_usd_per_mwh: np.ndarray, discount: np.ndarray) -> np.ndarray:
    """``econ.pv_mining_margin_per_mw`` for every (belief row, site) pair: (n, months) paths and
    discounts against (m,) efficiencies and costs give (n, m), with the same operations in the
    same order (so the same floats) as calling it once per site."""
    rev = hashprice_path[:, None, :] * (econ.PH_PER_EH / np.asarray(efficiency_j_per_th))[None, :, None]
    rev -= (np.asarray(cost_usd_per_mwh) * econ.HOURS_PER_DAY)[None, :, None]  # in place: the margin
    np.maximum(rev, 0.0, out=rev)
    rev *= discount[:, None, :]
    return rev.sum(axis=2) * econ.DAYS_PER_MONTH


def lease_value(model, site_rows: np.ndarray) -> np.ndarray:
    """PV of the rent still due on each site's leases, at the average hurdle rate.

    Valued once per state of the lease book within a step (auctions and takeovers ask for it many
    times): the book's arrays are replaced, never written in place, when leases end or are cut
    (``consolidation.cancel_pipelines`` cuts the leases of a bankrupt's unbuilt halls), so the
    identity of its size column tells a changed book from the same one. The rent is discounted
    only once some request holds a leased site (most ask about sites without leases: 0).
    """
    leases, cache = model.leases, model.valuation_cache
    key = (model.steps_done, len(leases), id(leases.mw_it))
    if cache.lease_value_key != key:
        cache.lease_value_key = key
        cache.lease_value = None
        # the book as it stands now (its arrays are replaced, not written, when leases change
        # within the exits), and which sites have a lease
        cache.lease_book = SimpleNamespace(**{name: getattr(leases, name) for name in leases.COLUMNS})
        cache.leased_site = np.zeros(len(model.sites), bool)
        cache.leased_site[leases.site] = True
    if not cache.leased_site[site_rows].any():
        return np.zeros(len(site_rows))
    if cache.lease_value is None:
        cache.lease_value = _lease_value_by_site(model, cache.lease_book)
    return cache.lease_value[site_rows]


def _lease_value_by_site(model, leases) -> np.ndarray:
    """``leases``: the lease book's columns (a ``LeaseBook`` or a snapshot of its arrays)."""
    s = model.config
    if len(leases.site) == 0:
        return np.zeros(len(model.sites))
    rates = LeaseBook.current_rates(leases, model.steps_done, model.steps_per_year, s.ai_lease_escalator_per_year)
    years_left = np.clip((leases.expiry_step - model.steps_done) / model.steps_per_year, 0.0, None)
    pv = econ.lease_pv_per_gross_mw(rates, 1.0, s.ai_margin, years_left, s.ai_lease_escalator_per_year,
                                    s.hurdle_rate_per_year, 0.0) * leases.mw_it
    return np.bincount(leases.site, weights=pv, minlength=len(model.sites))
