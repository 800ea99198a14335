"""Consolidation: bankruptcies, auctions of distressed sites, sales and takeovers of firms.

A firm leaves in one of these ways, each an event with date, parties, MW, hashrate and price:

- **bankruptcy** — cash still negative after all credit and BTC (``finance.pay``). Its
  sites go to a *distress auction*; the proceeds pay its creditors in order (unpaid
  operating bills first, then lenders; equity gets what is left, usually nothing).
- **voluntary sale** — a screened firm (losing money, highly levered or cheap relative
  to its assets) is shopped to the best-funded peers; if a buyer values it more than the
  owner values continuing, it is sold (seller-initiated when the owner's equity is worth
  less than its sites' liquidation value, a *takeover* by an opportunistic buyer otherwise).
- **wind-down** — a bankrupt's site that finds no bidder, or a firm whose sites are worth
  less to it than their fixed costs, shuts down: that MW leaves the network.

Auction rule (documented choice): sealed-bid second-price. Each bidder bids its own value of
the site (``valuation.site_values_for_bidders``), shaded by ``distress_bid_shading`` in a
distress sale (fire-sale buyers know the seller cannot wait), capped by what it can pay now
(cash above reserve plus unused credit: a firm that cannot pay does not win). The highest
bidder wins and pays the second-highest bid, or the reserve if higher (0 in a distress
auction). Whole-firm deals are struck by Nash bargaining: the price splits the gap between
the owner's value and the buyer's value by ``seller_bargaining_power``.
"""

from __future__ import annotations

import numpy as np

from marketsim import valuation
from marketsim.firms import finance


def settle_exits(model) -> None:
    """Bankruptcies first (their sites are auctioned), then the market for whole firms.

    What each firm can spend is computed once and drawn down as it buys.
    """
    spend = finance.spendable_usd(model)
    for firm_id in model.insolvent:
        go_bankrupt(model, int(firm_id), spend)
    market_for_firms(model, spend)


# --- bankruptcy and distress auctions ---------------------------------------------------
def go_bankrupt(model, firm_id: int, spend: np.ndarray | None = None) -> None:
    firms, sites = model.firms, model.sites
    rows = np.flatnonzero((sites.owner == firm_id) & (sites.capacity_mw - sites.mw_shutdown > 0))
    mw = float((sites.capacity_mw[rows] - sites.mw_shutdown[rows]).sum())
    hashrate = float(model.site_hashrate_ehs[rows].sum())
    payables, debt = max(0.0, -firms.cash_usd[firm_id]), float(firms.debt_usd[firm_id])
    model.events.add("bankruptcy", firm_id, -1, mw, hashrate_ehs=hashrate, value_usd=debt,
                     detail=f"unpaid bills {payables:,.0f} USD, debt {debt:,.0f} USD")
    firms.payments.buffer[firm_id] = 0.0  # orders in flight are cancelled
    proceeds = auction_sites(model, firm_id, rows, distressed=True, spend=spend)
    paid_bills = min(proceeds, payables)
    paid_debt = min(proceeds - paid_bills, debt)
    model.creditor_recoveries.append({
        "step": model.steps_done, "firm_id": firm_id, "proceeds_usd": proceeds,
        "bills_usd": payables, "bills_paid_usd": paid_bills, "debt_usd": debt, "debt_paid_usd": paid_debt,
        "equity_usd": proceeds - paid_bills - paid_debt,
    })
    firms.cash_usd[firm_id] = 0.0
    firms.debt_usd[firm_id] = 0.0
    firms.btc_held[firm_id] = 0.0
    model.retire_firm(firm_id, "bankrupt")


