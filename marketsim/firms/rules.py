"""Decision rules: how a firm values upgrading, expanding and converting to AI hosting.

A rule only *values* options, on arrays of candidate sites; ``decisions.py`` applies the
common mechanics (review timing, financing limits, caps, events) to whatever the rules say is
worth doing. So a new rule is one small class, and a population can mix rules freely
(``decision_rule_mix`` in the scenario).

Every method returns, per candidate site, a *score* where > 0 means "do it" and, for
expansion, an intensity in [0, 1] that scales how much of the allowed growth is ordered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketsim import fastnp
from marketsim.firms import economics as econ

TOO_SLOW_SCORE = -1.0  # an upgrade that does not pay back within max_payback_months: a 'no', whatever its NPV


@dataclass(frozen=True)
class Candidates:
    """Per-site inputs of the firms that review their strategy this step."""

    efficiency_j_per_th: np.ndarray
    cost_usd_per_mwh: np.ndarray  # power + variable opex
    expected_hashprice: np.ndarray  # the owner's smoothed belief
    expected_decline_per_year: np.ndarray  # the owner's expected yearly hashprice erosion (trend belief)
    hurdle_rate_per_year: np.ndarray
    conversion_capex_usd_per_mw: np.ndarray
    # optional: where the candidates' hashprice paths and discount factors were already computed
    # this step, per owning firm (``FirmPaths``); without it a rule computes them itself
    paths: CandidatePaths | None = None
    # optional: each candidate's site, when candidates are cohorts of sites (``upgrade_score``):
    # consecutive cohorts of one site share the value of the frontier machines that would replace them
    site: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.efficiency_j_per_th)

    def take(self, idx: np.ndarray) -> Candidates:
        """The candidates at positions ``idx`` (in that order)."""
        paths = None if self.paths is None else CandidatePaths(self.paths.firm[idx], self.paths.hashprice,
                                                               self.paths.discount)
        return Candidates(
            self.efficiency_j_per_th[idx], self.cost_usd_per_mwh[idx], self.expected_hashprice[idx],
            self.expected_decline_per_year[idx], self.hurdle_rate_per_year[idx],
            self.conversion_capex_usd_per_mw[idx], paths, None if self.site is None else self.site[idx])

    @staticmethod
    def of_firms(efficiency_j_per_th: np.ndarray, cost_usd_per_mwh: np.ndarray, owner: np.ndarray, firms,
                 decline_per_year: np.ndarray, paths: FirmPaths | None = None,
                 site: np.ndarray | None = None) -> Candidates:
        """Candidates owned by the firms ``owner`` of the book ``firms``: their beliefs, hurdle
        rates and conversion capex (``decline_per_year``: one per firm; ``paths``: the step's
        ``FirmPaths``, valued at the hurdle rate)."""
        return Candidates(
            efficiency_j_per_th=efficiency_j_per_th, cost_usd_per_mwh=cost_usd_per_mwh,
            expected_hashprice=firms.expected_hashprice[owner], expected_decline_per_year=decline_per_year[owner],
            hurdle_rate_per_year=firms.hurdle_rate_per_year[owner],
            conversion_capex_usd_per_mw=firms.conversion_capex_usd_per_mw[owner],
            paths=None if paths is None else paths.of(owner, "hurdle", firms.hurdle_rate_per_year), site=site)


@dataclass(frozen=True)
class Outlook:
    """Market-level facts every firm observes at the moment of deciding."""

    hashprice_now: float
    frontier_j_per_th: float
    machine_price_usd_per_th: float
    site_build_capex_usd_per_mw: float
    lease_rate_usd_per_kw_month: float
    occupancy_outlook: float  # share of new AI capacity expected to find a tenant
    months_to_halving: float
    post_halving_ratio: float
    horizon_months: int
    max_payback_months: float
    myopic_max_payback_months: float
    ai_pue: float
    ai_margin: float
    ai_term_years: float
    ai_escalator_per_year: float
    conversion_lead_months: float

    def with_conversion_lead(self, months: float) -> Outlook:
        """This outlook with ``conversion_lead_months`` = ``months`` (a new hall's later first
        rent): ``dataclasses.replace`` without its per-field checks and ``__init__`` (it ran every
        step; the fields are plain numbers, so a copy of them is the same outlook)."""
        new = object.__new__(Outlook)
        new.__dict__.update(self.__dict__)
        object.__setattr__(new, "conversion_lead_months", months)
        return new


class FirmRows:
    """A per-firm table of rows (one row per firm, e.g. its hashprice path), filled on demand.

    Why: within a step the same firm is valued several times (its upgrade cohorts, its
    expansion, its sites' conversions), always on the same belief and hurdle rate; each path is a
    row of ``horizon_months`` powers, the costliest part of a valuation. ``make(firm_idx)`` gives
    the rows of those firms (elementwise in each firm, so a row is the same whichever batch made
    it); ``rows(firm_idx)`` makes only the firms not made yet.
    """

    def __init__(self, n_firms: int, make):
        self.make = make
        self.slot = fastnp.full(n_firms, -1, dtype=np.int64)  # each firm's row in ``table`` (-1: not made)
        self.table: np.ndarray | None = None

    def _slots(self, firm_idx: np.ndarray) -> np.ndarray:
        """Where the rows of ``firm_idx`` are in ``table``, making those not made yet."""
        at = self.slot[firm_idx]
        missing = at < 0
        if missing.any():
            todo = np.zeros(len(self.slot), dtype=bool)
            todo[firm_idx[missing]] = True
            todo = todo.nonzero()[0]
            made = self.make(todo)
            start = 0 if self.table is None else len(self.table)
            self.slot[todo] = np.arange(start, start + len(todo))
            self.table = made if self.table is None else np.concatenate([self.table, made])
            at = self.slot[firm_idx]
        return at

    def rows(self, firm_idx: np.ndarray) -> np.ndarray:
        """The rows of ``firm_idx`` (firms may repeat), making those not made yet this step."""
        at = self._slots(firm_idx)
        return self.table[at]

    def column(self, firm_idx: np.ndarray, j: int) -> np.ndarray:
        """Column ``j`` of the rows of ``firm_idx`` (e.g. the first month of a path)."""
        at = self._slots(firm_idx)
        return self.table[at, j]


@dataclass(frozen=True)
class CandidatePaths:
    """The owners of the candidates and the step's per-firm tables of their hashprice paths and
    of their discount factors (at the rate the candidates are valued at)."""

    firm: np.ndarray
    hashprice: FirmRows
    discount: FirmRows


class FirmPaths:
    """One step's hashprice paths and discount factors per firm, shared by every valuation of the
    step (``decisions.decide`` makes one after the ``Outlook``; the paths depend on nothing else
    of it but the horizon and the halving). ``hashprice_now`` and ``decline_per_year``: the firms'
    beliefs, one per firm."""

    def __init__(self, o: Outlook, hashprice_now: np.ndarray, decline_per_year: np.ndarray):
        self.months = o.horizon_months
        self.n_firms = len(hashprice_now)
        self.hashprice = FirmRows(self.n_firms, lambda f: econ.hashprice_outlook(
            hashprice_now[f], o.horizon_months, decline_per_year[f], o.months_to_halving, o.post_halving_ratio))
        self.discount: dict[str, FirmRows] = {}

    def of(self, firm_idx: np.ndarray, rate_name: str, rate_per_year: np.ndarray) -> CandidatePaths:
        """The paths of candidates owned by ``firm_idx``, discounted at each firm's
        ``rate_per_year`` (one per firm; the same array every time for the same ``rate_name``)."""
        table = self.discount.get(rate_name)
        if table is None:
            table = self.discount[rate_name] = FirmRows(
                self.n_firms, lambda f: econ.monthly_discount(rate_per_year[f], self.months))
        return CandidatePaths(firm_idx, self.hashprice, table)


def _rows_of(paths: CandidatePaths, firm_idx: np.ndarray):
    """The (hashprice, discount) rows of the firms ``firm_idx`` from the step's tables."""
    return paths.hashprice.rows(firm_idx), paths.discount.rows(firm_idx)


def _gives_up_no_mining(c: Candidates) -> bool:
    """True when every candidate is a new hall (efficiency inf: no machines) at a cash cost >= 0
    and a finite belief: each month's revenue is hashprice x 1000 / inf = 0, its margin 0 - cost
    <= 0, so ``pv_mining_margin_per_mw`` is 0 (or -0.0) in every row, and capex + it is capex.
    The reservation rate then needs no hashprice path (the per-firm rows of ``FirmPaths``)."""
    eff = c.efficiency_j_per_th
    if len(eff) and not np.isinf(eff[0]):  # machines on the first: not a set of new halls (one read)
        return False
    return bool(np.isinf(eff).all() and (c.cost_usd_per_mwh >= 0).all() and np.isfinite(c.expected_hashprice).all())


class DecisionRule:
    """Interface; see the module docstring."""

    name = "abstract"
    # whether the rule values candidates along the step's hashprice paths (``Candidates.paths``):
    # a rule that does not is handed none, and the step does not look its firms' paths up
    reads_paths = True

    def upgrade_score(self, c: Candidates, o: Outlook) -> np.ndarray:
        raise NotImplementedError

    def expansion_intensity(self, c: Candidates, o: Outlook) -> np.ndarray:
        raise NotImplementedError

    def conversion_score(self, c: Candidates, o: Outlook) -> np.ndarray:
        raise NotImplementedError


class NPVRule(DecisionRule):
    """Discounted cash flows over a horizon, at the firm's hurdle rate, under its expectations.

    Expected hashprice: the firm's smoothed belief, eroded by the network growth it extrapolates
    from the difficulty trend, lifted by the BTC forward premium, and cut at the next halving
    (``economics.hashprice_outlook``, ``economics.trend_decline_per_year``). Mining value keeps the option to
    curtail. A conversion gives up the mining value of the MW over the horizon and gains the
    lease's NOI from delivery for the whole term, times the expected occupancy.
    """

    name = "npv"

    def _paths(self, c: Candidates, o: Outlook):
        if c.paths is not None:  # made once this step for the owning firms (``FirmPaths``)
            return c.paths.hashprice.rows(c.paths.firm), c.paths.discount.rows(c.paths.firm)
        hp = econ.hashprice_outlook(
            c.expected_hashprice, o.horizon_months, c.expected_decline_per_year, o.months_to_halving, o.post_halving_ratio
        )
        return hp, econ.monthly_discount(c.hurdle_rate_per_year, o.horizon_months)

    def _first_month_and_paths(self, c: Candidates, o: Outlook):
        """Each candidate's expected hashprice in the first month, and a function giving the
        (hashprice, discount) paths of the candidates at positions ``idx``: the payback guards
        read only the first month, so the full paths are needed only where they let a candidate
        through (from the step's per-firm tables when the caller has them: the hashprice rows
        are looked up once, for the first month, and the rows of ``idx`` taken from there)."""
        if c.paths is None:
            hp, disc = self._paths(c, o)
            return hp[:, 0], lambda idx: (hp[idx], disc[idx])
        paths = c.paths
        at = paths.hashprice._slots(paths.firm)
        table = paths.hashprice.table
        return table[at, 0], lambda idx: (table[at[idx]], paths.discount.rows(paths.firm[idx]))

    def upgrade_score(self, c, o):
        """NPV of replacing each cohort by frontier machines, less their capex, where the payback
        guard (at the first month's hashprice) lets it through; ``TOO_SLOW_SCORE`` elsewhere.
        The frontier and its capex are one number for all candidates (the same floats as an
        array of them, element by element)."""
        frontier = o.frontier_j_per_th
        capex = econ.machine_capex_usd_per_mw(o.machine_price_usd_per_th, frontier)
        first_month, paths_of = self._first_month_and_paths(c, o)
        first_month_gain = first_month * econ.PH_PER_EH * econ.DAYS_PER_MONTH * (1 / frontier - 1 / c.efficiency_j_per_th)
        quick = econ.payback_months(capex, first_month_gain) <= o.max_payback_months
        score = fastnp.full(len(c), TOO_SLOW_SCORE)
        go = quick.nonzero()[0]  # the discounted gain only where the payback guard lets it through
        if len(go):
            hp, disc = paths_of(go)
            cost = c.cost_usd_per_mwh[go]
            gain = self._frontier_value(None if c.site is None else c.site[go], cost, hp, frontier, disc) \
                - econ.pv_mining_margin_per_mw(hp, c.efficiency_j_per_th[go], cost, disc)
            score[go] = gain - capex
        return score

    @staticmethod
    def _frontier_value(site, cost, hp, frontier: float, disc) -> np.ndarray:
        """PV of a MW of frontier machines per candidate (``site``, ``cost``: theirs, or None):
        once per site when consecutive candidates are cohorts of one site, the same numbers row
        by row. The frontier goes in as a one-element array (it broadcasts over the rows: the
        same product in every element)."""
        one = fastnp.full(1, frontier)
        if site is None or len(site) < 2:
            return econ.pv_mining_margin_per_mw(hp, one, cost, disc)
        first = np.concatenate(([True], site[1:] != site[:-1])).nonzero()[0]
        if len(first) == len(site):
            return econ.pv_mining_margin_per_mw(hp, one, cost, disc)
        per_site = econ.pv_mining_margin_per_mw(hp[first], one, cost[first], disc[first])
        ends = np.empty_like(first)  # where each site's run of cohorts ends
        ends[:-1] = first[1:]
        ends[-1] = len(site)
        return per_site.repeat(ends - first)

    def expansion_intensity(self, c, o):
        """How much of the allowed growth to order: the NPV of a new MW of frontier machines over
        its capex, less 1, in [0, 1], where the payback guard lets it through (0 elsewhere)."""
        frontier = o.frontier_j_per_th
        capex = o.site_build_capex_usd_per_mw + econ.machine_capex_usd_per_mw(o.machine_price_usd_per_th, frontier)
        first_month, paths_of = self._first_month_and_paths(c, o)
        margin_now = np.maximum(
            econ.revenue_usd_per_mw_day(first_month, frontier) - c.cost_usd_per_mwh * econ.HOURS_PER_DAY, 0.0
        ) * econ.DAYS_PER_MONTH
        quick = econ.payback_months(capex, margin_now) <= o.max_payback_months
        intensity = np.zeros(len(c))
        go = quick.nonzero()[0]  # the discounted value only where the payback guard lets it through
        if len(go):
            hp, disc = paths_of(go)
            value = econ.pv_mining_margin_per_mw(hp, fastnp.full(1, frontier), c.cost_usd_per_mwh[go], disc)
            intensity[go] = fastnp.clip(value / capex - 1.0, 0.0, 1.0)
        return intensity

    def conversion_reservation_rate(self, c, o):
        """Lowest lease rate ($/kW-month of IT) at which hosting beats mining on this site.

        The lease's NOI, discounted at the project's rate (``c.hurdle_rate_per_year``: the
        caller's financing rate incl. tenant default risk) from first delivery for the term,
        must repay the host's capex per IT MW (``c.conversion_capex_usd_per_mw``) plus the
        mining margin the PUE gross MW give up over the horizon (0 on a new hall: efficiency
        inf). Linear in the rate, so r = cost / PV of $1/kW-month.
        """
        per_rate = econ.lease_pv_per_gross_mw(1.0, 1.0, o.ai_margin, o.ai_term_years, o.ai_escalator_per_year,
                                              c.hurdle_rate_per_year, o.conversion_lead_months)
        if _gives_up_no_mining(c):  # new halls: no path to value (the same numbers: capex + 0)
            return (c.conversion_capex_usd_per_mw + 0.0) / per_rate
        hp, disc = self._paths(c, o)
        forgone = econ.pv_mining_margin_per_mw(hp, c.efficiency_j_per_th, c.cost_usd_per_mwh, disc) * o.ai_pue
        return (c.conversion_capex_usd_per_mw + forgone) / per_rate

    def conversion_score(self, c, o):
        """> 0 when the market's lease rate beats the site's reservation rate."""
        return o.lease_rate_usd_per_kw_month - self.conversion_reservation_rate(c, o)


class MyopicRule(DecisionRule):
    """Today's numbers only: current hashprice and lease rate, simple payback, no discounting.

    This is how many small operators decide: a machine is bought if it pays back within
    ``max_payback_months`` at today's hashprice; a conversion is made if the extra monthly
    income over today's mining margin repays the capex within ``myopic_max_payback_years``.
    """

    name = "myopic"
    reads_paths = False  # today's numbers only

    def _margin_month(self, hashprice, eff, cost):
        return (econ.revenue_usd_per_mw_day(hashprice, eff) - cost * econ.HOURS_PER_DAY) * econ.DAYS_PER_MONTH

    def upgrade_score(self, c, o):
        new = self._margin_month(o.hashprice_now, o.frontier_j_per_th, c.cost_usd_per_mwh)
        old = np.maximum(self._margin_month(o.hashprice_now, c.efficiency_j_per_th, c.cost_usd_per_mwh), 0.0)
        capex = econ.machine_capex_usd_per_mw(o.machine_price_usd_per_th, o.frontier_j_per_th)
        pb = econ.payback_months(capex, new - old)
        return o.max_payback_months - pb

    def expansion_intensity(self, c, o):
        margin = self._margin_month(o.hashprice_now, o.frontier_j_per_th, c.cost_usd_per_mwh)
        capex = o.site_build_capex_usd_per_mw + econ.machine_capex_usd_per_mw(
            o.machine_price_usd_per_th, o.frontier_j_per_th
        )
        pb = econ.payback_months(capex, margin)
        return fastnp.clip(1.0 - pb / o.max_payback_months, 0.0, 1.0)

    def conversion_reservation_rate(self, c, o):
        """The rate whose NOI, less today's mining margin on the PUE gross MW given up, repays
        the host's capex per IT MW within ``myopic_max_payback_months`` (no discounting)."""
        mining = np.maximum(self._margin_month(o.hashprice_now, c.efficiency_j_per_th, c.cost_usd_per_mwh), 0.0)
        needed = c.conversion_capex_usd_per_mw / o.myopic_max_payback_months + mining * o.ai_pue
        return needed / (econ.KW_PER_MW * o.ai_margin)

    def conversion_score(self, c, o):
        return o.lease_rate_usd_per_kw_month - self.conversion_reservation_rate(c, o)


RULES: dict[str, type[DecisionRule]] = {"npv": NPVRule, "myopic": MyopicRule}
