"""Consolidation: bankruptcies, auctions of distressed sites, sales and takeovers of firms.

A firm leaves in one of these ways, each an event with date, parties, MW, hashrate and price:

- **bankruptcy** — cash still negative after all credit and BTC (``finance.pay``). Its
  sites go to a *distress auction*; the proceeds pay its creditors in order (unpaid
  operating bills first, then lenders; equity gets what is left, usually nothing).
- **voluntary sale** — a screened firm (losing money, highly levered or cheap relative
  to its assets) is shopped to the best-funded peers; if a buyer values it more than the
  owner values continuing, it is sold (seller-initiated when the owner's equity is worth
  less than its sites' liquidation value, a *takeover* by an opportunistic buyer otherwise).
- **wind-down** — a solvent firm whose sites are worth less to it than their fixed costs shuts
  them down (that MW leaves the network), sells its BTC, repays its lenders and pays out what
  is left. A bankrupt's site that finds no bidder is shut down too (event ``sites_closed``),
  but its firm's exit is the bankruptcy: exits = bankruptcies + sales + takeovers + wind-downs.

A leaving firm's books are closed (``close_books``): it keeps no cash, BTC, debt or payments.
A bankrupt's orders in flight are cancelled before its sites are sold (``cancel_pipelines``);
a firm taken over hands its orders, and the instalments still due on them, to the buyer.

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
from marketsim.firms import economics as econ
from marketsim.firms import finance
from marketsim.step_state import Observation, Payments
from marketsim.units import MONTHS_PER_YEAR

# firms in deals within one step that the head of the step's bidder ranking covers before the
# rest is sorted (a tuning choice: a step at 1,000 firms has a handful of deals)
RANKED_DEALS = 32


def settle_exits(model, seen: Observation, payments: Payments) -> None:
    """Bankruptcies first (their sites are auctioned), then the market for whole firms.

    ``payments`` (from ``finance.pay``) says who is insolvent; ``seen`` prices what is sold.
    What each firm can spend is computed once and drawn down as it buys; bidders are ranked
    and sites grouped by owner once (``ExitBook``), so each auction and deal costs O(bidders +
    its sites), not O(firms). The helpers below, which tests also call one by one, read the same
    two records where the step keeps them (``model.seen``, ``model.payments``).
    """
    assets = finance.asset_value_usd(model, seen)
    if not len(payments.insolvent):
        # with no bankruptcy nothing the assets are made of has changed: the market screens on
        # these, and when it screens no firm nothing can happen, so what firms can spend and the
        # step's indexes (both pure reads of the books) are not worked out
        targets = screen_targets(model, assets)
        if not len(targets):
            return
        spend = finance.spendable_usd(model, assets, seen)
        market_for_firms(model, spend, ExitBook(model, spend), assets, targets=targets)
        return
    spend = finance.spendable_usd(model, assets, seen)
    book = ExitBook(model, spend)
    for firm_id in payments.insolvent:
        go_bankrupt(model, int(firm_id), spend, book)
    market_for_firms(model, spend, book, None)


class ExitBook:
    """One step's indexes for the exits: firms ranked by what they can spend, sites by owner.

    Built once per step (one sort of the eligible firms, one stable argsort of the sites by
    owner) and kept true as deals happen: each deal marks its parties (``touch``) and the sites
    that moved (``moved``). Within a step, eligibility (active, solvent, positive cash) and
    ``spend`` change only for firms in a deal, and spend only goes down, so the best ``k + 1``
    eligible firms now are among the first ``k + 1 + c`` of the step's ranking, ``c`` counting
    the firms in deals. That list (``_current_top``) is rebuilt only after a deal; a bidder list
    is then that list without the firm excluded, so each target costs O(1), not a sort of every
    firm. Ties in spend go to the lower firm id.
    """

    def __init__(self, model, spend: np.ndarray):
        firms = model.firms
        self.model, self.spend = model, spend
        self.k = model.config.auction_max_bidders
        self.insolvent = np.zeros(len(firms), bool)
        self.insolvent[model.payments.insolvent] = True
        self.was_eligible = firms.active & ~self.insolvent & (firms.cash_usd > 0)
        idx = self.was_eligible.nonzero()[0]
        self.n_was_eligible = len(idx)
        self._spend_then = idx, spend[idx]  # what the ranking ranks by (spend goes down in deals)
        # the head of the ranking (most to spend first, then lowest id), long enough for the
        # deals of most steps; ranked in full if a step has more (``_current_top``)
        self.ranked = self._rank(self.k + 1 + RANKED_DEALS)
        self.touched: set[int] = set()
        # the sites grouped by owner (``_group_sites``), made when a firm's sites are first asked
        # for: in many steps the market strikes no deal and winds no firm down
        self.by_owner: np.ndarray | None = None
        self.owner_start: np.ndarray | None = None
        self.gained: dict[int, list[np.ndarray]] = {}
        # (best k + 1 eligible now, how many are eligible (a lower bound above k + 1), the first k, as a list)
        self._top: list | None = None

    def _rank(self, m: int | None = None) -> np.ndarray:
        """The first ``m`` (or more: ties at the cut come too; all if None) of the firms eligible at
        the start by most to spend then lowest id: a partition, then a sort of the head only."""
        idx, spend = self._spend_then
        if m is not None and len(idx) > m:
            cut = np.partition(-spend, m - 1)[m - 1]
            if not np.isnan(cut):
                head = -spend <= cut
                idx, spend = idx[head], spend[head]
        return idx[np.lexsort((idx, -spend))]

    def touch(self, *firm_ids: int) -> None:
        top, k = self._top, self.k
        for f in firm_ids:
            f = int(f)
            self.touched.add(f)
            # a firm outside the best k + 1 stays outside (its spend only goes down, it may only
            # leave): the list holds while more than k + 1 surely remain eligible
            if top is not None and f not in top[3] and top[1] - 1 > k + 1:
                top[1] -= 1
            else:
                top = self._top = None  # a deal changed who is eligible or what they can spend

    def moved(self, rows: np.ndarray, buyer: int) -> None:
        self.gained.setdefault(int(buyer), []).append(np.atleast_1d(rows))
        self.touch(buyer)

    def _group_sites(self) -> None:
        """One stable argsort of the sites by owner, and where each owner's run starts in it (the
        cumulative count of sites by owner). Made from the owners of the moment: with the sites
        ``moved`` since and the check of today's owner, ``sites_of`` gives the same rows whenever
        this runs."""
        owner, n = self.model.sites.owner, len(self.model.firms)
        self.by_owner = owner.argsort(kind="stable")
        self.owner_start = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(owner, minlength=n), out=self.owner_start[1:])

    def sites_of(self, firm_id: int) -> np.ndarray:
        """The firm's sites now, ascending (as ``np.flatnonzero(sites.owner == firm_id)``)."""
        if self.by_owner is None:
            self._group_sites()
        rows = self.by_owner[self.owner_start[firm_id]:self.owner_start[firm_id + 1]]  # ascending: a stable sort
        if firm_id in self.gained:
            rows = np.unique(np.concatenate([rows, *self.gained[firm_id]]))  # sorted too
        return rows[self.model.sites.owner[rows] == firm_id]

    def _eligible(self, ids: np.ndarray) -> np.ndarray:
        firms = self.model.firms
        return firms.active[ids] & ~self.insolvent[ids] & (firms.cash_usd[ids] > 0)

    def _current_top(self) -> tuple:
        """The ``k + 1`` eligible firms with the most to spend now (best first; all of them when
        fewer), how many firms are eligible now, and the first ``k`` (read-only arrays)."""
        if self._top is None:
            k = self.k
            changed = np.fromiter(self.touched, dtype=np.int64, count=len(self.touched))
            if k + 1 + len(changed) > len(self.ranked) < self.n_was_eligible:
                self.ranked = self._rank()
            pool = self.ranked[: k + 1 + len(changed)]
            cand = pool[self._eligible(pool)]
            top = cand[np.lexsort((cand, -self.spend[cand]))[: k + 1]]
            top.flags.writeable = False
            # only firms in deals can have left the ranking (none joins it within a step)
            n_eligible = self.n_was_eligible - int((self.was_eligible[changed] & ~self._eligible(changed)).sum())
            self._top = [top, n_eligible, top[:k], top.tolist()]
        return self._top

    def bidders(self, exclude: int) -> np.ndarray:
        """``eligible_bidders``: the ``auction_max_bidders`` eligible firms with the most to spend,
        best first; all of them, by id, when there are no more than that."""
        top, n_eligible, first_k, ids = self._current_top()
        # an excluded firm in the list is eligible: one fewer to choose from. One not in it changes
        # nothing: either more than k + 1 are eligible (still more than k without it), or the
        # list holds every eligible firm (so it is not eligible)
        if exclude >= 0 and exclude in ids:
            n_eligible -= 1
            top = top[top != exclude]
            first_k = top[: self.k]
        if n_eligible > self.k:
            return first_k
        return np.sort(top)


