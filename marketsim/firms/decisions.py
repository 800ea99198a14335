"""Decide: the firms that review their strategy this step upgrade, expand or convert.

The rules (``rules.py``) say what is worth doing; this module applies what all firms share:
- a firm reviews with probability ``review_probability_per_step`` (boards do not re-plan
  every month, and it staggers the industry's reactions);
- capex must be financeable: ``finance.spendable_usd`` (cash above reserve plus credit);
  a conversion's debt share is larger when the AI market is tight (a signed lease makes
  debt easier), ``conversion_debt_share_unleased`` .. ``_leased``;
- machines arrive after ``machine_lead_time_months`` and new MW after
  ``site_build_lead_time_months``; conversions finish after ``conversion_lead_time_months``
  and capex is paid in equal instalments over the lead time. Orders are sunk: they arrive
  whatever happens to hashprice meanwhile (why hashrate kept rising through 2022);
- AI demand is visible to everybody: firms see announced conversions, so reviewing firms
  (in random order) stop converting once the demand they forecast is spoken for.
"""

from __future__ import annotations

import numpy as np

from marketsim import fastnp
from marketsim.firms import economics as econ
from marketsim.firms import conversion, finance
from marketsim.firms.rules import Candidates, FirmPaths, Outlook
from marketsim.step_state import Beliefs, Decisions, Observation

UPGRADE_MIN_GAIN_RATIO = 1.1  # frontier must beat the fleet by 10% before an upgrade is valued
DEMAND_TREND_MONTHS = 12


def outlook(model, seen: Observation, ai_supply_it_mw: float) -> Outlook:
    """What every valuation of the step assumes: ``seen`` (the step's ``Observation``), the
    market's drivers, and ``ai_supply_it_mw`` (IT MW under contract plus offered and unlet: the
    supply the AI demand forecast is shared among, ``occupancy_outlook``)."""
    s, market = model.config, model.market
    state = market.state
    subsidy = market.subsidy_per_block_now()
    ratio = (subsidy / 2 + state.fee_share * subsidy) / (subsidy + state.fee_share * subsidy)
    return Outlook(
        hashprice_now=seen.hashprice_observed,
        frontier_j_per_th=state.frontier_j_per_th,
        machine_price_usd_per_th=seen.machine_price_usd_per_th,
        site_build_capex_usd_per_mw=s.site_build_capex_usd_per_mw,
        lease_rate_usd_per_kw_month=market.lease_rate_usd_per_kw_month,
        occupancy_outlook=occupancy_outlook(model, ai_supply_it_mw),
        months_to_halving=market.months_to_next_halving(),
        post_halving_ratio=ratio,
        horizon_months=round(s.decision_horizon_years * 12),
        max_payback_months=s.max_payback_months,
        myopic_max_payback_months=s.myopic_max_payback_years * 12,
        ai_pue=s.ai_pue,
        ai_margin=s.ai_margin,
        ai_term_years=s.ai_lease_term_years,
        ai_escalator_per_year=s.ai_lease_escalator_per_year,
        conversion_lead_months=s.conversion_lead_time_months,
    )


def demand_forecast_it_mw(model) -> float:
    """AI demand expected when a conversion started now is delivered: the last year's trend."""
    history = model.ai_demand_history
    lag = min(len(history) - 1, round(DEMAND_TREND_MONTHS * model.steps_per_month))
    now = history[-1]
    growth_per_month = (now - history[-1 - lag]) / (lag / model.steps_per_month) if lag > 0 else 0.0
    return max(0.0, now + growth_per_month * model.config.conversion_lead_time_months)


def occupancy_outlook(model, supply: float) -> float:
    """Share of the forecast AI demand (``demand_forecast_it_mw``) to the ``supply`` (IT MW), in [0, 1]."""
    if supply <= 0:
        return 1.0 if demand_forecast_it_mw(model) > 0 else 0.0
    return float(fastnp.clip(demand_forecast_it_mw(model) / supply, 0.0, 1.0))


