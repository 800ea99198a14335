"""Entry: new operators come in with their own site, power contract and frontier machines
(issue 12, Deliver item 4).

Each step a Poisson number of prospective operators (``entry_candidates_per_year``) study a new
site: its size and power price are drawn (lognormal around ``entry_site_mw_mean`` and
``entry_power_price_mean_usd_per_mwh``), its machines are the frontier's at today's cleared price,
its site costs ``site_build_capex_usd_per_mw``. The prospect is valued as the NPV rule values an
expansion (``rules.NPVRule.expansion_intensity``: the discounted margin over the decision horizon
on the industry's median trend belief, over capex, at the entrant's hurdle
``entry_hurdle_rate_per_year``, with the payback guard); the intensity (0 when the return does not
beat the hurdle, 1 when the site is worth twice its cost) is the probability that it goes ahead.
Why a probability: investors' appetite grows with the margin of safety, and it staggers entry.

An entrant is a private firm financed by outside equity (its capex plus a working-capital
buffer, booked as ``equity_raised_usd``); its MW enters the books at once as an order (event
``entry``: the invariant checker counts it like an expansion) and is energised after
``entry_site_lead_time_months`` (power-site lead times are the binding lag, research note
buildout.md section 5c); the machines ship within the makers' capacity like any other order.
"""

from __future__ import annotations

import numpy as np

from marketsim import fastnp
from marketsim.firms import decisions, mining_margin, vintages
from marketsim.firms import economics as econ
from marketsim.firms.book import SiteBook
from marketsim.firms.population import lognormal_with_moments
from marketsim.firms.rules import Candidates, NPVRule
from marketsim.step_state import Beliefs, Entry, Observation

ENTRANT_WORKING_CAPITAL_SHARE = 0.1  # cash raised beyond capex: a few months of power and opex
ENTRANT_BTC_SELL_SHARE = 1.0  # a new private operator sells what it mines to pay its bills
ENTRANT_MIN_SITE_MW = 1.0  # smaller sites are not separate firms in the model