def auction_sites(model, seller: int, rows: np.ndarray, distressed: bool, spend: np.ndarray | None = None) -> float:
    """Sell each site to the best bidder (second-price); unsold sites wind down. Returns proceeds."""
    s = model.config
    if not len(rows):
        return 0.0
    spend = finance.spendable_usd(model) if spend is None else spend
    bidders = eligible_bidders(model, seller, spend)
    proceeds = 0.0
    if len(bidders):
        values = valuation.site_values_for_bidders(model, rows, bidders)
        shading = 1.0 - (s.distress_bid_shading if distressed else 0.0)
        order = np.argsort(-values.max(axis=0))  # most valuable sites first
        for j in order:
            bids = np.minimum(values[:, j] * shading, np.maximum(spend[bidders], 0.0))
            if bids.max() <= 0:
                continue
            ranked = np.argsort(-bids)
            winner = bidders[ranked[0]]
            price = float(bids[ranked[1]]) if len(ranked) > 1 else 0.0
            site = rows[j]
            transfer_site(model, site, winner, seller, price, "distress auction" if distressed else "site sale")
            spend[winner] -= price
            proceeds += price
    unsold = rows[model.sites.owner[rows] == seller]
    if len(unsold):
        mw = float((model.sites.capacity_mw[unsold] - model.sites.mw_shutdown[unsold]).sum())
        model.events.add("wind_down", seller, -1, mw, hashrate_ehs=float(model.site_hashrate_ehs[unsold].sum()),
                         detail=f"{len(unsold)} site(s) found no buyer and shut down")
        shut_down_sites(model, unsold)
    return proceeds


def eligible_bidders(model, exclude: int, spend: np.ndarray) -> np.ndarray:
    """The best-funded solvent firms (``auction_max_bidders`` of them)."""
    firms = model.firms
    ok = firms.active.copy()
    ok[exclude] = False
    ok[model.insolvent] = False
    ok &= firms.cash_usd > 0
    idx = np.flatnonzero(ok)
    if len(idx) > model.config.auction_max_bidders:
        idx = idx[np.argsort(-spend[idx])[: model.config.auction_max_bidders]]
    return idx


def transfer_site(model, site: int, buyer: int, seller: int, price: float, how: str) -> None:
    """The buyer pays (borrowing what its cash does not cover) and takes the site as it is:
    its machines, orders in flight, conversions and leases go with it."""
    firms, sites = model.firms, model.sites
    shortfall = price - max(firms.cash_usd[buyer], 0.0)
    if shortfall > 0:
        finance.borrow(firms, np.array([buyer]), np.array([shortfall]))
    firms.cash_usd[buyer] -= price
    firms.ledger["acquisitions_usd"][buyer] += price
    sites.owner[site] = buyer
    mw = float(sites.capacity_mw[site] - sites.mw_shutdown[site])
    model.events.add("acquisition", buyer, site, mw, counterparty_id=seller,
                     hashrate_ehs=float(model.site_hashrate_ehs[site]), value_usd=price, detail=how)


def shut_down_sites(model, rows: np.ndarray) -> None:
    """Every MW of these sites leaves the network; nothing is lost from the MW accounting."""
    sites, leases = model.sites, model.leases
    for name in ("mw_mining", "mw_idle", "mw_converting", "mw_converted"):
        arr = getattr(sites, name)
        sites.mw_shutdown[rows] += arr[rows]
        arr[rows] = 0.0
    sites.build_pipeline.buffer[rows] = 0.0
    sites.conversion_pipeline.buffer[rows] = 0.0
    sites.upgrade_due_step[rows] = -1
    ended = np.isin(leases.site, rows)
    if ended.any():
        leases.expiry_step[ended] = model.steps_done
        leases.expire(model.steps_done)
    model.mw_ai_leased[rows] = 0.0
    model.site_hashrate_ehs[rows] = 0.0


# --- the market for whole firms -------------------------------------------------------
def screen_targets(model) -> np.ndarray:
    """Firms that come to the market this step: a random draw among the weak or cheap."""
    s, firms = model.config, model.firms
    assets = finance.asset_value_usd(model)
    weak = (firms.profit_usd < 0) | (firms.debt_usd > s.max_debt_to_assets * assets)
    cheap = assets - firms.debt_usd < s.takeover_value_ratio * replacement_value_usd(model)
    drawn = model.firm_rng.random(len(firms)) < s.ma_review_probability_per_step
    candidates = firms.active & drawn & (weak | cheap)
    candidates[model.insolvent] = False
    return np.flatnonzero(candidates)


def replacement_value_usd(model) -> np.ndarray:
    """What it would cost to build each firm's live MW and fleet today."""
    s, sites = model.config, model.sites
    live = sites.capacity_mw - sites.mw_shutdown
    per_mw = s.site_build_capex_usd_per_mw + model.machine_price_usd_per_th * 1e6 / model.market.state.frontier_j_per_th
    return np.bincount(sites.owner, weights=live * per_mw, minlength=len(model.firms))


