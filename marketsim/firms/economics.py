"""Plain functions that value a firm's options: mining margins, lease values, paybacks.

Decision rules call these on arrays of sites or firms. Everything is in USD, MW of site power
and months; a month is ``DAYS_PER_MONTH`` days on average. Curtailment is an option: a
machine that would lose money is switched off, so the value of mining is the discounted sum
of ``max(margin, 0)``, not of the margin itself.
"""

from __future__ import annotations

import threading

import numpy as np

from marketsim import fastnp
from marketsim.units import (  # noqa: F401 (also used as econ.X by rules)
    DAYS_PER_MONTH, HOURS_PER_DAY, KW_PER_MW, MONTHS_PER_YEAR, PH_PER_EH, W_PER_MW,
)

ISCLOSE_RTOL, ISCLOSE_ATOL = 1e-05, 1e-08  # numpy.isclose defaults: r and g count as equal within these
DECLINE_BOUNDS = (-0.5, 0.9)  # no belief of hashprice tripling or vanishing within a year from trend alone


def revenue_usd_per_mw_day(hashprice_usd_per_ph_day, efficiency_j_per_th):
    """Mining revenue of one MW: hashprice x PH/s per MW (= 1000 / J/TH)."""
    return np.asarray(hashprice_usd_per_ph_day) * PH_PER_EH / np.asarray(efficiency_j_per_th)


def cash_cost_usd_per_mw_day(power_usd_per_mwh, opex_usd_per_mwh):
    """Variable cost of one MW mining all day (power and variable opex)."""
    return (np.asarray(power_usd_per_mwh) + opex_usd_per_mwh) * HOURS_PER_DAY


def breakeven_hashprice(efficiency_j_per_th, power_usd_per_mwh, opex_usd_per_mwh):
    """Hashprice (USD/PH/day) below which a MW is better curtailed."""
    return cash_cost_usd_per_mw_day(power_usd_per_mwh, opex_usd_per_mwh) * np.asarray(efficiency_j_per_th) / PH_PER_EH


def hourly_mining_share(breakeven_power_usd_per_mwh, mean_power_usd_per_mwh, hourly_volatility: float,
                        negative_hours_share: float = 0.0):
    """Share of hours a site mines, and the cost of those hours relative to always mining.

    Power is bought by the hour; its price over a month is lognormal around the site's mean
    with log-sd ``hourly_volatility``. A miner runs in the hours when power costs less than
    the revenue of a MWh (the breakeven price) and curtails in the others, as Texas miners do.
    With ln P ~ N(m, s^2), m = ln(mean) - s^2/2 and d = (ln k - m) / s:

        share of hours mined            = Phi(d)
        E[P; P < k] / mean (cost share) = Phi(d - s)

    With ``hourly_volatility`` = 0 this is the all-or-nothing rule (mine iff k > mean). The
    spread is what keeps a price fall from switching the whole network off at once.

    ``negative_hours_share`` of the hours have a price at or below zero (wind and solar
    surpluses in West Texas): every machine mines then, at no power cost (a negative price is
    taken as zero: it is small next to the revenue), so

        share = n + (1 - n) Phi(d),   cost share = (1 - n) Phi(d - s).
    """
    k = np.asarray(breakeven_power_usd_per_mwh, dtype=float)
    mean = np.asarray(mean_power_usd_per_mwh, dtype=float)
    n = negative_hours_share
    if hourly_volatility <= 0:
        on = (k > mean).astype(float)
        return n + (1 - n) * on, (1 - n) * on
    s = hourly_volatility
    if (k > 0).all():  # the usual case; the same numbers as the masked form below, without the masks
        d = (np.log(k) - (np.log(np.maximum(mean, 1e-9)) - s * s / 2)) / s
        return n + (1 - n) * fastnp.ndtr(d), (1 - n) * fastnp.ndtr(d - s)  # ``ndtr``, skipping the sure 1s
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (np.log(np.where(k > 0, k, 1.0)) - (np.log(np.maximum(mean, 1e-9)) - s * s / 2)) / s
    share = np.where(k > 0, fastnp.ndtr(d), 0.0)
    cost = np.where(k > 0, fastnp.ndtr(d - s), 0.0)
    return n + (1 - n) * share, (1 - n) * cost