def decide(model, seen: Observation, beliefs: Beliefs, ai_supply_it_mw: float) -> Decisions:
    """Reviewing firms upgrade and expand under their rules, then the AI lease market
    (``conversion.convert``). ``seen``, ``beliefs``: this step's records; ``ai_supply_it_mw``: the
    lease market's supply for the outlook (contracted after ``host_ai`` plus last step's unlet
    offers). Returns the equity room left and the lease market's record."""
    s, firms, sites = model.config, model.firms, model.sites
    power_usd_per_mwh = seen.site_power_usd_per_mwh
    decline = beliefs.expected_decline_per_year
    n_firms = len(firms)
    reviewing = firms.active & (model.firm_rng.random(n_firms) < s.review_probability_per_step)
    o = outlook(model, seen, ai_supply_it_mw)
    # every valuation of the step reads each firm's hashprice path and discount factors from here
    paths = FirmPaths(o, firms.expected_hashprice, decline)
    assets = finance.asset_value_after_pay(model, seen)  # pay valued the sites just before
    live_mw = sites.live_mw
    # the rules' orders below change no site's MW or owner: one largest site and MW per firm for all
    firm_mw = np.bincount(sites.owner, weights=live_mw, minlength=n_firms)  # (``sites.mw_by_firm``)
    equity_room = finance.equity_room_usd(model, assets, seen, live_mw_by_firm=firm_mw)
    spend = finance.spendable_usd(model, assets, seen) + equity_room
    opex = s.mining_opex_usd_per_mwh
    primary_of_firm = sites.primary_site(n_firms)

    # upgrade candidates, all rules at once: the cohorts of reviewing firms' live sites with no
    # upgrade on order that lag the frontier (a rule's orders touch only its own firms' sites)
    sites_ok = reviewing[sites.owner] & (live_mw > 0) & (sites.upgrade_due_step < 0)
    # (only the reviewing sites' rows of the cohort table: row-major order, as over the whole table)
    ok_rows = sites_ok.nonzero()[0]
    ok_eff = sites.cohort_efficiency_j_per_th[ok_rows]
    at_row, all_slot = ((sites.cohort_mw[ok_rows] > 0)
                        & (ok_eff > o.frontier_j_per_th * UPGRADE_MIN_GAIN_RATIO)).nonzero()
    all_site_idx = ok_rows[at_row]
    all_eff = ok_eff[at_row, all_slot]  # each candidate cohort's efficiency
    all_owner = sites.owner[all_site_idx]
    # expansion candidates, all rules at once: each reviewing firm with a live site, on its largest
    exp_all_firm = reviewing.nonzero()[0]
    exp_all_site = primary_of_firm[exp_all_firm]
    has_site = exp_all_site >= 0
    exp_all_firm, exp_all_site = exp_all_firm[has_site], exp_all_site[has_site]
    one_rule = len(model.rules) == 1
    if not one_rule:  # (the candidates' rules only, not every site's)
        cand_rule, exp_rule = firms.rule[all_owner], firms.rule[exp_all_firm]
    valued = []  # per rule with something worth doing: its upgrades and expansions, funded together below
    for rule_id, rule in enumerate(model.rules):
        rule_paths = paths if rule.reads_paths else None
        # expansions: one order per reviewing firm, on its largest live site (valued before the
        # upgrades: a rule's valuations are independent, and the expanding firms include every
        # upgrading one, so the step's hashprice rows of the rule's firms are made in one batch)
        if one_rule:
            exp_firm, exp_site = exp_all_firm, exp_all_site
        else:
            mine = exp_rule == rule_id
            exp_firm, exp_site = exp_all_firm[mine], exp_all_site[mine]
        exp_cost = exp_mw = None
        if len(exp_firm):
            exp_cost = power_usd_per_mwh[exp_site] + opex
            intensity = rule.expansion_intensity(
                Candidates.of_firms(sites.efficiency_j_per_th[exp_site], exp_cost, exp_firm, firms, decline, rule_paths),
                o)
            go = (intensity > 0).nonzero()[0]
            if len(go) < len(exp_firm):
                exp_firm, exp_site, exp_cost, intensity = exp_firm[go], exp_site[go], exp_cost[go], intensity[go]
            if len(go):
                exp_mw = intensity * s.expansion_max_share_per_year * firm_mw[exp_firm] * seen.years_in_step \
                    / s.review_probability_per_step
        # upgrades: the cohorts that lag the frontier and that the rule values
        if one_rule:
            site_idx, slot, up_owner, up_eff = all_site_idx, all_slot, all_owner, all_eff
        else:
            mine = cand_rule == rule_id
            site_idx, slot, up_owner, up_eff = all_site_idx[mine], all_slot[mine], all_owner[mine], all_eff[mine]
        if len(site_idx):
            cand = Candidates.of_firms(up_eff, power_usd_per_mwh[site_idx] + opex, up_owner, firms, decline,
                                       rule_paths, site=site_idx)  # each cohort valued at its own efficiency
            go = (rule.upgrade_score(cand, o) > 0).nonzero()[0]
            if len(go) < len(site_idx):
                site_idx, slot, up_owner, up_eff = site_idx[go], slot[go], up_owner[go], up_eff[go]
        if len(site_idx) or len(exp_firm):
            valued.append((site_idx, slot, up_owner, up_eff, exp_firm, exp_site, exp_cost, exp_mw))
    if valued:
        _fund_best_first(model, valued, spend, o, model.steps_per_month, equity_room)
    # AI: offers, the lease market, signings and builds (firms/conversion.py)
    lease_market = conversion.convert(model, seen, beliefs, spend, o, paths, equity_room)
    return Decisions(equity_room_usd=equity_room, lease_market=lease_market)