def offer_to_migrants(model, lot_efficiency: np.ndarray, lot_mw: np.ndarray, hashprice: float,
                      cap_usd_per_mw: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Lots that no site on the books bought are offered to operators with cheap power and no
    empty MW (hosting firms and miners in new regions: research note buildout.md s5, the US share
    of hashrate 4% -> 38% 2019-22, largely on machines that moved), who build new MW for them.

    Per lot ``migration_prospects_per_lot`` such operators bid, each with a power price drawn from
    the entrants' distribution (``entry_power_price_*``); the best one buys the whole lot if its
    ``vintages.migrant_value_usd_per_mw`` (payback value less the new MW's
    ``site_build_capex_usd_per_mw``) is positive, paying that value up to the tier price. The
    lots bought enter the books as new firms and sites with those machines at this step's entry
    (``entry.admit_migrants``, event ``entry``). Returns the MW each lot moves, its price per MW,
    and the lots bought (``step_state.UsedSale.migrant_lots``: one batch of arrays, or none).
    """
    s = model.config
    k = len(lot_mw)
    moved, price = np.zeros(k), np.zeros(k)
    n = int(s.migration_prospects_per_lot)
    big = lot_mw >= ENTRANT_MIN_SITE_MW
    if n <= 0 or not big.any() or not np.isfinite(hashprice):
        return moved, price, ()
    lots = big.nonzero()[0]
    power = lognormal_with_moments(model.firm_rng, s.entry_power_price_mean_usd_per_mwh,
                                   s.entry_power_price_sd_usd_per_mwh, len(lots) * n).reshape(len(lots), n)
    margin = mining_margin.fleet_margin_usd_per_mw_month(model, power, hashprice, lot_efficiency[lots, None], 0.0)
    value = vintages.migrant_value_usd_per_mw(margin, s.site_fixed_cost_usd_per_mw_month, s.max_payback_months,
                                              s.site_build_capex_usd_per_mw)
    best = np.argmax(value, axis=1)
    best_value = value[np.arange(len(lots)), best]
    go = best_value > 0
    if not go.any():
        return moved, price, ()
    lots, best, best_value = lots[go], best[go], best_value[go]
    moved[lots] = lot_mw[lots]
    price[lots] = np.minimum(best_value, cap_usd_per_mw[lots])
    return moved, price, ((lot_efficiency[lots].copy(), lot_mw[lots].copy(),
                           power[go][np.arange(len(lots)), best], price[lots].copy()),)


def entry_probability(model, o, power_usd_per_mwh: np.ndarray, beliefs) -> np.ndarray:
    """Probability that a prospect with these power prices goes ahead (one per prospect); a
    prospect expects today's hashprice (``o.hashprice_now``) and the median decline of the firms
    on the books (``beliefs``: this step's ``step_state.Beliefs``)."""
    s, firms = model.config, model.firms
    k = len(power_usd_per_mwh)
    active = firms.active
    decline = beliefs.expected_decline_per_year
    cand = Candidates(
        efficiency_j_per_th=fastnp.full(k, o.frontier_j_per_th),
        cost_usd_per_mwh=power_usd_per_mwh + s.mining_opex_usd_per_mwh,
        expected_hashprice=fastnp.full(k, o.hashprice_now),
        expected_decline_per_year=fastnp.full(k, fastnp.median(decline[active]) if active.any() else 0.0),
        hurdle_rate_per_year=fastnp.full(k, s.entry_hurdle_rate_per_year),
        conversion_capex_usd_per_mw=fastnp.full(k, s.conversion_capex_usd_per_mw),
    )
    return NPVRule().expansion_intensity(cand, o)


def enter(model, seen: Observation, beliefs: Beliefs, migrant_lots: tuple = (),
          ai_supply_it_mw: float = 0.0) -> Entry:
    """Let in the migrants (``migrant_lots``: this step's ``UsedSale.migrant_lots``), draw this
    step's prospects, let those that clear their hurdle in. ``seen``, ``beliefs``: this step's
    ``step_state.Observation`` and ``Beliefs``; ``ai_supply_it_mw``: the lease market's supply
    after this step's signings, for the prospects' outlook (``decisions.outlook``). Returns the
    new firm ids with ``seen`` and ``beliefs`` grown by their rows."""
    migrants, seen, beliefs = admit_migrants(model, seen, beliefs, migrant_lots)
    s, rng = model.config, model.firm_rng
    if s.entry_candidates_per_year <= 0 or not np.isfinite(seen.hashprice_observed):
        return Entry(migrants, seen, beliefs)
    k = int(rng.poisson(s.entry_candidates_per_year * seen.years_in_step))
    if k == 0:
        return Entry(migrants, seen, beliefs)
    power = lognormal_with_moments(rng, s.entry_power_price_mean_usd_per_mwh, s.entry_power_price_sd_usd_per_mwh, k)
    mw = lognormal_with_moments(rng, s.entry_site_mw_mean, s.entry_site_mw_sd, k)
    o = decisions.outlook(model, seen, ai_supply_it_mw)
    go = (rng.random(k) < entry_probability(model, o, power, beliefs)) & (mw >= ENTRANT_MIN_SITE_MW)
    if not go.any():
        return Entry(migrants, seen, beliefs)
    ids, seen, beliefs = admit(model, seen, beliefs, power[go], mw[go], o.frontier_j_per_th, o.machine_price_usd_per_th)
    return Entry(np.r_[migrants, ids], seen, beliefs)


def admit_migrants(model, seen: Observation, beliefs: Beliefs,
                   migrant_lots: tuple) -> tuple[np.ndarray, Observation, Beliefs]:
    """The used lots bought this step by operators building new MW for them
    (``offer_to_migrants``) enter the books: one new firm and site per lot, energised with the
    lot's machines (containers on an existing interconnect go up within weeks: USBTC's 42 MW TX1
    took 71 days, research note buildout.md s5c; at a monthly step the lot mines from the next
    step). Returns the new firm ids and the records grown by their rows (``admit``)."""
    if not migrant_lots:
        return np.zeros(0, dtype=np.int64), seen, beliefs
    eff, mw, power, price = (np.concatenate(parts) for parts in zip(*migrant_lots))
    return admit(model, seen, beliefs, power, mw, eff, 0.0, machine_capex_usd_per_mw=price, energised=True)


def admit(model, seen: Observation, beliefs: Beliefs, power_usd_per_mwh: np.ndarray, mw: np.ndarray,
          frontier_j_per_th, machine_price_usd_per_th: float,
          machine_capex_usd_per_mw=None, energised: bool = False) -> tuple[np.ndarray, Observation, Beliefs]:
    """Put new firms with one new site each on the books, their MW on order (or, ``energised``,
    carrying machines of ``frontier_j_per_th`` bought at ``machine_capex_usd_per_mw`` now, for the
    migrants' used lots). Returns their ids, and ``seen`` and ``beliefs`` with their rows (the
    new sites' power prices; the new firms expect the median decline: ``Beliefs.with_new_firms``)."""
    s, firms, sites = model.config, model.firms, model.sites
    k = len(mw)
    machines = (econ.machine_capex_usd_per_mw(machine_price_usd_per_th, frontier_j_per_th)
                if machine_capex_usd_per_mw is None else machine_capex_usd_per_mw)
    per_mw = s.site_build_capex_usd_per_mw + np.asarray(machines, dtype=float)
    capex = mw * per_mw
    raised = capex * (1.0 + ENTRANT_WORKING_CAPITAL_SHARE)
    first = len(firms)
    active = firms.active
    median = (lambda a: fastnp.median(a[active]) if active.any() else fastnp.median(a))
    npv_rule = list(model.rules).index(next(r for r in model.rules if isinstance(r, NPVRule)))
    ids = firms.append(
        name=[f"{'Migrant' if energised else 'Entrant'} {first + i + 1}" for i in range(k)], is_public=np.zeros(k, bool),
        rule=np.full(k, npv_rule), cash_usd=np.zeros(k), debt_usd=np.zeros(k),
        debt_rate_per_year=np.full(k, s.new_debt_rate_per_year),
        debt_maturity_step=np.full(k, seen.step + round(s.debt_maturity_years * model.steps_per_year)),
        btc_held=np.zeros(k), btc_sell_share=np.full(k, ENTRANT_BTC_SELL_SHARE),
        hurdle_rate_per_year=np.full(k, s.entry_hurdle_rate_per_year),
        conversion_capex_usd_per_mw=np.full(k, median(firms.conversion_capex_usd_per_mw)),
        expected_hashprice=np.full(k, seen.hashprice_observed),
        hashprice_trend_weight=np.full(k, median(firms.hashprice_trend_weight)),
        active=np.ones(k, bool),
    )
    firms.cash_usd[ids] += raised
    firms.ledger["equity_raised_usd"][ids] += raised
    new = SiteBook.create(
        owner=ids, capacity_mw=np.zeros(k), suitable_mw=np.zeros(k), power_base_usd_per_mwh=power_usd_per_mwh,
        efficiency_j_per_th=np.broadcast_to(np.asarray(frontier_j_per_th, dtype=float), (k,)).copy(),
        machine_age_years=np.zeros(k), pipeline_horizon=1, interconnect_mw=mw,
    )
    rows = sites.append(new)
    seen = seen.with_new_sites(model.market.site_power_prices(power_usd_per_mwh))
    beliefs = beliefs.with_new_firms(k)
    if energised:  # the machines stand idle until this step's successor decides whether they mine
        vintages.add_cohort(sites.cohort_mw, sites.cohort_efficiency_j_per_th, sites.cohort_age_years,
                            rows, mw, sites.efficiency_j_per_th[rows])
        sites.capacity_mw[rows] += mw
        sites.mw_idle[rows] += mw
        # only the new rows' cohorts changed: their fleet average (``sites.sync_fleet`` for these rows)
        sites.efficiency_j_per_th[rows] = vintages.fleet_efficiency(
            sites.cohort_mw[rows], sites.cohort_efficiency_j_per_th[rows], sites.efficiency_j_per_th[rows])
        # paid now, in the step the sellers book the proceeds (entry runs after ``finance.pay``)
        firms.ledger["capex_usd"][ids] += capex
        firms.cash_usd[ids] -= capex
    else:
        lead = max(1, round(s.entry_site_lead_time_months * model.steps_per_month))
        sites.build_pipeline.add_rows(rows, mw, lead)
        firms.payments.add_spread_rows(ids, capex, lead)
    model.events.add_many("entry", ids, rows, mw, value_usd=capex, detail="migration" if energised else "")
    model.add_firms(ids)  # the model's own per-firm arrays and Mesa agents
    return ids, seen, beliefs