class _RowCache:
    """Rows of a function of one float, kept by key: ``get(x, tag)`` returns ``f(x, tag)`` stacked
    for an array ``x`` (rows), computing ``f`` only on the keys not seen before with that ``tag``.

    Why: decision rules value the same firms several times a step (upgrades, expansions, two
    conversion reservations, site values), and each firm's discount factors (its hurdle rate,
    fixed for life) are a row of a few dozen powers. ``f`` is computed on the missing keys with
    the same expression, element for element, as on the whole array, so a row is the same to
    the last bit whoever asked first. Rows are appended to a buffer that doubles when full; the
    keys are held sorted with each one's row (a binary search finds them); non-finite keys
    bypass the cache. Thread-safe: readers use one snapshot of the state, writers hold a lock
    and only write rows past what any snapshot can read."""

    MAX_ROWS = 1 << 14  # ~8 MB at 60 months: past this the cache starts over
    MAX_TAGS = 8  # horizons kept at once (a run uses one or two)
    _EMPTY = (np.empty(0), np.empty(0, np.intp), None)

    def __init__(self, compute):
        self.compute = compute  # (sorted unique keys (u,), tag) -> rows (u, m)
        self._states: dict = {}  # tag -> (sorted keys, their rows' slots, rows)
        self._lock = threading.Lock()

    def get(self, x: np.ndarray, tag) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        keys, slot, rows = self._states.get(tag, self._EMPTY)
        if len(keys):
            idx = keys.searchsorted(x)
            np.minimum(idx, len(keys) - 1, out=idx)
            if (keys[idx] == x).all():
                return rows[slot[idx]]
        with self._lock:
            keys, slot, rows = self._states.get(tag, self._EMPTY)
            if len(keys):
                idx = keys.searchsorted(x)
                np.minimum(idx, len(keys) - 1, out=idx)
                missing = np.unique(x[keys[idx] != x])
            else:
                missing = np.unique(x)
            if not len(x) or not np.isfinite(missing).all():
                return self.compute(x, tag)
            if len(missing):
                size = len(keys)
                if size + len(missing) > self.MAX_ROWS:  # start over, holding this request's keys
                    keys, slot, rows, size = np.empty(0), np.empty(0, np.intp), None, 0
                    missing = np.unique(x)
                new_rows = self.compute(missing, tag)
                n = len(missing)
                if rows is None or size + n > len(rows):
                    grown = np.empty((max(2 * size + n, 256), new_rows.shape[1]))
                    if rows is not None:
                        grown[:size] = rows[:size]
                    rows = grown
                rows[size: size + n] = new_rows
                at = keys.searchsorted(missing)
                keys, slot = np.insert(keys, at, missing), np.insert(slot, at, np.arange(size, size + n))
                if tag not in self._states and len(self._states) >= self.MAX_TAGS:
                    self._states.clear()
                self._states[tag] = (keys, slot, rows)
            return rows[slot[keys.searchsorted(x)]]


def hashprice_outlook(
    hashprice_now: np.ndarray | float,
    months: int,
    decline_per_year: np.ndarray | float,
    months_to_halving: float,
    post_halving_ratio: float,
) -> np.ndarray:
    """Expected hashprice for each of the next ``months`` months (columns), per belief (rows).

    The form a miner uses in practice: today's level, eroded by expected network growth at
    ``decline_per_year`` (scalar or one per row: ``trend_decline_per_year``), and cut by the
    known halving (``post_halving_ratio`` = (subsidy/2 + fees) / (subsidy + fees)) when it lands.
    """
    t = np.arange(1, months + 1, dtype=float)
    now = fastnp.as_1d(np.asarray(hashprice_now, dtype=float))
    decline = np.asarray(decline_per_year, dtype=float)
    if decline.shape != now.shape:  # one per row, as given, or the same for all (an array of it:
        per_row = np.empty(now.shape)  # ``np.broadcast_to``'s values without its ~10 us of set-up)
        per_row[...] = decline
        decline = per_row
    path = (1.0 - decline)[:, None] ** (t / MONTHS_PER_YEAR)[None, :]
    # in place, the same numbers: t rises, so the months after the halving are the tail columns
    path[:, months - int(np.count_nonzero(t > months_to_halving)):] *= post_halving_ratio
    path *= now[:, None]
    return path


def trend_decline_per_year(hashrate_growth_log_per_year: float, trend_weight, forward_premium_per_year: float):
    """A miner's expected yearly hashprice decline from what it could observe or buy.

    Hashprice is reward x price / hashrate. Price: the forward curve (futures trade at spot x
    (1 + basis), so the price expected a year out is spot x (1 + ``forward_premium_per_year``)).
    Hashrate: the network's trailing log growth (difficulty, public), extrapolated with the
    firm's ``trend_weight`` (0: no growth expected, 1: the trend continues). So

        1 - decline = (1 + premium) x exp(-weight x growth),

    clipped to [``DECLINE_BOUNDS``]. The halving is arithmetic, applied separately.
    """
    growth = np.asarray(trend_weight, dtype=float) * hashrate_growth_log_per_year
    return fastnp.clip(1.0 - (1.0 + forward_premium_per_year) * np.exp(-growth), *DECLINE_BOUNDS)


def monthly_discount(rate_per_year: np.ndarray | float, months: int) -> np.ndarray:
    """Discount factors for months 1..months (rows: one per rate; kept per rate, ``_RowCache``)."""
    return _DISCOUNT_ROWS.get(fastnp.as_1d(np.asarray(rate_per_year, dtype=float)), int(months))


def _discount_rows(rate_per_year: np.ndarray, months: int) -> np.ndarray:
    monthly = (1.0 + rate_per_year) ** (1.0 / MONTHS_PER_YEAR)
    return monthly[:, None] ** -np.arange(1, months + 1, dtype=float)[None, :]


