"""Operate: deliveries land, sites mine or curtail, the network's hashrate and rewards follow.

Order within the phase (MODEL.md "Each step, each firm", 1-2):
1. what was ordered arrives: new MW energised, upgraded fleets, finished conversions;
2. each site mines in the hours its margin is positive at the hashprice consistent with the
   hashrate that mines (a fixed point: ``consistent_hashprice``), net of exogenous outages
   (scenario ``hashrate_events``); fleets that have not paid their avoidable fixed cost for
   ``scrap_after_unprofitable_months`` are scrapped and the site shut down;
3. exogenous outages take their share of mining MW offline;
4. the chain advances with the realised network hashrate; each firm earns its hashrate share
   of the step's rewards, and pays power and variable opex on the MW that actually mined.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from marketsim import fastnp, protocol
from marketsim.firms import economics as econ
from marketsim.firms import mining_margin, used_market, vintages
from marketsim.firms.vintages import COHORT_TOLERANCE_MW
from marketsim.step_state import Curtailment, Observation, UsedSale

# the fixed point is searched down to exp(-30) of the fleet (a network off in all but name)
FIXED_POINT_BRACKET_LOG = 30.0  # widest bracket, in log EH/s (e^30: any hashrate a model could reach)
FIXED_POINT_TOLERANCE_LOG = 1e-6  # relative precision of the hashrate (1 ppm)
FIXED_POINT_NEAR_LOG = 0.25  # half-width of the first bracket around last step's hashrate
# the narrow bracket is tried before the whole fleet's excess when its top lies at least this far
# (in log EH/s) below the fleet's: excess falls by at least that much between them, far more than
# the float rounding of a sum of ndtr values (~1e-15), so a negative excess at the bracket's top
# proves the fleet's is negative too
FIXED_POINT_SLOPE_MARGIN_LOG = 1e-6
SCRAP_REMNANT_MW = 0.1  # a cohort smaller than this after a scrapping goes whole
MINING_SITE_SHARE = 0.5  # a site counts as mining (for curtailment/resumption events) while at least half its
#                          machine MW runs: a reporting threshold, the economics use the exact shares


def land_deliveries(model, seen: Observation, hashprice_consistent: float) -> UsedSale:
    """Orders arrive: new MW with its machines, upgrades (the worst cohorts make way for the new
    ones and go to the second-hand market), finished conversions. Machines that left with MW
    taken elsewhere (conversions, sites shut down) are first taken out of the cohorts.
    ``hashprice_consistent``: the last fixed-point hashprice (the previous step's ``Operation``;
    NaN before the first), at which buyers value the used machines. Returns their sale.

    Most steps at a few dozen firms nothing lands: then no cohort changes, and the fleet
    averages are already what ``SiteBook.sync_fleet`` would make of the cohorts (every writer of
    cohorts syncs after it: here, curtailment's scrapping, the used market, entry's new rows), so
    the sync is skipped; it is idempotent (the same cohorts give the same averages, the fallback
    is the average itself). The first step always syncs: the starting averages are the
    population's, which the cohorts split (``vintages.initial_cohorts``) equal only to rounding."""
    sites, step = model.sites, seen.step
    # the pipeline and the upgrades due are read first (cohorts do not touch them): a copy of
    # the efficiencies of the retired slots is needed only when new cohorts may take those slots
    built = sites.build_pipeline.pop()
    got = (built > 0).nonzero()[0]
    upgraded = (sites.upgrade_due_step == step).nonzero()[0]
    adds = len(got) or len(upgraded)
    retired_efficiency = sites.cohort_efficiency_j_per_th.copy() if adds else sites.cohort_efficiency_j_per_th
    # (without adds the live array is the copy's equal on every retired cell: only the short rows'
    # efficiencies change in ``_reconcile``, and they retire nothing)
    retired, changed = _reconcile(sites)
    if len(got):
        vintages.add_cohort(sites.cohort_mw, sites.cohort_efficiency_j_per_th, sites.cohort_age_years,
                            got, built[got], sites.build_efficiency[got])
        sites.capacity_mw[got] += built[got]
        sites.mw_idle[got] += built[got]  # curtailment decides below whether it mines
        # new MW is built for mining: it does not add AI-suitable capacity (MODEL.md: ~20% of
        # a portfolio suits AI because of power quality, land and fibre, not because of age)
    if len(upgraded):
        mw = np.minimum(sites.upgrade_mw[upgraded], vintages.slot_sum(sites.cohort_mw[upgraded]))
        out = vintages.remove_worst(sites.cohort_mw, sites.cohort_efficiency_j_per_th, upgraded, mw)
        if retired is None:
            retired = np.zeros(sites.cohort_mw.shape)
        retired[upgraded] += out
        vintages.add_cohort(sites.cohort_mw, sites.cohort_efficiency_j_per_th, sites.cohort_age_years,
                            upgraded, mw, sites.upgrade_efficiency[upgraded])
        sites.upgrade_due_step[upgraded] = -1
        sites.upgrade_mw[upgraded] = 0.0
        sites.idle_steps[upgraded] = 0
    if changed or adds or step == 0:
        sites.sync_fleet()
    used = UsedSale() if retired is None else used_market.resell_used_machines(
        model, seen, hashprice_consistent, retired, retired_efficiency)
    converted = sites.conversion_pipeline.pop()
    done = (converted > 0).nonzero()[0]
    if len(done):
        sites.mw_converting[done] -= converted[done]
        sites.mw_converted[done] += converted[done]
        model.events.add_many("conversion_completed", sites.owner[done], done, converted[done])
    return used