def profitability_index_per_month(revenue_gain_usd_per_mw_day, cost_gain_usd_per_mw_day, capex_usd_per_mw):
    """Today's extra monthly margin per dollar of capex: how investments of different kinds are
    ranked for funding. An upgrade adds the TH the frontier machine has over the cohort it
    replaces on the same powered MW (no extra power); an expansion adds the frontier's TH on a
    new MW, with its power and the site's capex. Worked (hashprice $100/PH/day, frontier 21.5
    J/TH at $20/TH = $930k per MW, power + opex $46/MWh, site $325k): replacing a 30 J/TH cohort
    gains $1,318 a day per MW, 0.043 a month per dollar; a new MW earns $4,651 - $1,104 a day on
    $1.255M, 0.085; replacing a 70 J/TH cohort gains $3,222 a day, 0.104."""
    return (np.asarray(revenue_gain_usd_per_mw_day) - cost_gain_usd_per_mw_day) * econ.DAYS_PER_MONTH \
        / np.maximum(capex_usd_per_mw, 1.0)


def funded_share(owner: np.ndarray, priority: np.ndarray, cost: np.ndarray, budget: np.ndarray) -> np.ndarray:
    """Per candidate, the share of its cost its owner funds when each owner funds its candidates
    in order of ``priority`` (highest first) as far as ``budget[owner]`` reaches, the last one
    partly: a sort, a cumulative sum and a cut."""
    n = len(owner)
    order = np.lexsort((-priority, owner))
    o, c = owner[order], cost[order]
    cum = c.cumsum()
    prior = cum - c  # every candidate's cost before this one (``cum - c - start`` below is ``prior - start``)
    if n:
        first = np.empty(n, bool)  # where each owner's run starts
        first[0] = True
        np.not_equal(o[1:], o[:-1], out=first[1:])
        start = np.maximum.accumulate(np.where(first, prior, 0.0))
    else:
        start = cum
    before = prior - start  # the owner's cost on its better candidates
    afford = fastnp.clip(np.maximum(budget[o], 0.0) - before, 0.0, c)
    share = np.zeros(n)
    share[order] = np.divide(afford, c, out=np.zeros(n), where=c > 0)
    return share