# --- bankruptcy and distress auctions ---------------------------------------------------
def go_bankrupt(model, firm_id: int, spend: np.ndarray | None = None, book: ExitBook | None = None) -> None:
    firms, sites = model.firms, model.sites
    if book is not None:
        book.touch(firm_id)
    owned = np.flatnonzero(sites.owner == firm_id) if book is None else book.sites_of(firm_id)
    # orders in flight stop with the payments for them: a buyer gets the sites as they stand,
    # not MW nobody pays for
    cancel_pipelines(model, owned)
    rows = owned[sites.capacity_mw[owned] - sites.mw_shutdown[owned] > 0]
    mw = float((sites.capacity_mw[rows] - sites.mw_shutdown[rows]).sum())
    hashrate = float(model.sites.hashrate_ehs[rows].sum())
    payables, debt = max(0.0, -firms.cash_usd[firm_id]), float(firms.debt_usd[firm_id])
    model.events.add("bankruptcy", firm_id, -1, mw, hashrate_ehs=hashrate, value_usd=debt,
                     detail=f"unpaid bills {payables:,.0f} USD, debt {debt:,.0f} USD")
    proceeds = auction_sites(model, firm_id, rows, distressed=True, spend=spend, book=book)
    # its sites with no live MW (scrapped) too, exactly: a -1e-13 MW residue would bill it opex
    shut_down_sites(model, owned[sites.owner[owned] == firm_id])
    record = close_books(model, firm_id, payables)
    model.creditor_recoveries.append({"step": model.steps_done, "firm_id": firm_id, "kind": "bankruptcy",
                                      "proceeds_usd": proceeds, **record})
    model.retire_firm(firm_id, "bankrupt")


