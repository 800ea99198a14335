"""Operate: deliveries land, sites mine or curtail, the network's hashrate and rewards follow.

Order within the phase (MODEL.md "Each step, each firm", 1-2):
1. what was ordered arrives: new MW energised, upgraded fleets, finished conversions;
2. each site mines if its expected margin is positive at the hashprice firms can observe
   (this step's price and subsidy over last step's network hashrate), else curtails;
   fleets idle for ``scrap_after_idle_months`` are scrapped and the site shut down;
3. exogenous outages (scenario ``hashrate_events``) take a share of mining MW offline;
4. the chain advances with the realised network hashrate; each firm earns its hashrate share
   of the step's rewards, and pays power and variable opex on the MW that actually mined.
"""

from __future__ import annotations

import numpy as np

from marketsim.firms import economics as econ


def land_deliveries(model) -> None:
    sites, step = model.sites, model.steps_done
    built = sites.build_pipeline.pop()
    got = built > 0
    if got.any():
        old_th = sites.mw_machines[got] / sites.efficiency_j_per_th[got]
        new_th = built[got] / sites.build_efficiency[got]
        sites.efficiency_j_per_th[got] = (sites.mw_machines[got] + built[got]) / (old_th + new_th)
        sites.capacity_mw[got] += built[got]
        sites.mw_idle[got] += built[got]  # curtailment decides below whether it mines
        # new MW is built for mining: it does not add AI-suitable capacity (MODEL.md: ~20% of
        # a portfolio suits AI because of power quality, land and fibre, not because of age)
    upgraded = sites.upgrade_due_step == step
    if upgraded.any():
        sites.efficiency_j_per_th[upgraded] = sites.upgrade_efficiency[upgraded]
        sites.fleet_age_years[upgraded] = 0.0
        sites.upgrade_due_step[upgraded] = -1
        sites.idle_steps[upgraded] = 0
    converted = sites.conversion_pipeline.pop()
    done = converted > 0
    if done.any():
        sites.mw_converting[done] -= converted[done]
        sites.mw_converted[done] += converted[done]
        model.events.add_many("conversion_completed", sites.owner[done], np.flatnonzero(done), converted[done])


def curtail_or_mine(model, power_usd_per_mwh: np.ndarray, hashprice_observed: float) -> None:
    """Switch each site's machines on when their expected margin is positive, off otherwise."""
    s, sites = model.config, model.sites
    breakeven = econ.breakeven_hashprice(sites.efficiency_j_per_th, power_usd_per_mwh, s.mining_opex_usd_per_mwh)
    machines = sites.mw_machines
    mine = (hashprice_observed > breakeven) & (machines > 0)
    was_mining = sites.mw_mining > 0
    sites.mw_mining = np.where(mine, machines, 0.0)
    sites.mw_idle = np.where(mine, 0.0, machines)
    stopped = was_mining & ~mine
    resumed = ~was_mining & mine & (sites.idle_steps > 0)
    if stopped.any():
        model.events.add_many("curtailment", sites.owner[stopped], np.flatnonzero(stopped), sites.mw_idle[stopped])
    if resumed.any():
        model.events.add_many("resumption", sites.owner[resumed], np.flatnonzero(resumed), sites.mw_mining[resumed])

    sites.idle_steps = np.where(~mine & (machines > 0), sites.idle_steps + 1, 0)
    scrap = (sites.idle_steps >= model.steps_per_month * s.scrap_after_idle_months) & (sites.upgrade_due_step < 0)
    if scrap.any():
        model.events.add_many("scrapped", sites.owner[scrap], np.flatnonzero(scrap), sites.mw_idle[scrap])
        sites.mw_shutdown[scrap] += sites.mw_idle[scrap]
        sites.mw_idle[scrap] = 0.0
        sites.idle_steps[scrap] = 0


def outage_share(model) -> float:
    """Share of mining MW forced offline this step by exogenous events."""
    step = model.steps_done
    share = 0.0
    for ev in model.config.hashrate_events:
        if ev.step <= step < ev.step + ev.duration:
            share = 1.0 - (1.0 - share) * (1.0 - ev.share_offline)
    return share


def mine_and_earn(model, power_usd_per_mwh: np.ndarray) -> None:
    """Realise hashrate, settle the chain, share the rewards, charge power and variable opex."""
    s, sites, firms, state = model.config, model.sites, model.firms, model.market.state
    online = 1.0 - outage_share(model)
    site_hashrate = sites.mw_mining * online / sites.efficiency_j_per_th
    network = float(site_hashrate.sum())
    outcome = model.market.settle_chain(network)
    n = len(firms)
    firm_hashrate = np.bincount(sites.owner, weights=site_hashrate, minlength=n)
    share = firm_hashrate / network if network > 0 else np.zeros(n)
    led = firms.ledger
    led["btc_mined"] = share * (outcome.issuance_btc + outcome.fees_btc)
    led["revenue_mining_usd"] = led["btc_mined"] * state.btc_price_usd
    hours = state.days * econ.HOURS_PER_DAY
    mwh = sites.mw_mining * online * hours
    led["power_usd"] = np.bincount(sites.owner, weights=mwh * power_usd_per_mwh, minlength=n)
    fixed = (sites.capacity_mw - sites.mw_shutdown) * s.site_fixed_cost_usd_per_mw_month * model.months_in_step
    led["opex_usd"] = np.bincount(sites.owner, weights=mwh * s.mining_opex_usd_per_mwh + fixed, minlength=n)
    model.site_hashrate_ehs = site_hashrate
    model.firm_hashrate_ehs = firm_hashrate
    model.chain_outcome = outcome
