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

import numpy as np
from scipy.optimize import brentq

from marketsim import protocol
from marketsim.firms import economics as econ

# the fixed point is searched down to exp(-30) of the fleet (a network off in all but name)
FIXED_POINT_BRACKET_LOG = 30.0
FIXED_POINT_TOLERANCE_LOG = 1e-6  # relative precision of the hashrate (1 ppm)
SCRAP_REMNANT_MW = 0.1  # a fleet smaller than this after a scrapping goes whole


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


def mining_shares(model, power_usd_per_mwh: np.ndarray, hashprice) -> tuple[np.ndarray, np.ndarray]:
    """Per site at ``hashprice`` (scalar or per site): share of hours mined and cost of power relative to the mean.

    The marginal power price of a MWh is the site's price on the part not bought
    take-or-pay (``power_take_or_pay_share``: hosting contracts and fixed-volume PPAs are
    paid whether the machines run or not, so that part costs nothing extra to mine).
    The returned cost share includes the take-or-pay part, paid in every hour.
    """
    s, sites = model.config, model.sites
    top = sites.power_take_or_pay_share
    breakeven_power = econ.revenue_usd_per_mw_day(hashprice, sites.efficiency_j_per_th) / econ.HOURS_PER_DAY
    share, cost_share = econ.hourly_mining_share(
        breakeven_power - s.mining_opex_usd_per_mwh, power_usd_per_mwh * (1.0 - top), s.power_hourly_volatility,
        s.power_negative_hours_share,
    )
    return share, top + (1.0 - top) * cost_share


def consistent_hashprice(model, power_usd_per_mwh: np.ndarray, online: float) -> float:
    """The hashprice at which the hashrate that mines is the one that earns it.

    A miner earns reward x (its hashrate / difficulty); difficulty retargets every 2,016
    blocks (about twice a month) toward the hashrate that mines. Deciding on/off at the
    difficulty of the step's start, as if the retargets inside the step did not happen,
    makes a cobweb: everybody switches off, difficulty falls, everybody switches on. Here
    the step's hashrate H solves the fixed point

        H = online x S(R / H),   S(hp) = sum over sites of share(hp) x machine MW / J/TH,

    with R the network's reward per day (``Market.reward_usd_per_day``): the hashrate is
    consistent with the difficulty it produces, and hashprice R / H is the one expected
    after the next retarget. S rises with hashprice and R / H falls with H, so the root is
    unique; it is found by bracketing in log H (``brentq``). The chain still lags: blocks
    come faster or slower until difficulty has caught up (``protocol.advance_chain``).
    """
    sites = model.sites
    reward = model.market.reward_usd_per_day()
    capacity = float(protocol.mw_to_ehs(sites.mw_machines, sites.efficiency_j_per_th).sum()) * online
    if capacity <= 0 or reward <= 0:
        return float("nan")
    ths = sites.mw_machines / sites.efficiency_j_per_th * online

    def excess(log_h: float) -> float:
        h = np.exp(log_h)
        share, _ = mining_shares(model, power_usd_per_mwh, reward / (h * protocol.PH_PER_EH))
        return float(np.log(max((share * ths).sum(), 1e-300)) - log_h)

    high = np.log(capacity)
    if excess(high) >= 0:  # everything mines even with the whole fleet on
        return reward / (capacity * protocol.PH_PER_EH)
    low = high - FIXED_POINT_BRACKET_LOG
    if excess(low) <= 0:  # not even a trickle mines: hashprice at the bracket's bottom
        return reward / (np.exp(low) * protocol.PH_PER_EH)
    log_h = brentq(excess, low, high, xtol=FIXED_POINT_TOLERANCE_LOG)
    return reward / (np.exp(log_h) * protocol.PH_PER_EH)


def curtail_or_mine(model, power_usd_per_mwh: np.ndarray) -> None:
    """Each site mines in the hours its margin is positive at the consistent hashprice.

    ``mw_mining`` is the site's machine MW times the share of hours mined (MW-equivalents), the
    rest is ``mw_idle``. A site that mines less than half of the hours counts as curtailed
    (events). A fleet is scrapped when, at the hashprice expected after the next retarget
    (``consistent_hashprice``) and at the firm's own belief (whichever is higher), its margin
    over the hours it mines does not cover the site's avoidable fixed cost, it is scrapped at a
    hazard with mean life ``scrap_after_unprofitable_months``: a machine is kept while it
    pays its way, whatever the share of hours it runs.
    """
    s, sites = model.config, model.sites
    online = 1.0 - outage_share(model)
    hashprice = consistent_hashprice(model, power_usd_per_mwh, online)
    model.hashprice_consistent = hashprice
    if not np.isfinite(hashprice):
        hashprice = model.hashprice_observed
    share, cost_share = mining_shares(model, power_usd_per_mwh, hashprice)
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

    belief = model.firms.expected_hashprice[sites.owner]
    margin = fleet_margin_usd_per_mw_month(model, power_usd_per_mwh, np.fmax(belief, hashprice))
    losing = (margin < s.site_fixed_cost_usd_per_mw_month) & (machines > 0) & (sites.upgrade_due_step < 0)
    sites.idle_steps = np.where(losing, sites.idle_steps + 1, 0)
    # a hazard, not a deadline: of a fleet that does not pay its way, 1 - exp(-t / T) goes each
    # step (machines differ within a fleet; owners sell or scrap a few at a time), so a halving
    # that strands many fleets at once retires them over months, not in one step
    rate = 1.0 - np.exp(-model.months_in_step / s.scrap_after_unprofitable_months)
    scrap_mw = np.where(losing, machines * rate, 0.0)
    scrap_mw = np.where(machines - scrap_mw < SCRAP_REMNANT_MW, np.where(losing, machines, 0.0), scrap_mw)
    scrap = scrap_mw > 0
    if scrap.any():
        model.events.add_many("scrapped", sites.owner[scrap], np.flatnonzero(scrap), scrap_mw[scrap])
        keep = np.where(machines > 0, 1.0 - scrap_mw / np.where(machines > 0, machines, 1.0), 0.0)
        sites.mw_mining *= keep
        sites.mw_idle *= keep
        sites.mw_shutdown += scrap_mw


def fleet_margin_usd_per_mw_month(model, power_usd_per_mwh: np.ndarray, hashprice) -> np.ndarray:
    """Per machine MW: revenue of the hours mined less their power and variable opex, per month,
    at ``hashprice`` (scalar or per site)."""
    s, sites = model.config, model.sites
    hp = np.asarray(hashprice, dtype=float)
    share, cost_share = mining_shares(model, power_usd_per_mwh, hp)
    revenue = econ.revenue_usd_per_mw_day(hp, sites.efficiency_j_per_th) * share
    cost = (power_usd_per_mwh * cost_share + s.mining_opex_usd_per_mwh * share) * econ.HOURS_PER_DAY
    return (revenue - cost) * econ.DAYS_PER_MONTH


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