def _fund_best_first(model, valued: list, spend, o, steps, equity_room) -> None:
    """Fund each rule's upgrades (per cohort) and expansions (per firm) together, best
    ``profitability_index_per_month`` first within each firm, as far as its money reaches.
    ``valued``: per rule with candidates, in rule order, (upgrade sites, their cohorts, their
    owners, the cohorts' efficiencies, expanding firms, their sites, the sites' power and opex
    per MWh, the MW each would order; the last three None when the rule expands nowhere).

    Why one queue: an expansion buys a TH for about a third of what a replacement's extra TH
    costs once the fleet is modern, while replacing 2016-vintage machines beats both; funding
    upgrades first (as the model did) re-fleeted the industry and left MW flat.

    Every rule's queue is cut on its own (``funded_share``: its cumulative sums over that rule's
    candidates only, the same floats as before), then all rules' expansions are ordered in one
    pass and all their upgrades in another: a firm follows one rule, so each firm's books see the
    same operations in the same order (its expansion before its upgrades) as when each rule
    ordered in turn; only the events are written rule by rule, as they were (``_record_orders``).
    """
    s, sites = model.config, model.sites
    machines_per_mw = float(econ.machine_capex_usd_per_mw(o.machine_price_usd_per_th, o.frontier_j_per_th))
    if machines_per_mw <= 0:
        return
    upfront = _upfront_shares(model)  # per firm: its share of a machine order
    frontier_rev = float(econ.revenue_usd_per_mw_day(o.hashprice_now, o.frontier_j_per_th))
    exp_pi_capex = s.site_build_capex_usd_per_mw + machines_per_mw
    up_parts, exp_parts = [], []
    for site_idx, slot, up_owner, up_eff, exp_firm, exp_site, exp_cost, exp_mw in valued:
        if exp_mw is None:  # the rule expands nowhere
            exp_cost = exp_mw = np.zeros(0)
        up_mw = sites.cohort_mw[site_idx, slot]
        up_pi = profitability_index_per_month(
            frontier_rev - econ.revenue_usd_per_mw_day(o.hashprice_now, up_eff), 0.0, machines_per_mw)
        up_cost = up_mw * machines_per_mw * upfront[up_owner]
        exp_cost_per_mw = s.site_build_capex_usd_per_mw + machines_per_mw * upfront[exp_firm]
        exp_pi = profitability_index_per_month(frontier_rev, exp_cost * econ.HOURS_PER_DAY, exp_pi_capex)
        share = funded_share(np.concatenate((up_owner, exp_firm)), np.concatenate((up_pi, exp_pi)),
                             np.concatenate((up_cost, exp_mw * exp_cost_per_mw)), spend)
        n_up = len(site_idx)
        if len(exp_firm):
            exp_parts.append((exp_firm, exp_site, exp_mw * share[n_up:]))
        if n_up:
            up_parts.append((site_idx, up_mw * share[:n_up]))
    expanded = placed = None
    if exp_parts:
        exp_firm, exp_site, exp_mw = (np.concatenate(a) if len(exp_parts) > 1 else a[0] for a in zip(*exp_parts))
        expanded = _order_expansions(model, exp_firm, exp_site, exp_mw, spend, o, steps, equity_room, upfront,
                                     record=False, machines_per_mw=machines_per_mw)
    if up_parts:
        site_idx, mw = (np.concatenate(a) if len(up_parts) > 1 else a[0] for a in zip(*up_parts))
        mw_site = np.bincount(site_idx, weights=mw, minlength=len(sites))  # a site's cohorts are one rule's
        placed = _place_upgrades(model, mw_site, machines_per_mw, spend, o, steps, upfront, equity_room, record=False)
    _record_orders(model, expanded, placed, len(valued) > 1)


def _record_orders(model, expanded, placed, several_rules: bool) -> None:
    """The events of ``_fund_best_first``'s orders, rule by rule (a rule's expansions, then its
    upgrades): the order in which each rule's orders used to be placed and written.
    ``expanded``, ``placed``: (firms, sites, MW, value) of the orders, or None. With several
    rules the orders of each kind are put in rule order by a stable sort (each rule's orders
    keep their order) and written as one slice per rule."""
    parts = [(kind, order) for kind, order in (("expansion_ordered", expanded), ("upgrade_ordered", placed))
             if order is not None]
    if not several_rules or not parts:
        for kind, (f, site, mw, value) in parts:
            model.events.add_many(kind, f, site, mw, value_usd=value)
        return
    n_rules = len(model.rules)
    runs = []
    for kind, order in parts:
        of_rule = model.firms.rule[order[0]]
        if kind != "expansion_ordered":  # the expansions come in rule order already (``_fund_best_first``
            by = of_rule.argsort(kind="stable")  # concatenates them rule by rule): their stable sort is no move
            order = [a[by] for a in order]
        ends = np.bincount(of_rule, minlength=n_rules).cumsum().tolist()
        runs.append((kind, order, [0, *ends]))
    for rule_id in range(n_rules):
        for kind, (f, site, mw, value), bounds in runs:
            lo, hi = bounds[rule_id], bounds[rule_id + 1]
            if hi > lo:
                model.events.add_many(kind, f[lo:hi], site[lo:hi], mw[lo:hi], value_usd=value[lo:hi])