def retire_displaced_machines(model, seen: Observation, hashprice_consistent: float) -> UsedSale:
    """After the decisions and exits of a step: machines standing on MW that converted to AI
    hosting or left with a shut-down site leave their cohorts and go to the used market
    (valued at this step's ``Operation.hashprice_consistent``). Returns the sale.

    No copy of the efficiencies: nothing joins a retired slot before the sale reads them (only
    ``_reconcile``'s short rows change, and they retire nothing). When no cohort changed, the
    fleets are as synced as they were (``land_deliveries``) and nothing is for sale."""
    sites = model.sites
    retired, changed = _reconcile(sites)
    if not changed:
        return UsedSale()
    sites.sync_fleet()
    if retired is None:
        return UsedSale()
    return used_market.resell_used_machines(model, seen, hashprice_consistent, retired,
                                            sites.cohort_efficiency_j_per_th, settle_cash=True)


def reconcile_cohorts(sites) -> np.ndarray:
    """Cohort MW must equal machine MW (mining + idle). Conversions and shut-downs take MW out
    of those states elsewhere; the machines that stood on it leave, least efficient first, and
    are returned (per site and slot) for the second-hand market."""
    retired, _ = _reconcile(sites)
    return np.zeros(sites.cohort_mw.shape) if retired is None else retired


def _reconcile(sites) -> tuple[np.ndarray | None, bool]:
    """``reconcile_cohorts``' work: the machines retired (per site and slot; None when none are:
    most steps, without a zero array), and whether any cohort changed."""
    retired = None
    machines = sites.mw_machines
    cohort_total = vintages.slot_sum(sites.cohort_mw)
    excess = cohort_total - machines
    rows = (excess > COHORT_TOLERANCE_MW).nonzero()[0]
    if len(rows):
        retired = np.zeros(sites.cohort_mw.shape)
        retired[rows] = vintages.remove_worst(sites.cohort_mw, sites.cohort_efficiency_j_per_th, rows, excess[rows])
        cohort_total = vintages.slot_sum(sites.cohort_mw)  # the cohorts changed: sum them again
    # a site left without machine MW keeps no float residue of cohorts (it would mine 1e-14 MW
    # for a firm that has closed its books)
    empty = ((machines <= COHORT_TOLERANCE_MW) & (cohort_total > 0)).nonzero()[0]
    if len(empty):
        if retired is None:
            retired = np.zeros(sites.cohort_mw.shape)
        retired[empty] += sites.cohort_mw[empty]
        sites.cohort_mw[empty] = 0.0
    short = (excess < -COHORT_TOLERANCE_MW).nonzero()[0]
    if len(short):  # machines that arrived outside the cohorts (none in the model today): at the fleet average
        vintages.add_cohort(sites.cohort_mw, sites.cohort_efficiency_j_per_th, sites.cohort_age_years,
                            short, -excess[short], sites.efficiency_j_per_th[short])
    return retired, bool(len(rows) or len(empty) or len(short))


