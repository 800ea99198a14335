"""The margin of mining a MW: the share of hours it mines, what its power costs, its monthly margin.

One home for the economics every phase that values a running fleet shares: curtailment and the
fixed point (``operations``), the used-machine market (``used_market``), entrants and migrants
(``entry``) and the calibration. Hours: a site mines in the hours its revenue beats the marginal
power price, whose hourly spread is lognormal (``economics.hourly_mining_share``); the part of
its power bought take-or-pay costs nothing extra to mine and is paid in every hour.
"""

from __future__ import annotations

import numpy as np

from marketsim.firms import economics as econ


def mining_shares(model, power_usd_per_mwh, hashprice, efficiency=None, take_or_pay=None):
    """Share of hours mined and cost of power relative to the mean, at ``hashprice``.

    Shapes broadcast: by default per site at the fleet average; pass ``efficiency`` of shape
    (sites, slots) with ``power_usd_per_mwh[:, None]`` for each cohort. The marginal power
    price of a MWh is the site's price on the part not bought take-or-pay
    (``power_take_or_pay_share``: hosting contracts and fixed-volume PPAs are paid whether the
    machines run or not, so that part costs nothing extra to mine). The returned cost share
    includes the take-or-pay part, paid in every hour.
    """
    share, cost_share, _ = _shares_and_revenue(model, power_usd_per_mwh, hashprice, efficiency, take_or_pay)
    return share, cost_share


def _shares_and_revenue(model, power_usd_per_mwh, hashprice, efficiency, take_or_pay):
    """``mining_shares`` and the revenue of a MW mining all day (``econ.revenue_usd_per_mw_day``),
    which ``fleet_margin_usd_per_mw_month`` needs again: computed once."""
    s, sites = model.config, model.sites
    top = sites.power_take_or_pay_share if take_or_pay is None else take_or_pay
    eff = sites.efficiency_j_per_th if efficiency is None else efficiency
    revenue = econ.revenue_usd_per_mw_day(hashprice, eff)
    share, cost_share = econ.hourly_mining_share(
        revenue / econ.HOURS_PER_DAY - s.mining_opex_usd_per_mwh, power_usd_per_mwh * (1.0 - top),
        s.power_hourly_volatility, s.power_negative_hours_share,
    )
    return share, top + (1.0 - top) * cost_share, revenue


def cohort_shares(model, power_usd_per_mwh: np.ndarray, hashprice):
    """``mining_shares`` for every cohort: (sites, slots) arrays (old machines curtail first)."""
    sites = model.sites
    hp = np.asarray(hashprice, dtype=float)
    return mining_shares(model, np.asarray(power_usd_per_mwh)[:, None], hp[:, None] if hp.ndim else hp,
                         sites.cohort_efficiency_j_per_th, sites.power_take_or_pay_share[:, None])


def fleet_margin_usd_per_mw_month(model, power_usd_per_mwh, hashprice, efficiency=None, take_or_pay=None):
    """Per machine MW: revenue of the hours mined less their power and variable opex, per month,
    at ``hashprice``; shapes broadcast as in ``mining_shares``."""
    s, sites = model.config, model.sites
    eff = sites.efficiency_j_per_th if efficiency is None else efficiency
    hp = np.asarray(hashprice, dtype=float)
    share, cost_share, revenue = _shares_and_revenue(model, power_usd_per_mwh, hp, eff, take_or_pay)
    revenue = revenue * share
    cost = (np.asarray(power_usd_per_mwh) * cost_share + s.mining_opex_usd_per_mwh * share) * econ.HOURS_PER_DAY
    return (revenue - cost) * econ.DAYS_PER_MONTH
