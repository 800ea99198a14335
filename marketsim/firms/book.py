"""State of all sites, firms and AI leases as column arrays.

Why arrays and not attributes on each agent: the hot path (operate, pay, collect) touches every
site every step; doing it with numpy over all sites keeps 1,000 firms x 120 months well under a
second, while each `MiningFirm` agent keeps its identity, decision rule and history and reads
its own slice through properties (see ``agent.py``). A site's MW is always in exactly one state:

    capacity = mining + idle + converting + converted + shutdown
    converted = AI-leased (delivered) + AI-empty

(``converted`` is split into leased and empty by the lease book; MW under construction for an
expansion is not capacity until energised and is tracked in ``build_pipeline``.)
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from marketsim import fastnp
from marketsim.firms import vintages
from marketsim.units import KW_PER_MW

FLOAT = np.float64


def without_residue(mw, tolerance_mw: float = 1e-6):
    """A difference of two MW sums of the books, with float residue (-1e-13 MW) shown as the 0 it is
    (the industry outcomes and the per-firm records both show such differences)."""
    return np.where(np.abs(mw) < tolerance_mw, 0.0, mw) if isinstance(mw, np.ndarray) else (
        0.0 if abs(mw) < tolerance_mw else mw)


class Pipeline:
    """Quantities that arrive a whole number of steps from now, per row (a ring buffer).

    Used for MW being built, MW being converted and capex payments falling due: adding is
    O(1), and popping the current step's arrivals for all rows is one vector read.
    """

    # rows kept in reserve when rows are appended (entrants join a few at a time, most steps):
    # ``buffer`` is then the first rows of a larger zeroed block, not a fresh copy each time
    SPARE_ROWS_SHARE = 0.25

    def __init__(self, n_rows: int, horizon: int):
        self.horizon = max(int(horizon), 1) + 1
        self.buffer = np.zeros((n_rows, self.horizon), dtype=FLOAT)
        self.cursor = 0
        self._block: np.ndarray | None = None  # the block ``buffer`` is the first rows of, if any

    def add(self, row: int, amount: float, delay_steps: int) -> None:
        """Schedule ``amount`` for one row, arriving ``delay_steps`` steps from now (>= 1)."""
        delay = min(max(int(delay_steps), 1), self.horizon - 1)
        self.buffer[row, (self.cursor + delay) % self.horizon] += amount

    def add_spread(self, row: int, amount: float, over_steps: int) -> None:
        """Schedule ``amount`` for one row in equal parts over the next ``over_steps`` steps."""
        n = min(max(int(over_steps), 1), self.horizon - 1)
        cols = (self.cursor + np.arange(1, n + 1)) % self.horizon
        self.buffer[row, cols] += amount / n

    def add_rows(self, rows: np.ndarray, amounts: np.ndarray, delay_steps: int) -> None:
        """Vector form of ``add`` for many rows at once (rows may repeat)."""
        delay = min(max(int(delay_steps), 1), self.horizon - 1)
        np.add.at(self.buffer, (rows, (self.cursor + delay) % self.horizon), amounts)

    def add_rows_each(self, rows: np.ndarray, amounts: np.ndarray, delay_steps: np.ndarray) -> None:
        """``add_rows`` with one delay per row, in one pass: the same as calling ``add_rows`` row
        group by row group in the order given (``np.add.at`` adds in index order)."""
        delay = np.clip(np.asarray(delay_steps, dtype=np.int64), 1, self.horizon - 1)
        np.add.at(self.buffer, (rows, (self.cursor + delay) % self.horizon), amounts)

    def add_spread_rows(self, rows: np.ndarray, amounts: np.ndarray, over_steps: int) -> None:
        """Vector form of ``add_spread`` for many rows at once (rows may repeat)."""
        n = min(max(int(over_steps), 1), self.horizon - 1)
        cols = (self.cursor + np.arange(1, n + 1)) % self.horizon
        # ``np.tile(cols, len(rows))`` as one C repeat of the row of columns
        np.add.at(self.buffer, (np.asarray(rows).repeat(n), cols[None, :].repeat(len(rows), axis=0).ravel()),
                  (np.asarray(amounts) / n).repeat(n))

    def pop(self) -> np.ndarray:
        """Advance one step and return what arrives now (and clear it)."""
        self.cursor = (self.cursor + 1) % self.horizon
        due = self.buffer[:, self.cursor].copy()
        self.buffer[:, self.cursor] = 0.0
        return due

    def pending(self) -> np.ndarray:
        """Total still to arrive per row (``buffer.sum(axis=1)``: the same reduction, called
        without ``ndarray.sum``'s Python layer)."""
        return np.add.reduce(self.buffer, axis=1)

    def append_rows(self, k: int) -> None:
        """Room for ``k`` new rows (new firms or sites), nothing scheduled for them yet. The rows
        come from a reserve block when there is one (never written: still zero); otherwise a new
        block with ``SPARE_ROWS_SHARE`` more rows than needed takes the rows kept so far."""
        n, k = len(self.buffer), int(k)
        block = self._block
        if block is None or self.buffer.base is not block or len(block) < n + k:
            block = np.zeros((n + k + int(self.SPARE_ROWS_SHARE * (n + k)) + 1, self.horizon), dtype=FLOAT)
            block[:n] = self.buffer
            self._block = block
        self.buffer = block[:n + k]



@dataclass
class SiteBook:
    """One row per site; ``owner`` is the index of the owning firm in the FirmBook."""

    owner: np.ndarray
    capacity_mw: np.ndarray
    suitable_mw: np.ndarray  # AI-suitable part of capacity (power quality, land, fibre, water)
    power_base_usd_per_mwh: np.ndarray
    power_take_or_pay_share: np.ndarray  # power paid whether mined or not (hosting, fixed-volume PPAs)
    efficiency_j_per_th: np.ndarray  # fleet average of the machine-carrying MW
    mw_mining: np.ndarray
    mw_idle: np.ndarray
    mw_converting: np.ndarray
    mw_converted: np.ndarray
    mw_shutdown: np.ndarray
    idle_steps: np.ndarray  # consecutive steps the fleet has not paid its avoidable fixed cost
    upgrade_due_step: np.ndarray  # -1: no upgrade on order
    upgrade_efficiency: np.ndarray
    upgrade_mw: np.ndarray  # MW of the worst cohorts the upgrade on order replaces
    # machine vintages (``vintages.py``): one row per site, one column per cohort slot; MW in
    # cohorts = mining + idle MW; ``efficiency_j_per_th`` is their MW-weighted harmonic mean
    # (kept in sync by ``operations``); a cohort's age is vintage state that no decision reads yet
    # (the build-out issue's vintages: no site-level average is kept for it)
    cohort_mw: np.ndarray
    cohort_efficiency_j_per_th: np.ndarray
    cohort_age_years: np.ndarray
    build_pipeline: Pipeline
    build_efficiency: np.ndarray  # efficiency of the machines ordered with the MW being built
    conversion_pipeline: Pipeline
    # AI suitability (issue 13): grid interconnect incl. approved unbuilt power (MW), land, and a
    # tenant's price multiplier for the location (latency, fibre, climate); ``suitable_mw`` follows
    interconnect_mw: np.ndarray = None
    land_acres: np.ndarray = None
    location_quality: np.ndarray = None
    # what the step's phases leave on a site and the exits change (zero when a site is shut):
    hashrate_ehs: np.ndarray = None  # EH/s mined in the last step (``operations.mine_and_earn``)
    mw_ai_leased: np.ndarray = None  # gross MW of delivered, rent-paying AI leases (``hosting.host_ai``)
    mw_cancelled: np.ndarray = None  # MW ordered here and never built because the owner left (cumulative)

    @classmethod
    def create(
        cls,
        owner,
        capacity_mw,
        suitable_mw,
        power_base_usd_per_mwh,
        efficiency_j_per_th,
        machine_age_years,
        pipeline_horizon: int,
        interconnect_mw=None,
        land_acres=None,
        location_quality=None,
        power_take_or_pay_share=None,
    ) -> SiteBook:
        n = len(owner)
        cap = np.asarray(capacity_mw, dtype=FLOAT)
        grid = cap.copy() if interconnect_mw is None else np.maximum(np.asarray(interconnect_mw, dtype=FLOAT), cap)
        return cls(
            owner=np.asarray(owner, dtype=np.int64),
            capacity_mw=cap.copy(),
            suitable_mw=np.minimum(np.asarray(suitable_mw, dtype=FLOAT), grid),
            power_base_usd_per_mwh=np.asarray(power_base_usd_per_mwh, dtype=FLOAT),
            power_take_or_pay_share=np.zeros(n) if power_take_or_pay_share is None
            else np.asarray(power_take_or_pay_share, dtype=FLOAT).copy(),
            efficiency_j_per_th=np.asarray(efficiency_j_per_th, dtype=FLOAT),
            mw_mining=cap.copy(),
            mw_idle=np.zeros(n),
            mw_converting=np.zeros(n),
            mw_converted=np.zeros(n),
            mw_shutdown=np.zeros(n),
            idle_steps=np.zeros(n, dtype=np.int64),
            upgrade_due_step=np.full(n, -1, dtype=np.int64),
            upgrade_efficiency=np.zeros(n),
            upgrade_mw=np.zeros(n),
            **dict(zip(("cohort_mw", "cohort_efficiency_j_per_th", "cohort_age_years"),
                       vintages.initial_cohorts(cap, np.asarray(efficiency_j_per_th, dtype=FLOAT),
                                                np.asarray(machine_age_years, dtype=FLOAT)))),
            build_pipeline=Pipeline(n, pipeline_horizon),
            build_efficiency=np.asarray(efficiency_j_per_th, dtype=FLOAT).copy(),
            conversion_pipeline=Pipeline(n, pipeline_horizon),
            interconnect_mw=grid,
            land_acres=np.full(n, np.inf) if land_acres is None else np.asarray(land_acres, dtype=FLOAT),
            location_quality=np.ones(n) if location_quality is None else np.asarray(location_quality, dtype=FLOAT),
            hashrate_ehs=np.zeros(n), mw_ai_leased=np.zeros(n), mw_cancelled=np.zeros(n),
        )

    def __len__(self) -> int:
        return len(self.owner)

    def append(self, new: SiteBook) -> np.ndarray:
        """Add the rows of ``new`` (made with ``SiteBook.create``) after this book's; its pipelines
        must be empty (orders are scheduled after). Returns the new rows' indices."""
        start, k = len(self), len(new)
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(new, f.name)
            if isinstance(mine, Pipeline):
                mine.append_rows(k)
            else:
                setattr(self, f.name, np.concatenate([mine, theirs]))
        return np.arange(start, start + k)

    @property
    def mw_machines(self) -> np.ndarray:
        """MW that carry mining machines (mining or curtailed)."""
        return self.mw_mining + self.mw_idle

    @property
    def suitable_remaining_mw(self) -> np.ndarray:
        """AI-suitable MW still carrying machines (candidates for conversion)."""
        used = self.mw_converting + self.mw_converted
        return np.clip(np.minimum(self.suitable_mw - used, self.mw_machines), 0.0, None)

    def suitable_remaining_at(self, site: int) -> float:
        """The same for one site, without building the whole array (used in order loops)."""
        used = self.mw_converting[site] + self.mw_converted[site]
        return max(0.0, min(self.suitable_mw[site] - used, self.mw_mining[site] + self.mw_idle[site]))

    def state_total(self) -> np.ndarray:
        return self.mw_mining + self.mw_idle + self.mw_converting + self.mw_converted + self.mw_shutdown

    @property
    def live_mw(self) -> np.ndarray:
        """Per site: MW not shut down (capacity in every other state)."""
        return self.capacity_mw - self.mw_shutdown

    def sync_fleet(self) -> None:
        """The fleet average from the cohorts (MW-weighted harmonic J/TH), after cohorts changed."""
        self.efficiency_j_per_th = vintages.fleet_efficiency(self.cohort_mw, self.cohort_efficiency_j_per_th,
                                                             self.efficiency_j_per_th)

    def mw_by_firm(self, n_firms: int) -> np.ndarray:
        """Per firm: live MW of the sites it owns."""
        return np.bincount(self.owner, weights=self.live_mw, minlength=n_firms)

    def primary_site(self, n_firms: int, firm_ids: np.ndarray | None = None) -> np.ndarray:
        """Each firm's largest live site (-1 if none): where expansions are built. Ties go to the
        lower site index. ``firm_ids``: the firms asked for (default: all ``n_firms``, one per firm).

        Without a sort: the largest live MW per owner (``np.maximum.at``), then the lowest site
        index among the sites that reach it (``np.minimum.at``)."""
        live = self.live_mw
        owner = self.owner
        n_sites = len(live)
        largest = fastnp.full(n_firms, -np.inf)
        np.maximum.at(largest, owner, live)
        at_max = (live == largest[owner]).nonzero()[0]
        first = fastnp.full(n_firms, n_sites, dtype=np.int64)
        np.minimum.at(first, owner[at_max], at_max)
        best = fastnp.full(n_firms, -1, dtype=np.int64)
        has = first < n_sites
        best[has] = np.where(live[first[has]] > 0, first[has], -1)
        return best if firm_ids is None else best[firm_ids]


@dataclass
class FirmBook:
    """One row per firm ever created; ``active`` is False once it has left."""

    name: list[str]
    is_public: np.ndarray
    rule: np.ndarray  # index into the model's decision-rule list
    cash_usd: np.ndarray
    debt_usd: np.ndarray
    debt_rate_per_year: np.ndarray
    debt_maturity_step: np.ndarray
    btc_held: np.ndarray
    btc_sell_share: np.ndarray
    hurdle_rate_per_year: np.ndarray
    conversion_capex_usd_per_mw: np.ndarray
    expected_hashprice: np.ndarray  # each firm's smoothed belief, USD/PH/day
    hashprice_trend_weight: np.ndarray  # how much of the network's growth trend the firm extrapolates
    active: np.ndarray
    payments: Pipeline  # capex instalments falling due
    new_debt_rate: float = 0.10  # what lenders charge on new money (scenario: new_debt_rate_per_year)
    debt_ceiling_usd: np.ndarray | None = None  # loan-to-value limit at the last valuation (finance.borrow)
    ledger: dict[str, np.ndarray] = field(default_factory=dict)

    LEDGER_ITEMS = (
        "revenue_mining_usd",
        "revenue_ai_usd",
        "power_usd",
        "opex_usd",
        "ai_opex_usd",
        "interest_usd",
        "capex_usd",
        "btc_retained_usd",
        "btc_sold_usd",
        "debt_drawn_usd",
        "debt_repaid_usd",
        "btc_mined",
        "acquisitions_usd",  # paid for sites or firms bought
        "acquired_cash_usd",  # cash that came with a firm taken over
        "equity_raised_usd",  # new shares sold to fund capex
        # a leaving firm's estate (consolidation.close_books): sites sold, bills left unpaid,
        # what remained for its shareholders
        "asset_sales_usd",
        "bills_written_off_usd",
        "equity_paid_out_usd",
    )
    # capex_usd is net of used machines sold (``vintages``): a seller's sale is negative capex

    def __len__(self) -> int:
        return len(self.name)

    def append(self, **columns) -> np.ndarray:
        """Add ``k`` firms: one array of length k per array field (all of them but ``payments``,
        ``debt_ceiling_usd`` and ``ledger``, which get zero rows). Returns their indices."""
        start, k = len(self), len(columns["name"])
        for f in fields(self):
            if f.name in ("payments", "new_debt_rate", "ledger", "debt_ceiling_usd"):
                continue
            if f.name not in columns:
                raise ValueError(f"FirmBook.append: missing column {f.name!r}")
            mine = getattr(self, f.name)
            if isinstance(mine, list):
                mine.extend(columns[f.name])
            else:
                setattr(self, f.name, np.concatenate([mine, np.asarray(columns[f.name], dtype=mine.dtype)]))
        self.payments.append_rows(k)
        if self.debt_ceiling_usd is not None:
            self.debt_ceiling_usd = np.concatenate([self.debt_ceiling_usd, np.zeros(k)])
        if self.ledger:  # the items as rows of one block, k zero columns added (one copy, not one per item)
            block = np.zeros((len(self.ledger), start + k))
            block[:, :start] = list(self.ledger.values())
            self.ledger = dict(zip(self.ledger, block))
        return np.arange(start, start + k)

    def reset_ledger(self) -> None:
        """Every ledger item at zero for each firm: the rows of one zeroed block (each row its own
        item's array, written and replaced like a separate one), not one allocation per item."""
        self.ledger = dict(zip(self.LEDGER_ITEMS, np.zeros((len(self.LEDGER_ITEMS), len(self)))))

    @property
    def operating_cost_usd(self) -> np.ndarray:
        led = self.ledger
        return led["power_usd"] + led["opex_usd"] + led["ai_opex_usd"] + led["interest_usd"]

    @property
    def profit_usd(self) -> np.ndarray:
        """Operating profit of the step: revenue less power, opex and interest (capex excluded)."""
        return self.ledger["revenue_mining_usd"] + self.ledger["revenue_ai_usd"] - self.operating_cost_usd


@dataclass
class LeaseBook:
    """Signed AI leases: one row each. Rates are locked at signing and escalate yearly.

    A lease keeps paying its signed rate (times the escalator) until it expires, its tenant
    defaults or a bust cancels it; at expiry the tenant may exercise a renewal option at the
    escalated rate it is paying then.
    """

    COLUMNS = ("site", "mw_it", "rate_usd_per_kw_month", "signed_step", "expiry_step", "own_gpu")

    site: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    mw_it: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rate_usd_per_kw_month: np.ndarray = field(default_factory=lambda: np.zeros(0))
    signed_step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    expiry_step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    own_gpu: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # the host runs its own GPU cloud

    def __len__(self) -> int:
        return len(self.site)

    def sign(self, sites: np.ndarray, mw_it: np.ndarray, rate, step: int, term_steps: int, own_gpu: bool = False) -> None:
        """New leases, one per site; ``rate`` is one rate or one per site. ``own_gpu`` rows are the
        host's own GPU cloud (no tenant; ``rate`` is its net revenue as a rent equivalent)."""
        sites, mw_it = np.asarray(sites, dtype=np.int64), np.asarray(mw_it, dtype=FLOAT)
        rates = np.broadcast_to(np.asarray(rate, dtype=FLOAT), mw_it.shape)
        keep = mw_it > 0
        n = int(keep.sum())
        if n == 0:
            return
        self.site = np.concatenate([self.site, sites[keep]])
        self.mw_it = np.concatenate([self.mw_it, mw_it[keep]])
        self.rate_usd_per_kw_month = np.concatenate([self.rate_usd_per_kw_month, rates[keep]])
        self.signed_step = np.concatenate([self.signed_step, np.full(n, step, dtype=np.int64)])
        self.expiry_step = np.concatenate([self.expiry_step, np.full(n, step + term_steps, dtype=np.int64)])
        self.own_gpu = np.concatenate([self.own_gpu, np.full(n, own_gpu, dtype=bool)])

    def _drop(self, gone: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Remove the rows where ``gone``; return their (sites, MW IT)."""
        out = self.site[gone].copy(), self.mw_it[gone].copy()
        if gone.any():
            keep = ~gone
            for name in self.COLUMNS:
                setattr(self, name, getattr(self, name)[keep])
        return out

    def expire(self, step: int, renews: np.ndarray | None = None, renewal_steps: int = 0,
               steps_per_year: float = 12.0, escalator_per_year: float = 0.0) -> np.ndarray:
        """End leases whose term is over; those with ``renews`` (one bool per lease row) run on
        for ``renewal_steps`` at the rate they pay now. Returns (2, k): sites and MW IT freed."""
        ended = self.expiry_step <= step
        if renews is not None and renewal_steps > 0:
            again = ended & np.asarray(renews, bool)
            if again.any():
                self.rate_usd_per_kw_month[again] = self.current_rates(step, steps_per_year, escalator_per_year)[again]
                self.signed_step[again] = step
                self.expiry_step[again] = step + renewal_steps
                ended = ended & ~again
        sites, mw = self._drop(ended)
        return np.stack([sites.astype(FLOAT), mw]) if len(mw) else np.zeros((2, 0))

    def default(self, defaulted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Tenants of the rows where ``defaulted`` stop paying: the leases go, the halls empty."""
        return self._drop(np.asarray(defaulted, bool))

    def cancel_share(self, share: float) -> tuple[np.ndarray, np.ndarray]:
        """Tenants fail on ``share`` of every lease's MW (pro rata); returns (sites, MW IT lost)."""
        lost = self.mw_it * share
        self.mw_it = self.mw_it - lost
        return self.site.copy(), lost

    def contracted_it_by_site(self, n_sites: int) -> np.ndarray:
        return np.bincount(self.site, weights=self.mw_it, minlength=n_sites)

    def current_rates(self, step: int, steps_per_year: float, escalator_per_year: float) -> np.ndarray:
        """Signed rate x (1 + escalator)^whole years since signing (own GPU clouds do not escalate)."""
        years = np.where(self.own_gpu, 0.0, (step - self.signed_step) / steps_per_year)
        return self.rate_usd_per_kw_month * (1.0 + escalator_per_year) ** np.floor(years)

    def monthly_rent_by_site(
        self, n_sites: int, step: int, steps_per_year: float, escalator_per_year: float
    ) -> np.ndarray:
        """USD per month each site's tenants owe at full delivery (rate x kW)."""
        rent = self.current_rates(step, steps_per_year, escalator_per_year) * self.mw_it * KW_PER_MW
        return np.bincount(self.site, weights=rent, minlength=n_sites)