def close_books(model, firm_id: int, bills_usd: float) -> dict:
    """Settle a leaving firm's estate in order of priority and leave it with nothing.

    Its remaining capex instalments are cancelled with its orders; its treasury BTC is sold at
    the step's price; the estate (cash, sale proceeds already in it, BTC) pays the unpaid
    operating bills (``bills_usd``, already netted in its negative cash) first, then the
    lenders; what is left is paid out to the shareholders. Bills and debt the estate cannot
    cover are written off. Afterwards the firm has no cash, BTC, debt or payments, so it pays
    no interest and earns nothing: its books are closed.
    """
    firms, led = model.firms, model.firms.ledger
    f = firm_id
    cancelled = float(firms.payments.buffer[f].sum())
    firms.payments.buffer[f] = 0.0
    coins = float(firms.btc_held[f])
    btc_usd = coins * model.market.state.btc_price_usd
    firms.btc_held[f] = 0.0
    firms.cash_usd[f] += btc_usd
    led["btc_sold_usd"][f] += btc_usd
    estate = float(firms.cash_usd[f]) + bills_usd
    bills_paid = min(max(estate, 0.0), bills_usd)
    debt = float(firms.debt_usd[f])
    debt_paid = min(max(float(firms.cash_usd[f]), 0.0), debt)
    finance.repay_one(firms, f, debt_paid)
    firms.debt_usd[f] = 0.0  # the rest is written off
    equity = max(float(firms.cash_usd[f]), 0.0)
    firms.cash_usd[f] -= equity
    led["equity_paid_out_usd"][f] += equity
    unpaid = max(-float(firms.cash_usd[f]), 0.0)
    firms.cash_usd[f] = 0.0
    led["bills_written_off_usd"][f] += unpaid
    if firms.debt_ceiling_usd is not None:
        firms.debt_ceiling_usd[f] = 0.0
    return {"btc_sold": coins, "btc_sold_usd": btc_usd, "estate_usd": estate, "bills_usd": bills_usd,
            "bills_paid_usd": bills_paid, "debt_usd": debt, "debt_paid_usd": debt_paid,
            "debt_written_off_usd": debt - debt_paid, "equity_usd": equity, "capex_cancelled_usd": cancelled}