def _live_cells(sites) -> tuple[np.ndarray, np.ndarray]:
    """Flat (C-order) indices of the cohorts that hold machines, and their sites: the cells of
    ``np.nonzero(cohort_mw > 0)`` in the same order, at a quarter of the cost of a 2-D nonzero.
    (With a power-of-two number of slots the site is a shift of the index, the same integers as
    ``//`` on these non-negative indices at a third of its instructions.)"""
    live = (sites.cohort_mw.ravel() > 0).nonzero()[0]
    slots = sites.cohort_mw.shape[1]
    if slots & (slots - 1) == 0:
        return live, live >> (slots.bit_length() - 1)
    return live, live // slots


class _Supply:
    """The fixed point's supply: the TH/s that mines at a trial hashprice, S(hp) x online, summed
    over the live cohorts in their order (``consistent_hashprice``), with what its evaluations
    share prepared once.

    A cohort's share of hours at hashprice hp is n + (1 - n) Phi(d), d = (ln k - ln m + s^2 / 2) / s,
    k = hp x revenue - opex (``economics.hourly_mining_share``; m the marginal power price).
    Cohorts sure to mine every hour at every trial point (``sure``, below) have a constant product
    share x TH/s, written once into ``products``; an evaluation computes the shares of the others
    (``unsure``; None: all of them), writes their products over theirs and sums the whole array:
    every cohort's share times its TH/s, summed in the cohorts' order, as the long way does.

    After a scrapping (``after_scrapping``) the second search keeps these cohorts (those left
    with machines, in the same order) and their prepared terms: only MW fell, so a cohort's share
    at a trial hashprice is the same number; only the weights (TH/s) change."""

    def __init__(self, config, reward: float, online: float, live, eff, ths: np.ndarray, sure: np.ndarray | None = None,
                 unsure: np.ndarray | None = None, revenue: np.ndarray | None = None,
                 marginal: np.ndarray | None = None, log_marginal: np.ndarray | None = None):
        """``revenue`` (per unit of hashprice), ``marginal`` (only without volatility) and
        ``log_marginal`` are the unsure cohorts' (all of them when ``unsure`` is None); None when
        there is nothing to search (no capacity or no reward)."""
        self.config, self.reward, self.online = config, reward, online
        self.live, self.eff, self.ths = live, eff, ths  # flat cells, their J/TH, their TH/s (x online)
        self.capacity = float(ths.sum())
        self.ready = revenue is not None
        if not self.ready:
            return
        self.sure, self.unsure = sure, unsure
        if unsure is None:
            self.products, self.unsure_ths = np.empty_like(ths), ths
        else:
            # the sure cohorts' share: ndtr(d) is exactly 1.0 at every trial point (``prepare``)
            free = config.power_negative_hours_share
            self.products = np.where(sure, 1.0 * (1.0 - free) + free, 0.0)
            self.products *= ths
            self.unsure_ths = ths.take(unsure)
        self.revenue, self.marginal, self.log_marginal = revenue, marginal, log_marginal
        self.work = np.empty(len(revenue))  # one buffer for the products of the unsure cohorts
        # k = hashprice x revenue - opex rises with revenue (rounding is monotone), so every cohort's k
        # is positive exactly when the least-earning cohort's is: one float test instead of two array ops
        self.least_revenue = float(revenue.min()) if len(revenue) else np.inf

    @classmethod
    def prepare(cls, model, reward: float, online: float, live: np.ndarray, eff: np.ndarray, at) -> "_Supply":
        """The supply of the cells ``live`` (J/TH ``eff``, ``mining_margin.Cells`` ``at``).

        Cohorts that mine every hour at every trial point: every trial hashprice is
        reward / (e^log H x PH) with log H at most ``high`` (the whole fleet mining), and d rises
        with hashprice, so a cohort whose d at that lowest hashprice (a hair lower still:
        log H = high + 1e-3) is at least ``fastnp.NDTR_ONE_FROM`` has ndtr(d) = 1.0 exactly at every
        trial point (the cut is 0.008 above where ndtr reaches 1, far beyond any rounding of d):
        its share is on_share + free, computed once. d >= cut is k >= m x e^(cut s - s^2 / 2)
        (m floored at 1e-9 as in its log), tested without a log: the test's rounding (~1e-15 of
        k) is far inside the 1e-3 by which k at any trial point exceeds k here. About 40% of the
        cohorts (cheap or take-or-pay power); each evaluation computes the log and the ndtr of
        the others only."""
        s = model.config
        ths = model.sites.cohort_mw.ravel().take(live) / eff
        if online != 1.0:  # x * 1.0 is x: no outage, no product
            ths *= online
        supply = cls(s, reward, online, live, eff, ths)
        if supply.capacity <= 0 or reward <= 0:
            return supply
        # the hot loop's per-cohort constants of ``economics.hourly_mining_share``, out of the loop
        revenue = (econ.PH_PER_EH / eff) / econ.HOURS_PER_DAY
        vol = s.power_hourly_volatility
        sure = None
        if vol > 0:
            k = revenue * (reward / (np.exp(np.log(supply.capacity) + 1e-3) * protocol.PH_PER_EH))
            k -= s.mining_opex_usd_per_mwh
            floor = np.maximum(at.marginal, 1e-9)
            floor *= math.exp(fastnp.NDTR_ONE_FROM * vol - vol * vol / 2)
            sure = k >= floor
        if sure is None or not sure.any():
            return cls(s, reward, online, live, eff, ths, None, None, revenue, at.marginal, at.log_marginal)
        unsure = (~sure).nonzero()[0]
        # (the marginal price itself is read only without volatility, where no cohort is sure)
        return cls(s, reward, online, live, eff, ths, sure, unsure, revenue.take(unsure), None,
                   at.log_marginal.take(unsure))

    def after_scrapping(self, model) -> tuple["_Supply", np.ndarray | None]:
        """The same cohorts after a scrapping (their MW can only have fallen): those left with
        machines, in the same order, with their prepared terms. Returns the new supply and where
        its unsure cohorts sit among this one's (None: all of them, in place)."""
        mw = model.sites.cohort_mw.ravel().take(self.live)
        alive = mw > 0
        if alive.all():  # no cohort emptied: the same cells, new TH/s
            ths = mw / self.eff
            if self.online != 1.0:
                ths *= self.online
            return _Supply(self.config, self.reward, self.online, self.live, self.eff, ths, self.sure, self.unsure,
                           self.revenue, self.marginal, self.log_marginal), None
        at = alive.nonzero()[0]
        ths = mw.take(at) / self.eff.take(at)
        if self.online != 1.0:
            ths *= self.online
        if self.unsure is None:
            kept = at
            sure, unsure = None, None
        else:
            kept = alive.take(self.unsure).nonzero()[0]
            sure = self.sure.take(at)
            unsure = (~sure).nonzero()[0]
        marginal = None if self.marginal is None else self.marginal.take(kept)
        # (its cells and J/TH are not kept: a second scrapping is prepared from the first search's)
        return _Supply(self.config, self.reward, self.online, None, None, ths, sure, unsure, self.revenue.take(kept),
                       marginal, self.log_marginal.take(kept)), kept

    def shares(self, hashprice: float, out: np.ndarray | None = None) -> np.ndarray:
        """Each unsure cohort's share of hours mined at ``hashprice``: the formula, element by element
        (into ``out`` if given, else a new array)."""
        s = self.config
        vol, free, opex = s.power_hourly_volatility, s.power_negative_hours_share, s.mining_opex_usd_per_mwh
        k = np.multiply(self.revenue, hashprice, out=out)
        k -= opex
        if vol <= 0:
            share = (k > self.marginal).astype(float)
        elif hashprice * self.least_revenue - opex > 0:  # the usual case: every cohort earns more than its opex somewhere
            share = np.log(k, out=k)
            share -= self.log_marginal
            share += vol * vol / 2
            share /= vol
            share = ndtr(share, out=share)  # the sure cohorts are out: of these, few have d past the cut
        else:
            positive = k > 0
            d = (np.log(np.where(positive, k, 1.0)) - self.log_marginal + vol * vol / 2) / vol
            share = np.where(positive, ndtr(d), 0.0)
        share *= 1.0 - free
        share += free
        return share

    def total(self, share: np.ndarray) -> float:
        """S x online: the unsure cohorts' ``share`` times their TH/s, among the sure ones' products,
        summed over all the cohorts in their order."""
        if self.unsure is None:
            return float(np.multiply(share, self.ths, out=self.products).sum())
        self.products[self.unsure] = np.multiply(share, self.unsure_ths, out=self.work)
        return float(self.products.sum())


