"""The used-machine market: retired cohorts are sold to sites with powered MW standing empty,
to operators who build new MW for them (``entry.offer_to_migrants``), or scrapped.

Called by ``operations`` after deliveries displace old machines and after scrapping
(``land_deliveries``, ``retire_displaced_machines``).
"""

from __future__ import annotations

import bisect

import numpy as np

from marketsim import fastnp
from marketsim.firms import economics as econ
from marketsim.firms import entry, mining_margin, vintages
from marketsim.firms.vintages import COHORT_TOLERANCE_MW
from marketsim.step_state import Observation, UsedSale

USED_LOT_BIN_LOG = 0.05  # used machines within ~5% of each other's J/TH are one lot


def resell_used_machines(model, seen: Observation, hashprice_consistent: float, retired: np.ndarray,
                         retired_efficiency: np.ndarray, settle_cash: bool = False) -> UsedSale:
    """Retired cohorts go to operators whose power makes them pay, or to scrap.

    Buyers are active firms' sites with powered MW standing empty (MW whose own machines were
    scrapped). A used MW at efficiency e is worth, to a buyer with power p, its monthly margin
    there net of the site's fixed cost times ``max_payback_months`` (the payback miners
    accept for machines). Lots are sold best machines first; each goes to the buyers who
    value it most, all paying the marginal buyer's value (``vintages.clear_used_lot``). The
    buyer's capex is the seller's negative capex; MW and TH move, nothing is created. What no
    buyer wants is scrapped (event ``used_scrapped``). A buyer spends at most its cash. With
    ``settle_cash`` (after ``finance.pay`` has run) the cash moves now, else ``pay`` moves it.
    Buyers value machines at ``hashprice_consistent`` (``seen.hashprice_observed`` where it is
    NaN). Returns the tiers' clearing prices and the lots migrants bought (``UsedSale``).
    """
    if not retired.any():  # most steps: nothing retired, nothing to sell or scrap (an empty sale, at once)
        return UsedSale()
    s, sites, firms = model.config, model.sites, model.firms
    # a firm that has left has closed its books: its shut sites found no bidder at the auction
    # that priced them with their machines, so what stood on them is scrapped, not sold
    retired_mw = vintages.slot_sum(retired)
    site_active = firms.active.take(sites.owner)  # read again for the buyers (nothing here changes it)
    gone = (~site_active & (retired_mw > 0)).nonzero()[0]
    if len(gone):
        model.events.add_many("scrapped", sites.owner[gone], gone, retired_mw[gone])
        retired = retired.copy()
        retired[gone] = 0.0
    # the (site, slot) cells holding retired machines in row-major order: ``np.nonzero`` of the
    # 2-D mask, from a 1-D nonzero (a quarter of the cost)
    cells = (retired.ravel() > COHORT_TOLERANCE_MW).nonzero()[0]
    if not len(cells):
        return UsedSale()
    site_idx = cells // retired.shape[1]
    # lots of similar machines are sold together (one clearing per efficiency bin), each seller
    # getting its share of the bin's proceeds: the market works on tiers, not on single sites
    lot_mw = retired.ravel()[cells]
    lot_eff = retired_efficiency.ravel()[cells]
    bins, lot_bin = fastnp.unique_inverse((np.log(lot_eff) / USED_LOT_BIN_LOG).round())
    bin_mw = np.bincount(lot_bin, weights=lot_mw)
    bin_eff = bin_mw / np.bincount(lot_bin, weights=lot_mw / lot_eff)  # TH-conserving average
    free = np.where(site_active, sites.mw_shutdown, 0.0)
    buyers = (free > COHORT_TOLERANCE_MW).nonzero()[0]
    hashprice = hashprice_consistent if np.isfinite(hashprice_consistent) else seen.hashprice_observed
    site_power = seen.site_power_usd_per_mwh
    value = np.zeros((len(bins), 0))
    # the tier price caps what a lot fetches (the same tier is on offer from resellers)
    typical_power = (fastnp.median(site_power[buyers]) if len(buyers)
                     else s.entry_power_price_mean_usd_per_mwh) + s.mining_opex_usd_per_mwh
    cap = vintages.used_price_cap_usd_per_mw(bin_eff, seen.machine_price_usd_per_th,
                                             model.market.state.frontier_j_per_th, hashprice, typical_power,
                                             s.machine_price_floor_usd_per_th)
    if len(buyers):  # every bin's value to every buyer, in one call
        margin = mining_margin.fleet_margin_usd_per_mw_month(model, site_power[buyers][None, :], hashprice,
                                               bin_eff[:, None], sites.power_take_or_pay_share[buyers][None, :])
        value = (margin - s.site_fixed_cost_usd_per_mw_month) * s.max_payback_months
    sold_share = np.zeros(len(bins))
    price = np.zeros(len(bins))
    led = firms.ledger
    capex_before = led["capex_usd"].copy()
    cash_left = np.maximum(firms.cash_usd, 0.0)
    bought_any = False
    wanted = (value > 0).any(axis=1)  # a lot no buyer values at more than 0 goes to scrap, whatever the order
    sales = []  # (sites, MW, USD) of each lot sold, logged in one block after the loop (same order)
    tier_price = {}  # USD/TH by tier, the last lot of each tier sold
    for b in bin_eff.argsort():  # best machines first
        if not len(buyers):
            break
        if not wanted[b]:
            continue
        rank = (-value[b]).argsort()
        ranked, ranked_value = buyers[rank], value[b][rank]
        affordable = np.minimum(free[ranked], cash_left[sites.owner[ranked]] / np.maximum(ranked_value, 1.0))
        bought_ranked, price[b] = vintages.clear_used_lot(bin_mw[b], affordable, ranked_value)
        price[b] = min(price[b], cap[b])
        got = bought_ranked > 0
        if not got.any():
            continue
        rows, mw = ranked[got], bought_ranked[got]
        bought_any = True
        vintages.add_cohort(sites.cohort_mw, sites.cohort_efficiency_j_per_th, sites.cohort_age_years,
                            rows, mw, fastnp.full(len(rows), bin_eff[b]))
        sites.mw_shutdown[rows] -= mw
        sites.mw_idle[rows] += mw
        free[rows] = np.maximum(free[rows] - mw, 0.0)
        np.add.at(led["capex_usd"], sites.owner[rows], mw * price[b])
        np.subtract.at(cash_left, sites.owner[rows], mw * price[b])
        sold_share[b] = mw.sum() / bin_mw[b]
        tier = vintages.TIER_NAMES[bisect.bisect_right(vintages.PRICE_TIERS_J_PER_TH, bin_eff[b])]  # ``price_tier``
        tier_price[tier] = price[b] * bin_eff[b] / econ.W_PER_MW  # $/MW -> $/TH
        sales.append((rows, mw, mw * price[b]))
    if sales:
        rows, mw, usd = (np.concatenate(x) for x in zip(*sales))
        model.events.add_many("used_machines_bought", sites.owner[rows], rows, mw, value_usd=usd)
    # what no site on the books wants goes to operators who build new MW for it (migration)
    migrated, migrant_price, lots = entry.offer_to_migrants(model, bin_eff, bin_mw * (1.0 - sold_share), hashprice, cap)
    proceeds_per_mw = (sold_share * price + migrated * migrant_price / bin_mw)
    sold_share = sold_share + migrated / bin_mw
    sellers = sites.owner[site_idx]
    np.subtract.at(led["capex_usd"], sellers, lot_mw * proceeds_per_mw[lot_bin])
    scrapped = lot_mw * np.maximum(1.0 - sold_share[lot_bin], 0.0)
    gone = scrapped > COHORT_TOLERANCE_MW
    if gone.any():
        model.events.add_many("used_scrapped", sellers[gone], site_idx[gone], scrapped[gone])
    if settle_cash:
        firms.cash_usd -= led["capex_usd"] - capex_before
    if bought_any:  # the callers synced the fleets just before: only new cohorts change them
        sites.sync_fleet()
    return UsedSale(tier_price_usd_per_th=tier_price, migrant_lots=lots)