def cancel_pipelines(model, rows: np.ndarray) -> None:
    """Cancel the orders in flight at these sites: MW being built is recorded as cancelled
    (``SiteBook.mw_cancelled``), upgrades lapse (the old fleet stays), and MW being converted goes
    back to its machines (idle until curtailment decides), with leases signed on the unbuilt
    halls cut to what is delivered."""
    sites, leases = model.sites, model.leases
    if not len(rows):
        return
    building = sites.build_pipeline.buffer[rows].sum(axis=1)
    converting = sites.mw_converting[rows].copy()
    model.sites.mw_cancelled[rows] += building
    sites.build_pipeline.buffer[rows] = 0.0
    sites.upgrade_due_step[rows] = -1
    sites.conversion_pipeline.buffer[rows] = 0.0
    sites.mw_converting[rows] = 0.0
    sites.mw_idle[rows] += converting
    if len(leases) and converting.any():
        contracted = leases.contracted_it_by_site(len(sites))
        deliverable = sites.mw_converted / model.config.ai_pue
        keep = np.where(contracted > deliverable, deliverable / np.where(contracted > 0, contracted, 1.0), 1.0)
        hit = np.zeros(len(sites), bool)
        hit[rows] = True
        leases.mw_it = np.where(hit[leases.site], leases.mw_it * keep[leases.site], leases.mw_it)
    hit = building + converting > 0
    if hit.any():
        model.events.add_many("orders_cancelled", model.sites.owner[rows[hit]], rows[hit], (building + converting)[hit])


def auction_sites(model, seller: int, rows: np.ndarray, distressed: bool, spend: np.ndarray | None = None,
                  book: ExitBook | None = None) -> float:
    """Sell each site to the best bidder (second-price); unsold sites wind down. Returns proceeds.

    The sites go most valuable first, each to the best bid that what the bidder has left can
    pay: what one sale draws down changes the bids on the next, so the walk over sites stays a
    loop, each step O(bidders) in numpy.
    """
    s = model.config
    if not len(rows):
        return 0.0
    spend = finance.spendable_usd(model, None, model.seen) if spend is None else spend
    book = ExitBook(model, spend) if book is None else book
    bidders = book.bidders(seller)
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
            transfer_site(model, site, winner, seller, price, "distress auction" if distressed else "site sale", book)
            spend[winner] -= price
            proceeds += price
    unsold = rows[model.sites.owner[rows] == seller]
    if len(unsold):
        mw = float((model.sites.capacity_mw[unsold] - model.sites.mw_shutdown[unsold]).sum())
        # not a wind-down exit: the seller leaves as a bankrupt (exits = sum of their kinds)
        model.events.add("sites_closed", seller, -1, mw, hashrate_ehs=float(model.sites.hashrate_ehs[unsold].sum()),
                         detail=f"{len(unsold)} site(s) found no buyer and shut down")
        shut_down_sites(model, unsold)
    return proceeds