def market_for_firms(model, spend: np.ndarray) -> None:
    s, firms, sites = model.config, model.firms, model.sites
    price_btc = model.market.state.btc_price_usd
    for target in screen_targets(model):
        if not firms.active[target]:
            continue
        rows = np.flatnonzero((sites.owner == target) & (sites.capacity_mw - sites.mw_shutdown > 0))
        if not len(rows):
            continue
        bidders = eligible_bidders(model, target, spend)
        if not len(bidders):
            return
        sites_to_bidders = valuation.site_values_for_bidders(model, rows, bidders).sum(axis=1)
        sites_to_owner = valuation.site_values_for_bidders(model, rows, np.array([target])).sum()
        net = firms.cash_usd[target] + firms.btc_held[target] * price_btc - firms.debt_usd[target]
        owner_value = max(sites_to_owner + net, 0.0)  # limited liability: equity is never below 0
        buyer_values = sites_to_bidders + net
        best = int(np.argmax(buyer_values))
        buyer, buyer_value = bidders[best], buyer_values[best]
        if buyer_value <= owner_value * (1.0 + s.takeover_min_gain):
            if sites_to_owner < fixed_cost_pv(model, rows, target) and net >= 0:
                wind_down(model, target, rows)
            continue
        price = owner_value + s.seller_bargaining_power * (buyer_value - owner_value)
        if price > spend[buyer]:
            continue
        liquidation = float(sites_to_bidders.max()) * (1.0 - s.distress_bid_shading)
        how = "voluntary sale" if sites_to_owner + net < liquidation + net else "takeover"
        merge_firms(model, buyer, target, price, how)
        spend[buyer] -= price


def fixed_cost_pv(model, rows: np.ndarray, firm_id: int) -> float:
    s, sites = model.config, model.sites
    live = float((sites.capacity_mw[rows] - sites.mw_shutdown[rows]).sum())
    months = s.decision_horizon_years * 12
    return live * s.site_fixed_cost_usd_per_mw_month * months / (1 + model.firms.hurdle_rate_per_year[firm_id]) ** (
        s.decision_horizon_years / 2)


def wind_down(model, firm_id: int, rows: np.ndarray) -> None:
    """A solvent firm whose sites are worth less to it than their fixed costs closes them,
    sells its BTC, repays its lenders and leaves."""
    firms = model.firms
    mw = float((model.sites.capacity_mw[rows] - model.sites.mw_shutdown[rows]).sum())
    model.events.add("wind_down", firm_id, -1, mw, hashrate_ehs=float(model.site_hashrate_ehs[rows].sum()),
                     detail="sites worth less than their fixed costs")
    shut_down_sites(model, rows)
    firms.payments.buffer[firm_id] = 0.0
    model.retire_firm(firm_id, "wound_down")


def merge_firms(model, buyer: int, target: int, price: float, how: str) -> None:
    """The buyer pays the target's shareholders and takes over everything: sites, cash, BTC,
    debt and committed capex."""
    firms, sites = model.firms, model.sites
    rows = np.flatnonzero(sites.owner == target)
    mw = float((sites.capacity_mw[rows] - sites.mw_shutdown[rows]).sum())
    hashrate = float(model.site_hashrate_ehs[rows].sum())
    led = firms.ledger
    led["acquired_cash_usd"][buyer] += firms.cash_usd[target]
    firms.cash_usd[buyer] += firms.cash_usd[target]
    firms.btc_held[buyer] += firms.btc_held[target]
    firms.debt_usd[buyer] += firms.debt_usd[target]
    firms.payments.buffer[buyer] += firms.payments.buffer[target]
    firms.payments.buffer[target] = 0.0
    shortfall = price - max(firms.cash_usd[buyer], 0.0)
    if shortfall > 0:
        finance.borrow(firms, np.array([buyer]), np.array([shortfall]))
    firms.cash_usd[buyer] -= price
    led["acquisitions_usd"][buyer] += price
    sites.owner[rows] = buyer
    kind = "voluntary_sale" if how == "voluntary sale" else "takeover"
    model.events.add(kind, target, -1, mw, counterparty_id=buyer, hashrate_ehs=hashrate, value_usd=price, detail=how)
    model.events.add("acquisition", buyer, -1, mw, counterparty_id=target, hashrate_ehs=hashrate, value_usd=price,
                     detail=how)
    firms.cash_usd[target] = firms.debt_usd[target] = firms.btc_held[target] = 0.0
    model.retire_firm(target, "sold" if kind == "voluntary_sale" else "taken_over")