# a firm's rate is fixed for life: its discount factors are computed once per horizon
_DISCOUNT_ROWS = _RowCache(_discount_rows)


def pv_mining_margin_per_mw(
    hashprice_path: np.ndarray,
    efficiency_j_per_th: np.ndarray,
    cost_usd_per_mwh: np.ndarray,
    discount: np.ndarray,
) -> np.ndarray:
    """Present value of one MW's mining margin with the option to curtail.

    ``hashprice_path`` and ``discount`` are (n, months); efficiency and cost are (n,).
    """
    rev = hashprice_path * (PH_PER_EH / np.asarray(efficiency_j_per_th))[:, None]
    cost = (np.asarray(cost_usd_per_mwh) * HOURS_PER_DAY)[:, None]
    margin = np.subtract(rev, cost)
    np.maximum(margin, 0.0, out=margin)  # in place: the same numbers as max(rev - cost, 0) x discount
    if np.shape(discount) == margin.shape:
        np.multiply(margin, discount, out=margin)
    else:
        margin = margin * discount
    return margin.sum(axis=1) * DAYS_PER_MONTH


def lease_noi_usd_per_gross_mw_month(rate_usd_per_kw_month, pue: float, margin: float):
    """Net operating income of one gross site MW leased to an AI tenant (IT MW = gross / PUE)."""
    return np.asarray(rate_usd_per_kw_month) * KW_PER_MW / pue * margin


def lease_pv_per_gross_mw(
    rate_usd_per_kw_month,
    pue: float,
    margin: float,
    term_years: float,
    escalator_per_year: float,
    discount_rate_per_year,
    delay_months: float,
):
    """PV of a lease signed now at ``rate`` that starts paying after ``delay_months``."""
    r = (1.0 + np.asarray(discount_rate_per_year, dtype=float)) ** (1.0 / MONTHS_PER_YEAR) - 1.0
    g = (1.0 + escalator_per_year) ** (1.0 / MONTHS_PER_YEAR) - 1.0
    n = term_years * MONTHS_PER_YEAR
    # growing annuity of n monthly payments, first one paid one month after delivery:
    # sum_{k=1..n} (1+g)^(k-1) / (1+r)^k = (1 - ((1+g)/(1+r))^n) / (r - g), and n / (1+r) when r = g
    ratio = (1.0 + g) / (1.0 + r)
    # ``np.isclose(r, g)`` (rtol 1e-5, atol 1e-8), its own expression without its ~10 us of set-up
    same = (np.abs(r - g) <= ISCLOSE_ATOL + ISCLOSE_RTOL * abs(g)) & np.isfinite(g) | (r == g)
    if same.any():
        annuity = np.where(same, n / (1.0 + r), (1.0 - ratio**n) / np.where(same, 1.0, r - g))
    else:  # the usual case (a hurdle is not the escalator): the same numbers without the two selects
        annuity = (1.0 - ratio**n) / (r - g)
    noi = lease_noi_usd_per_gross_mw_month(rate_usd_per_kw_month, pue, margin)
    return noi * annuity * (1.0 + r) ** -delay_months


def machine_capex_usd_per_mw(price_usd_per_th, efficiency_j_per_th):
    """Cost of filling one MW with machines: USD/TH x TH per MW (= 1e6 / J/TH)."""
    return np.asarray(price_usd_per_th) * W_PER_MW / np.asarray(efficiency_j_per_th)


def payback_months(capex_usd, monthly_gain_usd):
    """Simple payback; infinite when the gain is not positive.

    capex / gain only where the gain is positive (``np.divide``'s ``where``: nothing is divided
    elsewhere), inf elsewhere. A positive finite gain cannot raise a division warning, so
    ``np.errstate`` (~3 us a call) is entered only when a gain is infinite (inf / inf)."""
    gain = np.asarray(monthly_gain_usd, dtype=float)
    capex = np.asarray(capex_usd)
    shape = gain.shape if capex.shape == gain.shape or not capex.shape else np.broadcast_shapes(capex.shape, gain.shape)
    if (gain == np.inf).any():
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.divide(capex, gain, out=fastnp.full(shape, np.inf), where=gain > 0)
    return np.divide(capex, gain, out=fastnp.full(shape, np.inf), where=gain > 0)


def firm_asset_value_usd(
    mw_machines: np.ndarray,
    machine_value_usd_per_mw: np.ndarray,
    site_value_usd_per_mw: float,
    mw_converted: np.ndarray,
    converted_value_usd_per_mw: float,
    btc_held: np.ndarray,
    btc_price_usd: float,
) -> np.ndarray:
    """What lenders lend against: sites, machines at market price, AI halls and BTC."""
    return (
        mw_machines * (site_value_usd_per_mw + machine_value_usd_per_mw)
        + mw_converted * converted_value_usd_per_mw
        + btc_held * btc_price_usd
    )