def eligible_bidders(model, exclude: int, spend: np.ndarray) -> np.ndarray:
    """The best-funded solvent firms (``auction_max_bidders`` of them), from scratch (one sort of
    every firm; ``ExitBook.bidders`` gives the same list within a step's exits)."""
    firms = model.firms
    ok = firms.active.copy()
    ok[exclude] = False
    ok[model.payments.insolvent] = False
    ok &= firms.cash_usd > 0
    idx = np.flatnonzero(ok)
    if len(idx) > model.config.auction_max_bidders:
        idx = idx[np.lexsort((idx, -spend[idx]))[: model.config.auction_max_bidders]]
    return idx


def transfer_site(model, site: int, buyer: int, seller: int, price: float, how: str,
                  book: ExitBook | None = None) -> None:
    """The buyer pays (borrowing what its cash does not cover) and takes the site as it is:
    its machines, orders in flight, conversions and leases go with it."""
    firms, sites = model.firms, model.sites
    shortfall = price - max(firms.cash_usd[buyer], 0.0)
    if shortfall > 0:
        finance.borrow(firms, np.array([buyer]), np.array([shortfall]))
    firms.cash_usd[buyer] -= price
    firms.ledger["acquisitions_usd"][buyer] += price
    firms.cash_usd[seller] += price  # into the seller's estate, for its creditors
    firms.ledger["asset_sales_usd"][seller] += price
    sites.owner[site] = buyer
    if book is not None:
        book.moved(site, buyer)
        book.touch(seller)
    mw = float(sites.capacity_mw[site] - sites.mw_shutdown[site])
    model.events.add("acquisition", buyer, site, mw, counterparty_id=seller,
                     hashrate_ehs=float(model.sites.hashrate_ehs[site]), value_usd=price, detail=how)


def shut_down_sites(model, rows: np.ndarray) -> None:
    """Every MW of these sites leaves the network; nothing is lost from the MW accounting
    (MW still being built is recorded in ``SiteBook.mw_cancelled``)."""
    sites, leases = model.sites, model.leases
    for name in ("mw_mining", "mw_idle", "mw_converting", "mw_converted"):
        getattr(sites, name)[rows] = 0.0
    sites.mw_shutdown[rows] = sites.capacity_mw[rows]  # exactly: no float residue left live
    model.sites.mw_cancelled[rows] += sites.build_pipeline.buffer[rows].sum(axis=1)  # never built: recorded
    sites.build_pipeline.buffer[rows] = 0.0
    sites.conversion_pipeline.buffer[rows] = 0.0
    sites.upgrade_due_step[rows] = -1
    if len(leases):
        closing = np.zeros(len(sites), bool)  # a mask over sites: cheaper than np.isin for a few rows of many leases
        closing[rows] = True
        ended = closing[leases.site]
        if ended.any():
            leases.expiry_step[ended] = model.steps_done
            leases.expire(model.steps_done)
    model.sites.mw_ai_leased[rows] = 0.0
    model.sites.hashrate_ehs[rows] = 0.0


# --- the market for whole firms -------------------------------------------------------
def screen_targets(model, assets: np.ndarray | None = None) -> np.ndarray:
    """Firms that come to the market this step: a random draw among the weak or cheap.

    ``assets``: ``finance.asset_value_usd`` now, if the caller has it (it also resets the firms'
    debt ceilings, to the same values when nothing changed since)."""
    s, firms = model.config, model.firms
    assets = finance.asset_value_usd(model, model.seen) if assets is None else assets
    drawn = model.firm_rng.random(len(firms)) < s.ma_review_probability_per_step
    drawn &= firms.active
    if len(model.payments.insolvent):
        drawn[model.payments.insolvent] = False
    if not drawn.any():  # most steps of a small industry: no firm to screen, nothing to value
        return drawn.nonzero()[0]
    weak = (firms.profit_usd < 0) | (firms.debt_usd > firms.debt_ceiling_usd)  # the lenders' limit of that valuation
    cheap = assets - firms.debt_usd < s.takeover_value_ratio * replacement_value_usd(model)
    return (drawn & (weak | cheap)).nonzero()[0]