def _place_upgrades(model, mw_site: np.ndarray, per_mw: float, spend, o, steps, upfront: np.ndarray,
                    equity_room: np.ndarray, record: bool = True):
    """Order frontier machines for ``mw_site`` MW per site (already funded).

    The MW ordered per site replaces that site's least efficient cohorts when the machines
    land (``operations.land_deliveries``); the old machines go to the second-hand market.
    ``record``: write the events (else return the orders' (firms, sites, MW, value), or None).
    """
    firms, sites = model.firms, model.sites
    rows = (mw_site >= model.MIN_ORDER_MW).nonzero()[0]
    if not len(rows):
        return None
    mw = mw_site[rows]
    f = sites.owner[rows]
    cost = mw * per_mw
    buyers, firm_cost = f, cost
    if finance.has_repeats(f):  # a firm may upgrade several sites (a sort: cheaper than np.unique when none does)
        np.subtract.at(spend, f, cost * upfront[f])
        buyers, at = np.unique(f, return_inverse=True)
        firm_cost = np.bincount(at, weights=cost)
    else:  # each firm once: one subtraction each, as ``np.subtract.at`` makes it
        spend[f] -= cost * upfront[f]
    finance.draw_vendor_credit(model, buyers, firm_cost, unique=True)  # (``buyers``: each firm once)
    finance.fund_orders(model, buyers, firm_cost, equity_room, unique=True)
    firms.payments.add_rows(f, cost, 1)
    lead = max(1, round(model.config.machine_lead_time_months * steps))
    sites.upgrade_due_step[rows] = model.steps_done + lead
    sites.upgrade_efficiency[rows] = o.frontier_j_per_th
    sites.upgrade_mw[rows] = mw
    if not record:
        return f, rows, mw, cost
    model.events.add_many("upgrade_ordered", f, rows, mw, value_usd=cost)
    return None


def _upfront_share(model, firm_idx: np.ndarray) -> np.ndarray:
    """Per firm: share of a machine order it pays itself (1 less its maker's vendor credit)."""
    return 1.0 - finance.vendor_credit_usd(1.0, model.firms.is_public[firm_idx], model.config.vendor_financing_share)


def _upfront_shares(model) -> np.ndarray:
    """``_upfront_share`` of every firm, worked out once a step by ``_fund_best_first`` and read
    per order: 1 - 0 = 1 for a public firm, 1 - share x max(1, 0) = 1 - share for a private one
    (``vendor_credit_usd`` of a $1 order), in one select."""
    return np.where(model.firms.is_public, 1.0, 1.0 - model.config.vendor_financing_share)


def _order_expansions(model, f: np.ndarray, site: np.ndarray, mw: np.ndarray, spend, o, steps,
                      equity_room: np.ndarray, upfront: np.ndarray | None = None, record: bool = True,
                      machines_per_mw: float | None = None):
    """New MW with frontier machines, for many firms at once (one site each, each firm once);
    ``upfront``: each firm's share of a machine order (``_upfront_share``, worked out here when
    not given); ``equity_room``: the equity rule's room per firm (``finance.fund_orders`` spends
    from it). ``record``: write the events (else return the orders' (firms, sites, MW, value),
    or None). ``machines_per_mw``: the frontier machines' capex per MW, if the caller has it."""
    s, firms, sites = model.config, model.firms, model.sites
    if machines_per_mw is None:
        machines_per_mw = float(econ.machine_capex_usd_per_mw(o.machine_price_usd_per_th, o.frontier_j_per_th))
    per_mw = s.site_build_capex_usd_per_mw + machines_per_mw
    # a private firm pays the site and the part of the machines its maker does not finance
    share = _upfront_share(model, f) if upfront is None else upfront[f]
    upfront_per_mw = s.site_build_capex_usd_per_mw + machines_per_mw * share
    mw = np.minimum(mw, np.maximum(spend[f], 0.0) / upfront_per_mw)
    ok = (mw >= model.MIN_ORDER_MW).nonzero()[0]
    if len(ok) < len(f):
        if not len(ok):
            return None
        f, site, mw, upfront_per_mw = f[ok], site[ok], mw[ok], upfront_per_mw[ok]
    capex = mw * per_mw
    spend[f] -= mw * upfront_per_mw
    finance.draw_vendor_credit(model, f, mw * machines_per_mw, unique=True)  # (one expansion per firm)
    finance.fund_orders(model, f, capex, equity_room, unique=True)
    lead = max(1, round(s.site_build_lead_time_months * steps))
    firms.payments.add_spread_rows(f, capex, lead)
    building = np.add.reduce(sites.build_pipeline.buffer[site], axis=1)  # (``.sum(axis=1)``)
    sites.build_efficiency[site] = (building + mw) / (building / sites.build_efficiency[site] + mw / o.frontier_j_per_th)
    sites.build_pipeline.add_rows(site, mw, lead)
    if not record:
        return f, site, mw, capex
    model.events.add_many("expansion_ordered", f, site, mw, value_usd=capex)
    return None