def consistent_hashprice(model, power_usd_per_mwh: np.ndarray, online: float, last_network_ehs: float = 0.0,
                         memo: dict | None = None, cells: tuple | None = None) -> float:
    """The hashprice at which the hashrate that mines is the one that earns it.

    A miner earns reward x (its hashrate / difficulty); difficulty retargets every 2,016
    blocks (about twice a month) toward the hashrate that mines. Deciding on/off at the
    difficulty of the step's start, as if the retargets inside the step did not happen,
    makes a cobweb: everybody switches off, difficulty falls, everybody switches on. Here
    the step's hashrate H solves the fixed point

        H = online x S(R / H),   S(hp) = sum over cohorts of share(hp) x MW / J/TH,

    with R the network's reward per day (``Market.reward_usd_per_day``): the hashrate is
    consistent with the difficulty it produces, and hashprice R / H is the one expected
    after the next retarget. S rises with hashprice and R / H falls with H, so the root is
    unique; it is found by bracketing in log H (``fastnp.brentq``: scipy's brentq). The chain still lags: blocks
    come faster or slower until difficulty has caught up (``protocol.advance_chain``).
    ``last_network_ehs``: last step's network hashrate, where the search starts (0: the whole range).

    ``memo``: a dict shared by the calls of one curtailment (``curtail_or_mine``), between which
    only cohort MW may fall (scrapping): same power prices, outages, reward, efficiencies. The
    second call keeps the first's cohorts and terms (``_Supply.after_scrapping``: no new live
    cells, marginal prices, logs or sure cohorts to find), and a cohort's share of hours at a
    trial hashprice depends on none of the MW, so the shares the first call computed
    (``memo["shares"]``) are the second's at the same trial point (the narrow bracket's low end,
    the same in both calls; its top too when it lies below the fleet's: ~10% of the evaluations,
    each a log and an ndtr of every unsure cohort); only the weights (TH/s) change. The same
    numbers, summed in the same order.

    ``cells``: when the caller has them, ``_live_cells(model.sites)`` (the cohorts as they are now),
    their ``mining_margin.cells`` at ``power_usd_per_mwh`` (the same marginal power and log) and
    their J/TH (read when there is no first call in ``memo``).
    """
    reward = model.market.reward_usd_per_day()
    first = memo.get("supply") if memo else None
    kept, prior = None, {}
    if first is not None and first.ready and first.reward == reward and first.online == online:
        supply, kept = first.after_scrapping(model)
        prior = memo["shares"]
    else:
        if cells is None:
            live, rows = _live_cells(model.sites)
            at = mining_margin.cells(model, np.asarray(power_usd_per_mwh).take(rows),
                                     model.sites.power_take_or_pay_share.take(rows))
            eff = model.sites.cohort_efficiency_j_per_th.ravel().take(live)
        else:
            live, rows, at, eff = cells
        supply = _Supply.prepare(model, reward, online, live, eff, at)
        if memo is not None and first is None:
            memo.update(supply=supply, shares={})
    capacity = supply.capacity
    if capacity <= 0 or reward <= 0:
        return float("nan")
    high = np.log(capacity)
    # the first call's shares are recorded at its trial points, for the second
    record = memo["shares"] if memo is not None and memo.get("supply") is supply else None

    # brentq evaluates its bracket's ends again: the values already computed are reused (the
    # same numbers, so the same root)
    seen: dict[float, float] = {}

    def excess(log_h: float) -> float:
        if log_h not in seen:
            if log_h in prior:
                share = prior[log_h] if kept is None else prior[log_h].take(kept)
            else:
                share = supply.shares(reward / (np.exp(log_h) * protocol.PH_PER_EH),
                                      out=None if record is not None else supply.work)
                if record is not None:
                    record[log_h] = share
            seen[log_h] = float(np.log(max(supply.total(share), 1e-300))) - log_h
        return seen[log_h]

    # first try a narrow bracket around last step's hashrate (it rarely moves by more than
    # e^0.25 in a step), then the whole range
    last = last_network_ehs
    log_last = np.log(last) if last > 0 else 0.0  # one log, read three times
    near = last > 0 and log_last - FIXED_POINT_NEAR_LOG < high
    if near:
        near_low = log_last - FIXED_POINT_NEAR_LOG
        near_high = min(high, log_last + FIXED_POINT_NEAR_LOG)
        if near_high < high - FIXED_POINT_SLOPE_MARGIN_LOG:
            # excess falls with slope <= -1 in log H (log S falls as H rises, minus log H), so a
            # root inside the narrow bracket means excess(high) < excess(near_high) < 0: the
            # whole fleet does not mine, and ``top`` below (one evaluation of supply) would not
            # return. The same root, from the same evaluations, one evaluation sooner.
            f_low, f_high = excess(near_low), excess(near_high)
            if f_low > 0 > f_high:
                log_h = fastnp.brentq(excess, near_low, near_high, xtol=FIXED_POINT_TOLERANCE_LOG)
                return reward / (np.exp(log_h) * protocol.PH_PER_EH)
    top = excess(high)
    if top >= 0:  # everything mines even with the whole fleet on
        return reward / (capacity * protocol.PH_PER_EH)
    if near:
        f_low, f_high = excess(near_low), (top if near_high == high else excess(near_high))
        if f_low > 0 > f_high:
            log_h = fastnp.brentq(excess, near_low, near_high, xtol=FIXED_POINT_TOLERANCE_LOG)
            return reward / (np.exp(log_h) * protocol.PH_PER_EH)
    low = high - FIXED_POINT_BRACKET_LOG
    if excess(low) <= 0:  # not even a trickle mines: hashprice at the bracket's bottom
        return reward / (np.exp(low) * protocol.PH_PER_EH)
    log_h = fastnp.brentq(excess, low, high, xtol=FIXED_POINT_TOLERANCE_LOG)
    return reward / (np.exp(log_h) * protocol.PH_PER_EH)


