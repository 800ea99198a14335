"""The margin of mining a MW: the share of hours it mines, what its power costs, its monthly margin.

One home for the economics every phase that values a running fleet shares: curtailment and the
fixed point (``operations``), the used-machine market (``used_market``), entrants and migrants
(``entry``) and the calibration. Hours: a site mines in the hours its revenue beats the marginal
power price, whose hourly spread is lognormal (``economics.hourly_mining_share``); the part of
its power bought take-or-pay costs nothing extra to mine and is paid in every hour.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from marketsim import fastnp
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


class Cells(NamedTuple):
    """What ``_shares_and_revenue`` computes from the cells' power alone (not from hashprice or
    efficiency), once for every valuation of the same cells in a step: curtailment values each
    live cohort at its owner's belief, then at the consistent hashprice, and the fixed point
    (``operations.consistent_hashprice``) starts from the same marginal power and its log."""

    power: np.ndarray  # USD/MWh of each cell's site
    take_or_pay: np.ndarray  # its share bought take-or-pay
    untaken: np.ndarray  # 1 - take_or_pay
    marginal: np.ndarray  # power x untaken: the price of a MWh mined
    log_marginal: np.ndarray  # ln max(marginal, 1e-9)
    spread_term: np.ndarray  # log_marginal - s^2 / 2: m of ``economics.hourly_mining_share``


def cells(model, power_usd_per_mwh: np.ndarray, take_or_pay: np.ndarray) -> Cells:
    """``Cells`` of 1-D arrays of cells (one value each), the same numbers as the long way's."""
    vol = model.config.power_hourly_volatility
    untaken = 1.0 - take_or_pay
    marginal = power_usd_per_mwh * untaken
    log_marginal = np.log(np.maximum(marginal, 1e-9))
    return Cells(power_usd_per_mwh, take_or_pay, untaken, marginal, log_marginal, log_marginal - vol * vol / 2)


def cell_shares(model, at: Cells, hashprice, efficiency: np.ndarray):
    """``_shares_and_revenue(model, at.power, hashprice, efficiency, at.take_or_pay)``, bit for bit,
    from the prepared terms: the usual case (every cell earns more than its opex) is
    ``economics.hourly_mining_share``'s formula with its m taken from ``at``; any other goes there."""
    s = model.config
    revenue = econ.revenue_usd_per_mw_day(hashprice, efficiency)
    k = revenue / econ.HOURS_PER_DAY - s.mining_opex_usd_per_mwh
    vol, n = s.power_hourly_volatility, s.power_negative_hours_share
    if vol > 0 and (k > 0).all():
        d = (np.log(k) - at.spread_term) / vol
        share, cost_share = n + (1 - n) * fastnp.ndtr(d), (1 - n) * fastnp.ndtr(d - vol)
    else:
        share, cost_share = econ.hourly_mining_share(k, at.marginal, vol, n)
    return share, at.take_or_pay + at.untaken * cost_share, revenue


def cell_margin_usd_per_mw_month(model, at: Cells, hashprice, efficiency: np.ndarray) -> np.ndarray:
    """``fleet_margin_usd_per_mw_month`` of prepared cells, bit for bit."""
    s = model.config
    share, cost_share, revenue = cell_shares(model, at, np.asarray(hashprice, dtype=float), efficiency)
    revenue = revenue * share
    cost = (at.power * cost_share + s.mining_opex_usd_per_mwh * share) * econ.HOURS_PER_DAY
    return (revenue - cost) * econ.DAYS_PER_MONTH