def replacement_value_usd(model) -> np.ndarray:
    """What it would cost to build each firm's live MW and fleet today."""
    s, sites = model.config, model.sites
    live = sites.capacity_mw - sites.mw_shutdown
    per_mw = s.site_build_capex_usd_per_mw + econ.machine_capex_usd_per_mw(model.seen.machine_price_usd_per_th,
                                                                           model.market.state.frontier_j_per_th)
    return np.bincount(sites.owner, weights=live * per_mw, minlength=len(model.firms))


def market_for_firms(model, spend: np.ndarray, book: ExitBook | None = None,
                     assets: np.ndarray | None = None, targets: np.ndarray | None = None) -> None:
    """``targets``: the firms screened this step (``screen_targets``), if the caller has drawn them."""
    s, firms, sites = model.config, model.firms, model.sites
    price_btc = model.market.state.btc_price_usd
    book = ExitBook(model, spend) if book is None else book
    targets = screen_targets(model, assets) if targets is None else targets
    live_rows, screened = _screened_values(model, book, targets)
    touched = book.touched  # the same set object all step
    for target in targets.tolist():
        if not firms.active[target]:
            continue
        # a firm's sites change only in a deal it is party to (which touches it)
        rows = live_rows[target] if target not in touched else _live(sites, book.sites_of(target))
        if not len(rows):
            continue
        bidders = book.bidders(target)
        if not len(bidders):
            return
        ready = screened.get(target)
        if (ready is not None and (rows is ready[0] or _same(ready[0], rows))
                and (bidders is ready[1] or _same(ready[1], bidders))):
            sites_to_bidders, sites_to_owner = ready[2], ready[3]
        else:  # an earlier deal changed its bidders or its sites: value them now
            sites_to_bidders, sites_to_owner = _value_target(model, rows, bidders, target)
        net = firms.cash_usd[target] + firms.btc_held[target] * price_btc - firms.debt_usd[target]
        owner_value = max(sites_to_owner + net, 0.0)  # limited liability: equity is never below 0
        buyer_values = sites_to_bidders + net
        best = int(buyer_values.argmax())
        buyer, buyer_value = bidders[best], buyer_values[best]
        if buyer_value <= owner_value * (1.0 + s.takeover_min_gain):
            if sites_to_owner < fixed_cost_pv(model, rows, target) and net >= 0:
                wind_down(model, target, rows, book)
            continue
        price = owner_value + s.seller_bargaining_power * (buyer_value - owner_value)
        if price > spend[buyer]:
            continue
        liquidation = float(sites_to_bidders.max()) * (1.0 - s.distress_bid_shading)
        how = "voluntary sale" if sites_to_owner + net < liquidation + net else "takeover"
        merge_firms(model, buyer, target, price, how, book)
        spend[buyer] -= price


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """``np.array_equal`` for two 1-D integer arrays, without its generic checks (called per target)."""
    return len(a) == len(b) and bool((a == b).all())


def _live(sites, rows: np.ndarray) -> np.ndarray:
    return rows[sites.capacity_mw[rows] - sites.mw_shutdown[rows] > 0]


def _value_target(model, rows: np.ndarray, bidders: np.ndarray, target: int) -> tuple[np.ndarray, float]:
    """The target's live sites to each bidder and to itself, in one valuation (rows are firms)."""
    values = valuation.site_values_for_bidders(model, rows, np.append(bidders, target))
    return values[:-1].sum(axis=1), values[-1].sum()