def curtail_or_mine(model, seen: Observation, last_network_ehs: float) -> Curtailment:
    """Each cohort mines in the hours its margin is positive at the consistent hashprice.

    ``mw_mining`` is the site's machine MW times the share of hours mined (MW-equivalents,
    summed over cohorts: old machines curtail first), the rest is ``mw_idle``. A site that
    mines less than half of the hours counts as curtailed (events). A cohort whose margin
    over the hours it mines, at the hashprice expected after the next retarget
    (``consistent_hashprice``) or its owner's belief (whichever is higher), does not cover the
    site's avoidable fixed cost is scrapped at a hazard with mean life
    ``scrap_after_unprofitable_months``: a machine is kept while it pays its way, whatever the
    share of hours it runs. Prices are ``seen``'s (this step's ``Observation``);
    ``last_network_ehs`` (last step's ``Operation.network_hashrate_ehs``) starts the fixed point's search.

    Only the cohorts that hold machines at the start of the step are valued and summed
    (``_live_cells``: an empty slot neither loses money nor mines). The per-site sums are
    ``np.bincount`` over those cells, which adds each site's cells in slot order starting from
    0.0: the same floats as the row sums of the (sites, slots) arrays (``vintages.slot_sum``),
    whose empty cells add exact zeros. So a scrapping does not look for the live cells again:
    the cells it emptied hold 0 MW and add exact zeros too (every weight is >= 0), and a cell's
    shares depend on its hashprice, power and J/TH, none of which a scrapping changes.
    """
    s, sites = model.config, model.sites
    n_sites = len(sites.cohort_mw)
    power_usd_per_mwh = seen.site_power_usd_per_mwh
    online = 1.0 - outage_share(model)
    memo: dict = {}  # the fixed point's cohorts and shares, for its second search after scrapping
    live, rows = _live_cells(sites)
    # (``take``: the same gather as ``a[live]``, with less set-up per element)
    at = mining_margin.cells(model, np.asarray(power_usd_per_mwh).take(rows), sites.power_take_or_pay_share.take(rows))
    live_eff = sites.cohort_efficiency_j_per_th.ravel().take(live)
    hashprice = consistent_hashprice(model, power_usd_per_mwh, online, last_network_ehs, memo,
                                     (live, rows, at, live_eff))
    if not np.isfinite(hashprice):
        hashprice = seen.hashprice_observed
    best = np.fmax(model.firms.expected_hashprice.take(sites.owner.take(rows)), hashprice)  # ``best[rows]`` of the sites'
    margin = mining_margin.cell_margin_usd_per_mw_month(model, at, best, live_eff)
    lose = ((margin < s.site_fixed_cost_usd_per_mw_month) & (sites.upgrade_due_step.take(rows) < 0)).nonzero()[0]
    if not len(lose):  # the usual step: every cohort pays its way, no fleet counts an idle step
        sites.idle_steps = np.zeros(n_sites, sites.idle_steps.dtype)
    else:
        site_losing = np.zeros(n_sites, bool)
        site_losing[rows[lose]] = True  # ``losing.any(axis=1)``
        sites.idle_steps = np.where(site_losing, sites.idle_steps + 1, 0)
        # a hazard, not a deadline: of a cohort that does not pay its way, 1 - exp(-t / T) goes each
        # step (owners sell or scrap a few machines at a time), so a halving that strands many
        # fleets at once retires them over months, not in one step
        rate = 1.0 - np.exp(-seen.months_in_step / s.scrap_after_unprofitable_months)
        at_site, at_slot = np.divmod(live[lose], sites.cohort_mw.shape[1])
        cohort = sites.cohort_mw[at_site, at_slot]
        scrap_mw = cohort * rate
        scrap_mw = np.where(cohort - scrap_mw < SCRAP_REMNANT_MW, cohort, scrap_mw)
        scrapped = np.bincount(at_site, weights=scrap_mw, minlength=n_sites)
        scrap = (scrapped > 0).nonzero()[0]
        if len(scrap):
            model.events.add_many("scrapped", sites.owner[scrap], scrap, scrapped[scrap])
            sites.cohort_mw[at_site, at_slot] = cohort - scrap_mw
            sites.mw_shutdown += scrapped
            sites.sync_fleet()
            # the machines left: the fixed point moves (the remaining ones earn a little more);
            # the second search keeps the first's cohorts (``memo``)
            hashprice = consistent_hashprice(model, power_usd_per_mwh, online, last_network_ehs, memo)
    consistent = hashprice
    if not np.isfinite(hashprice):
        hashprice = seen.hashprice_observed

    share, cost_share, _ = mining_margin.cell_shares(model, at, hashprice, live_eff)
    machines = vintages.slot_sum(sites.cohort_mw)
    was_mining = sites.mw_mining > MINING_SITE_SHARE * sites.mw_machines
    cohort_mw = sites.cohort_mw.ravel().take(live)
    mined_mw = share * cohort_mw
    sites.mw_mining = np.bincount(rows, weights=mined_mw, minlength=n_sites)
    sites.mw_idle = machines - sites.mw_mining
    site_mining_ehs = np.bincount(rows, weights=mined_mw / live_eff, minlength=n_sites)
    site_power_cost_mw = np.bincount(rows, weights=cost_share * cohort_mw, minlength=n_sites)
    mining = (sites.mw_mining >= MINING_SITE_SHARE * machines) & (machines > 0)
    stopped = (was_mining & ~mining & (machines > 0)).nonzero()[0]
    resumed = (~was_mining & mining).nonzero()[0]
    if len(stopped):
        model.events.add_many("curtailment", sites.owner[stopped], stopped, sites.mw_idle[stopped])
    if len(resumed):
        model.events.add_many("resumption", sites.owner[resumed], resumed, sites.mw_mining[resumed])
    return Curtailment(hashprice_consistent=consistent, site_mining_ehs=site_mining_ehs,
                       site_power_cost_mw=site_power_cost_mw)


