"""What one step's phases hand each other: typed, frozen records instead of model attributes.

The step (``IndustryModel.step``) runs the phases of MODEL.md in order. Each phase that learns
something the later ones need returns it as one of these records, and the next phase takes it as
an argument, so a phase's inputs and outputs stand in its signature and a phase can be called
and tested alone with a hand-made record:

  observe  -> `Observation`  what the market shows before anyone acts (prices, calendar)
  believe  -> `Beliefs`      what the firms expect from it (hashprice trend)
  operate  -> `Operation`    what mining did (network hashrate, the hashprice at the fixed point,
                             the chain's outcome, each firm's hashrate as mined, the used-machine sale)
  host AI  -> `Hosting`      leases delivered and lost (the per-site delivered MW is a book column)
  pay      -> `Payments`     who is still short of cash after credit and BTC (``consolidation``'s input)
  decide   -> `Decisions`    the equity rule's room and the lease market's `LeaseMarket`
  retire   -> `UsedSale`     machines displaced after the exits, sold or scrapped
  enter    -> `Entry`        the new firms, and the step's records with their rows
  count    -> `Tally`        hashrate under each owner after the step's deals, running totals

Only ``IndustryModel`` (model.py) keeps them (``model.seen``, ``model.operation``, ...): the
phases read the records they are handed, not the model's copy (``consolidation`` and
``valuation`` still do, through the model's properties and ``finance``'s default). What persists across steps
and several phases change (a site's delivered AI MW, its hashrate, MW cancelled) is a column of
the books (``firms/book.py``), not a record.

The records are frozen (a phase cannot rewrite what an earlier one saw); their per-site and
per-firm arrays grow only when entrants join mid-step (`Observation.with_new_sites`). Plain
numpy and dataclasses: importing this loads neither Mesa nor pandas.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from marketsim import fastnp


@dataclass(frozen=True)
class Observation:
    """What the market shows at the start of a step, before any firm acts (phase ``observe``)."""

    step: int  # steps completed before this one (0 during the first step)
    days: float  # calendar days the step spans (calendar months, weeks or days)
    months_in_step: float  # ``days`` in mean months (units.DAYS_PER_MONTH): scales monthly flows
    years_in_step: float  # ``days`` in mean years (units.DAYS_PER_YEAR): scales annual rates
    site_power_usd_per_mwh: np.ndarray  # per site: this step's power price (base x the market's index)
    hashprice_observed: float  # USD per PH/s per day at the current difficulty, before the step's blocks
    machine_price_usd_per_th: float  # new-machine price at the frontier, given the makers' backlog
    ai_demand_mw: float  # AI/HPC IT demand the market shows this step

    def with_new_sites(self, power_usd_per_mwh: np.ndarray) -> Observation:
        """The same observation with the power prices of sites appended mid-step (entrants)."""
        return dataclasses.replace(
            self, site_power_usd_per_mwh=np.concatenate((self.site_power_usd_per_mwh, power_usd_per_mwh)))


@dataclass(frozen=True)
class Beliefs:
    """What the firms conclude from an `Observation` (phase ``believe``). Each firm's smoothed
    hashprice belief itself is a column of the firm book (``FirmBook.expected_hashprice``)."""

    network_trend_per_year: float  # trailing log growth of network hashrate, per year
    expected_decline_per_year: np.ndarray  # per firm: the hashprice decline it extrapolates

    def with_new_firms(self, k: int) -> Beliefs:
        """``k`` entrants join mid-step expecting the median decline of the firms on the books
        (``fastnp.median``: ``np.median``'s float, ~40 us a call less)."""
        decline = self.expected_decline_per_year
        return dataclasses.replace(
            self, expected_decline_per_year=np.concatenate((decline, np.full(k, fastnp.median(decline)))))


@dataclass(frozen=True)
class UsedSale:
    """What the second-hand machine market did in one sale (``used_market.resell_used_machines``)."""

    # USD per TH/s each efficiency tier cleared at in this sale (tiers that sold nothing absent)
    tier_price_usd_per_th: dict[str, float] = field(default_factory=dict)
    # lots bought by operators who build new MW for them (``entry.offer_to_migrants``): per
    # batch, (J/TH, MW, power USD/MWh, price USD/MW) arrays; they enter at this step's entry
    migrant_lots: tuple[tuple[np.ndarray, ...], ...] = ()


@dataclass(frozen=True)
class Curtailment:
    """What ``operations.curtail_or_mine`` decides: who mines, at which hashprice, at what cost."""

    hashprice_consistent: float  # USD/PH/day at the step's fixed point (NaN: nothing can mine)
    site_mining_ehs: np.ndarray  # per site, EH/s mined before outages
    site_power_cost_mw: np.ndarray  # per site, MW-equivalents of power paid (cohorts' cost shares x MW)


@dataclass(frozen=True)
class Operation:
    """What the ``operate`` phase leaves behind: the network after this step's mining."""

    network_hashrate_ehs: float  # EH/s online after curtailment (the chain's input this step)
    asic_shipped_ehs: float  # EH/s of new machines the makers shipped (within their capacity)
    hashprice_consistent: float = float("nan")  # USD/PH/day at the fixed point (``Curtailment``)
    chain: Any = None  # the chain's ``ChainOutcome`` of the step (``Market.settle_chain``)
    firm_hashrate_ehs: np.ndarray | None = None  # per firm, EH/s as mined (before the step's deals)
    used: UsedSale = UsedSale()  # the sale of the machines the deliveries displaced


@dataclass(frozen=True)
class Hosting:
    """Phase ``host AI`` (``hosting.host_ai``): the lease book after expiries, defaults and rent."""

    contracted_it_mw: float  # IT MW under signed leases (delivered or not)
    tenant_defaults_it_mw: float  # IT MW whose tenants defaulted or failed in the step


@dataclass(frozen=True)
class LeaseMarket:
    """The AI lease market of one step (``conversion.convert``), the industry table's AI columns."""

    signed_it_mw: float = 0.0
    offered_it_mw: float = 0.0  # all IT MW offered (``unfilled_offered_it_mw``: what no tenant took)
    clearing_rate_usd_per_kw_month: float = float("nan")
    signed_rate_min_usd_per_kw_month: float = float("nan")
    signed_rate_max_usd_per_kw_month: float = float("nan")
    gpu_cloud_started_it_mw: float = 0.0
    unmet_demand_it_mw: float = 0.0
    contracted_it_mw: float = 0.0  # IT MW under signed leases after the signings
    unfilled_offered_it_mw: float = 0.0  # offered and not signed: supply the next step's outlook counts
    new_hall_mw: float = 0.0  # gross MW of new halls started on unused interconnect (they add capacity)

    @property
    def supply_it_mw(self) -> float:
        """IT MW the AI demand forecast is shared among after this market: contracted plus unlet offers."""
        return self.contracted_it_mw + self.unfilled_offered_it_mw


@dataclass(frozen=True)
class Payments:
    """Phase ``pay`` (``finance.pay``): the firms still short after credit and BTC."""

    insolvent: np.ndarray  # firm ids, ascending


@dataclass(frozen=True)
class Decisions:
    """Phase ``decide`` (``decisions.decide``)."""

    equity_room_usd: np.ndarray  # per firm: equity the q rule left unraised this step
    lease_market: LeaseMarket


@dataclass(frozen=True)
class Entry:
    """Phase ``enter`` (``entry.enter``): the firms that came in and the step's records with their rows."""

    firm_ids: np.ndarray
    seen: Observation
    beliefs: Beliefs


@dataclass(frozen=True)
class Tally:
    """Phase ``count``: hashrate by owner after the step's deals and exits."""

    firm_hashrate_ehs: np.ndarray  # per firm, EH/s of the sites it owns now
    bankruptcies: int  # this step's, added to the model's running totals
    acquisitions: int
    exits: int