def _live_sites_by_firm(model, firm_ids: np.ndarray) -> dict[int, np.ndarray]:
    """Each firm's sites with live MW, ascending (``_live(sites, book.sites_of(f))`` for each f),
    from one pass over the sites instead of one lookup per firm. ``firm_ids`` ascending, once each."""
    return _live_site_groups(model, firm_ids)[0]


def _live_site_groups(model, firm_ids: np.ndarray) -> tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """``_live_sites_by_firm``, and the same sites in one array (firm after firm: each firm's
    array is a slice of it) with their owners: what the exits value in one pass."""
    sites = model.sites
    wanted = np.zeros(len(model.firms), bool)
    wanted[firm_ids] = True
    rows = np.flatnonzero(wanted[sites.owner] & (sites.capacity_mw - sites.mw_shutdown > 0))
    owner = sites.owner[rows]
    order = owner.argsort(kind="stable")
    rows, grouped_owner = rows[order], owner[order]  # grouped by firm (ascending ids), ascending within
    ends = np.bincount(owner, minlength=len(model.firms))[firm_ids].cumsum().tolist()
    out, lo = {}, 0
    for f, hi in zip(firm_ids.tolist(), ends):
        out[f] = rows[lo:hi]
        lo = hi
    return out, rows, grouped_owner


def _screened_values(model, book: ExitBook, targets: np.ndarray) -> tuple[dict, dict]:
    """Every screened firm's live sites, and their values before any deal: by the step's best
    bidders (one (bidders x all their sites) expression) and by their owners (one pass over
    (site, owner) pairs). Returns (live sites per active target, and per target with live sites:
    (those rows, bidders, value to each bidder, value to the owner)).

    A deal changes the bidders or the sites of only the firms in it; ``market_for_firms`` uses
    these numbers only when a target's rows and bidders are still the ones valued here (the
    sites' states and the firms' beliefs do not change during the market), else values anew.
    """
    bidders = book.bidders(-1)
    # every target's live sites in one array, target after target, and their owners
    live, every, owners = _live_site_groups(model, targets[model.firms.active[targets]])
    if not len(every) or not len(bidders):
        return live, {}
    to_bidders, to_owners = valuation.site_values_to_bidders_and_owners(model, every, bidders, owners)
    out, lo = {}, 0
    for t, r in live.items():
        hi = lo + len(r)
        if hi == lo:  # no live site: nothing valued
            continue
        if hi - lo == 1:  # most targets hold one live site: numpy's sum of one number x is 0.0 + x
            out[t] = (r, bidders, to_bidders[:, lo] + 0.0, to_owners[lo] + 0.0)
        else:
            out[t] = (r, bidders, np.ascontiguousarray(to_bidders[:, lo:hi]).sum(axis=1), to_owners[lo:hi].sum())
        lo = hi
    return live, out


def fixed_cost_pv(model, rows: np.ndarray, firm_id: int) -> float:
    """PV of these sites' fixed costs over the decision horizon, discounted at mid-horizon at the
    firm's hurdle rate: what a solvent firm's sites must be worth to it to keep them running."""
    s, sites = model.config, model.sites
    if len(rows) == 1:  # most firms on the market hold one live site: its MW (numpy's sum of one x is 0.0 + x)
        r = rows[0]
        live = float(sites.capacity_mw[r] - sites.mw_shutdown[r] + 0.0)
    else:
        live = float((sites.capacity_mw[rows] - sites.mw_shutdown[rows]).sum())
    months = s.decision_horizon_years * MONTHS_PER_YEAR
    return live * s.site_fixed_cost_usd_per_mw_month * months / (1 + model.firms.hurdle_rate_per_year[firm_id]) ** (
        s.decision_horizon_years / 2)