def outage_share(model) -> float:
    """Share of mining MW forced offline this step by exogenous events."""
    step = model.steps_done
    share = 0.0
    for ev in model.config.hashrate_events:
        if ev.step <= step < ev.step + ev.duration:
            share = 1.0 - (1.0 - share) * (1.0 - ev.share_offline)
    return share


def mine_and_earn(model, seen: Observation, mined: Curtailment):
    """Realise hashrate, settle the chain, share the rewards, charge power and variable opex.
    Each site's hashrate goes to its book column (``SiteBook.hashrate_ehs``); returns each
    firm's hashrate as mined and the chain's outcome."""
    s, sites, firms, state = model.config, model.sites, model.firms, model.market.state
    power_usd_per_mwh = seen.site_power_usd_per_mwh
    online = 1.0 - outage_share(model)
    # x * 1.0 is x: without an outage the products by ``online`` are skipped (the curtailment's
    # arrays are this step's own: the book may keep them)
    site_hashrate = mined.site_mining_ehs * online if online != 1.0 else mined.site_mining_ehs
    network = float(site_hashrate.sum())
    outcome = model.market.settle_chain(network)
    n = len(firms)
    firm_hashrate = np.bincount(sites.owner, weights=site_hashrate, minlength=n)
    share = firm_hashrate / network if network > 0 else np.zeros(n)
    led = firms.ledger
    led["btc_mined"] = share * (outcome.issuance_btc + outcome.fees_btc)
    led["revenue_mining_usd"] = led["btc_mined"] * state.btc_price_usd
    hours = state.days * econ.HOURS_PER_DAY
    mwh = (sites.mw_mining * online if online != 1.0 else sites.mw_mining) * hours
    # the hours mined are the cheap ones: cost = sum over cohorts of MW x cost share x hours x mean price
    power_cost = (mined.site_power_cost_mw * online if online != 1.0 else mined.site_power_cost_mw) * hours \
        * power_usd_per_mwh
    led["power_usd"] = np.bincount(sites.owner, weights=power_cost, minlength=n)
    fixed = sites.live_mw * s.site_fixed_cost_usd_per_mw_month * seen.months_in_step
    led["opex_usd"] = np.bincount(sites.owner, weights=mwh * s.mining_opex_usd_per_mwh + fixed, minlength=n)
    sites.hashrate_ehs = site_hashrate
    return firm_hashrate, outcome
