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

from marketsim import protocol
from marketsim.firms import economics as econ

DORMANT_SHARE = 0.05  # a site mining fewer hours than this is idle for scrapping purposes


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
    """Each site mines in the hours its margin is positive (``economics.hourly_mining_share``).

    ``mw_mining`` is the site's machine MW times the share of hours mined (MW-equivalents), the
    rest is ``mw_idle``. A site that mines less than half of the hours counts as curtailed
    (events), and one that mines almost never for ``scrap_after_idle_months`` is scrapped.
    """
    s, sites = model.config, model.sites
    breakeven_power = econ.revenue_usd_per_mw_day(hashprice_observed, sites.efficiency_j_per_th) / econ.HOURS_PER_DAY
    share, cost_share = econ.hourly_mining_share(
        breakeven_power - s.mining_opex_usd_per_mwh, power_usd_per_mwh, s.power_hourly_volatility
    )
    machines = sites.mw_machines
    was_mining = sites.mw_mining > 0.5 * machines
    sites.mw_mining = share * machines
    sites.mw_idle = machines - sites.mw_mining
    model.site_power_cost_share = cost_share
    mining = (share >= 0.5) & (machines > 0)
    stopped = was_mining & ~mining
    resumed = ~was_mining & mining & (machines > 0)
    if stopped.any():
        model.events.add_many("curtailment", sites.owner[stopped], np.flatnonzero(stopped), sites.mw_idle[stopped])
    if resumed.any():
        model.events.add_many("resumption", sites.owner[resumed], np.flatnonzero(resumed), sites.mw_mining[resumed])

    dormant = (share < DORMANT_SHARE) & (machines > 0)
    sites.idle_steps = np.where(dormant, sites.idle_steps + 1, 0)
    scrap = (sites.idle_steps >= model.steps_per_month * s.scrap_after_idle_months) & (sites.upgrade_due_step < 0)
    if scrap.any():
        model.events.add_many("scrapped", sites.owner[scrap], np.flatnonzero(scrap), machines[scrap])
        sites.mw_shutdown[scrap] += machines[scrap]
        sites.mw_idle[scrap] = 0.0
        sites.mw_mining[scrap] = 0.0
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
    site_hashrate = protocol.mw_to_ehs(sites.mw_mining * online, sites.efficiency_j_per_th)
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
    # the hours mined are the cheap ones: cost = machine MW x hours x mean price x cost share
    power_cost = sites.mw_machines * online * hours * power_usd_per_mwh * model.site_power_cost_share
    led["power_usd"] = np.bincount(sites.owner, weights=power_cost, minlength=n)
    fixed = (sites.capacity_mw - sites.mw_shutdown) * s.site_fixed_cost_usd_per_mw_month * model.months_in_step
    led["opex_usd"] = np.bincount(sites.owner, weights=mwh * s.mining_opex_usd_per_mwh + fixed, minlength=n)
    model.site_hashrate_ehs = site_hashrate
    model.firm_hashrate_ehs = firm_hashrate
    model.chain_outcome = outcome
