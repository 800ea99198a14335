"""What one step's phases hand each other: typed, frozen records instead of model attributes.

The step (``IndustryModel.step``) runs the phases of MODEL.md in order. Each phase that learns
something the later ones need returns it as one of these records, and the next phase takes it as
an argument, so a phase's inputs and outputs stand in its signature and a phase can be called
and tested alone with a hand-made record:

  observe  -> `Observation`  what the market shows before anyone acts (prices, calendar)
  believe  -> `Beliefs`      what the firms expect from it (hashprice trend)
  operate  -> `Operation`    what mining did (network hashrate, the market-clearing hashprice)
  count    -> `Tally`        hashrate under each owner after the step's deals, running totals

The records are frozen (a phase cannot rewrite what an earlier one saw); their per-site and
per-firm arrays grow only when entrants join mid-step (`Observation.with_new_sites`). Plain
numpy and dataclasses: importing this loads neither Mesa nor pandas.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np


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
        """``k`` entrants join mid-step expecting the median decline of the firms on the books."""
        decline = self.expected_decline_per_year
        return dataclasses.replace(
            self, expected_decline_per_year=np.concatenate((decline, np.full(k, float(np.median(decline))))))


@dataclass(frozen=True)
class Operation:
    """What the ``operate`` phase leaves behind: the network after this step's mining."""

    network_hashrate_ehs: float  # EH/s online after curtailment (the chain's input this step)
    asic_shipped_ehs: float  # EH/s of new machines the makers shipped (within their capacity)


@dataclass(frozen=True)
class Tally:
    """Phase ``count``: hashrate by owner after the step's deals and exits."""

    firm_hashrate_ehs: np.ndarray  # per firm, EH/s of the sites it owns now
    bankruptcies: int  # this step's, added to the model's running totals
    acquisitions: int
    exits: int