def wind_down(model, firm_id: int, rows: np.ndarray, book: ExitBook | None = None) -> None:
    """A solvent firm whose sites are worth less to it than their fixed costs closes them
    (all of its sites, with their orders in flight), sells its BTC, repays its lenders, pays
    its shareholders what is left and leaves (``close_books``)."""
    sites = model.sites
    mw = float((sites.capacity_mw[rows] - sites.mw_shutdown[rows]).sum())
    model.events.add("wind_down", firm_id, -1, mw, hashrate_ehs=float(model.sites.hashrate_ehs[rows].sum()),
                     detail="sites worth less than their fixed costs")
    if book is not None:
        book.touch(firm_id)
    shut_down_sites(model, np.flatnonzero(sites.owner == firm_id) if book is None else book.sites_of(firm_id))
    record = close_books(model, firm_id, max(0.0, -float(model.firms.cash_usd[firm_id])))
    model.creditor_recoveries.append({"step": model.steps_done, "firm_id": firm_id, "kind": "wind_down",
                                      "proceeds_usd": 0.0, **record})
    model.retire_firm(firm_id, "wound_down")


def merge_firms(model, buyer: int, target: int, price: float, how: str, book: ExitBook | None = None) -> None:
    """The buyer pays the target's shareholders and takes over everything: sites, cash, BTC,
    debt (its rate and maturity blended into the buyer's) and committed capex (so the target's
    orders in flight are paid for by the buyer)."""
    firms, sites = model.firms, model.sites
    rows = np.flatnonzero(sites.owner == target) if book is None else book.sites_of(target)
    mw = float((sites.capacity_mw[rows] - sites.mw_shutdown[rows]).sum())
    hashrate = float(model.sites.hashrate_ehs[rows].sum())
    led = firms.ledger
    led["acquired_cash_usd"][buyer] += firms.cash_usd[target]
    led["acquired_cash_usd"][target] -= firms.cash_usd[target]  # the target's cash leaves with it
    firms.cash_usd[buyer] += firms.cash_usd[target]
    firms.btc_held[buyer] += firms.btc_held[target]
    # the target's loans come with it: the buyer's rate and maturity become the debt-weighted blend
    d_buyer, d_target = float(firms.debt_usd[buyer]), float(firms.debt_usd[target])
    if d_target > 0:
        w = d_target / (d_buyer + d_target)
        firms.debt_rate_per_year[buyer] += w * (firms.debt_rate_per_year[target] - firms.debt_rate_per_year[buyer])
        firms.debt_maturity_step[buyer] = round(firms.debt_maturity_step[buyer]
                                                + w * (firms.debt_maturity_step[target] - firms.debt_maturity_step[buyer]))
    firms.debt_usd[buyer] += d_target
    if firms.debt_ceiling_usd is not None:  # and so does the collateral behind them
        firms.debt_ceiling_usd[buyer] += firms.debt_ceiling_usd[target]
        firms.debt_ceiling_usd[target] = 0.0
    firms.payments.buffer[buyer] += firms.payments.buffer[target]
    firms.payments.buffer[target] = 0.0
    shortfall = price - max(firms.cash_usd[buyer], 0.0)
    if shortfall > 0:
        finance.borrow(firms, np.array([buyer]), np.array([shortfall]))
    firms.cash_usd[buyer] -= price
    led["acquisitions_usd"][buyer] += price
    sites.owner[rows] = buyer
    if book is not None:
        book.moved(rows, buyer)
        book.touch(target)
    kind = "voluntary_sale" if how == "voluntary sale" else "takeover"
    model.events.add(kind, target, -1, mw, counterparty_id=buyer, hashrate_ehs=hashrate, value_usd=price, detail=how)
    model.events.add("acquisition", buyer, -1, mw, counterparty_id=target, hashrate_ehs=hashrate, value_usd=price,
                     detail=how)
    firms.cash_usd[target] = firms.debt_usd[target] = firms.btc_held[target] = 0.0
    model.retire_firm(target, "sold" if kind == "voluntary_sale" else "taken_over")
