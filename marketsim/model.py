"""IndustryModel: the Bitcoin mining industry as a Mesa model. The step order, nothing else.

Each step (MODEL.md "Each step, each firm"), each phase handed the records it reads and
returning its own (``marketsim.step_state``):
  observe   the market moves (price, fees, power, ASIC frontier, AI demand)    -> Observation
  believe   firms update their hashprice beliefs from what they can see       -> Beliefs
  operate   orders land (no faster than the ASIC makers ship); sites mine or curtail; the chain
            advances with the network's hashrate; firms earn their share of the rewards and pay
            for power                                                         -> Operation
  host AI   leases end or renew, tenants default, delivered leases pay rent   -> Hosting
  pay       debt service, capex instalments, financing of shortfalls          -> Payments
  decide    reviewing firms upgrade, expand or convert, under their own decision rule; the AI
            lease market clears                                               -> Decisions
  exit      insolvent firms leave (``consolidation``)
  retire    machines displaced by conversions and exits are sold or scrapped  -> UsedSale
  enter     migrants and new operators whose site beats their hurdle come in  -> Entry
  count     hashrate under each owner after the deals, running totals         -> Tally
  record    industry outcomes, per-firm snapshots, events.

The phases change the books (``firms/book.py``: sites, firms, leases) and the event log; only
this module assigns the model's attributes: the step's records (``seen``, ``beliefs``,
``operation``, ``hosting``, ``payments``, ``decisions``, ``tally``) and the histories the
model owns (``hashrate_history``, ``ai_demand_history``: what the firms have seen, for their
trends). Readers (metrics, records, invariants, the agents, the dashboard) read those.

Parameters: pass a ``marketsim.Scenario``, a shipped scenario name, a
``mesa.experimental.scenarios.Scenario`` with the same field names, or plain keyword
arguments (as ``mesa.batch_run`` and ``SolaraViz`` do) — all are validated the same way.
"""

from __future__ import annotations

from typing import Any

import mesa
import numpy as np
from mesa.experimental.scenarios import Scenario as MesaScenario

from marketsim import consolidation, hugepages, invariants, metrics, valuation
from marketsim.firms import asic_orders, decisions, entry, finance, hosting, operations
from marketsim.firms import economics as econ
from marketsim.firms import orderbook
from marketsim.firms.agent import MiningFirm
from marketsim.firms.book import FirmBook, LeaseBook, Pipeline, SiteBook
from marketsim.firms.population import build_population
from marketsim.firms.rules import RULES
from marketsim.market.engine import Market
from marketsim.records import EventLog, FirmRecorder, OutcomeCollector
from marketsim.scenario import Scenario, load_scenario, load_scenario_dict
from marketsim.step_state import (Beliefs, Decisions, Hosting, LeaseMarket, Observation, Operation, Payments,
                                  Tally, UsedSale)
from marketsim.timeline import STEPS_PER_MONTH, step_boundaries
from marketsim.units import DAYS_PER_MONTH, DAYS_PER_YEAR, MONTHS_PER_YEAR

# a run allocates and frees multi-MB temporaries every step: numpy's huge-page advice costs it
# system time at large populations (``hugepages.numpy_advice_off``; a user's own setting is kept)
hugepages.numpy_advice_off()

PIPELINE_SLACK_STEPS = 2  # steps of room beyond the longest lead time, so a due date never wraps the ring
# The debt on the books at the start was drawn at different times before it, so what is left of
# its term is spread: uniform over this share of ``debt_maturity_years`` (a modelling assumption,
# stated in that field's description; nothing public gives the miners' maturity ladders).
INITIAL_DEBT_TERM_LEFT_SHARE = (0.25, 1.0)
# Firms flagged distressed in the calibration table (public_miners_2022.csv: in or near Chapter 11
# at 31 Dec 2022, e.g. Core Scientific's petition of 21 Dec 2022) face their lenders within months.
DISTRESSED_DEBT_DUE_MONTHS = 6
# capex instalments are booked up to a year beyond the build pipeline's horizon (a contract's
# payment schedule outlasts its delivery)
PAYMENT_HORIZON_EXTRA_MONTHS = 12


def resolve_scenario(scenario: Any, params: dict[str, Any]) -> Scenario:
    """One validated Scenario from whatever the caller passed (see the module docstring)."""
    if scenario is None:
        return load_scenario_dict(params) if params else Scenario()
    if isinstance(scenario, Scenario):
        return scenario.with_overrides(**params) if params else scenario
    if isinstance(scenario, str):
        return load_scenario(scenario, **params)
    if isinstance(scenario, MesaScenario):
        values = {k: v for k, v in scenario.to_dict().items() if k not in ("model", "_scenario_id", "rng")}
        return load_scenario_dict({**values, **params}, source="(mesa Scenario)")
    raise TypeError(f"scenario: expected a marketsim Scenario, a name or a mesa Scenario, got {type(scenario)!r}")


class IndustryModel(mesa.Model):
    # the smallest order (MW) a firm places: a modelling floor, not a market figure (below ~1 MW,
    # a few hundred machines, an order is not a board decision, and each costs a loop turn)
    MIN_ORDER_MW = 1.0

    def __init__(self, scenario: Any = None, *, rng=None, check: bool | None = None, **params: Any):
        """``check``: test the model's invariants after every step (``marketsim.invariants``);
        default on when the environment sets MARKETSIM_CHECK=1 (the test suite does)."""
        config = resolve_scenario(scenario, params)
        if rng is None and isinstance(scenario, MesaScenario):
            rng = scenario.rng
        super().__init__(scenario=MesaScenario(rng=rng, **config.to_dict()))
        self.config = config
        self.steps_per_month = STEPS_PER_MONTH[config.step_unit]
        self.steps_per_year = self.steps_per_month * MONTHS_PER_YEAR
        # the calendar's steps, as the market prices them (weeks and days of calendar months:
        # round(months x 30.44) days overran a 59-day January-February and its CSV prices)
        self.n_steps = len(step_boundaries(config.start_date, config.months, config.step_unit)) - 1
        # separate streams: the market's path does not depend on what the firms draw, so the
        # same seed gives the same BTC price in two scenarios that differ only in firm settings
        market_rng, self.firm_rng = self.rng.spawn(2)
        self.market = Market(config, market_rng)
        self.rules = [RULES[name]() for name in RULES]
        self._build_industry()
        self.events = EventLog(self)
        every = config.firm_record_every
        self.firm_records = FirmRecorder(len(self.firms) * (self.n_steps // every + 2) if every else 0)
        self.cumulative = {"bankruptcies": 0, "acquisitions": 0, "exits": 0}
        self.checker = invariants.Checker(self) if invariants.wanted(check) else None
        self.ai_demand_history: list[float] = []  # AI demand the market showed, one entry per step
        self.creditor_recoveries: list[dict] = []
        # pay's site valuation, left for decide right after it (``finance.asset_value_after_pay``)
        self.assets_after_pay: tuple | None = None
        self.valuation_cache = valuation.ValuationCache()  # per-step answers of the exits' many valuations
        self.seen: Observation | None = None  # this step's observation (None before the first step)
        self.used_machine_price_usd_per_th: dict[str, float] = {}  # last clearing price by efficiency tier
        self.outcome: dict[str, Any] = {}
        self.datacollector = OutcomeCollector(metrics.INDUSTRY_COLUMNS)  # a mesa.DataCollector, one pass a step
        # the industry before any step, in the industry table's columns (the table's rows are ends of steps)
        self.start: dict[str, Any] = metrics.start_outcome(self)

    # --- set-up ----------------------------------------------------------------------------
    def _build_industry(self) -> None:
        c = self.config
        pop = build_population(c, self.market.initial_network_hashrate_ehs(), list(RULES), self.firm_rng)
        n = len(pop.name)
        horizon = max(orderbook.pipeline_steps_needed(c, self.steps_per_month), round(max(
            c.site_build_lead_time_months,
            c.conversion_lead_time_months + c.ai_new_hall_extra_lead_months + c.ai_delivery_phase_months,
            c.machine_lead_time_months) * self.steps_per_month) + PIPELINE_SLACK_STEPS)
        self.sites = SiteBook.create(
            owner=np.arange(n), capacity_mw=pop.mw, suitable_mw=pop.suitable_mw(c),
            power_base_usd_per_mwh=pop.power_usd_per_mwh, efficiency_j_per_th=pop.efficiency_j_per_th,
            machine_age_years=pop.fleet_age_years, pipeline_horizon=horizon, interconnect_mw=pop.interconnect_mw,
            land_acres=pop.land_acres, location_quality=pop.location_quality,
            power_take_or_pay_share=pop.take_or_pay_share,
        )
        maturity = np.round(self.firm_rng.uniform(*INITIAL_DEBT_TERM_LEFT_SHARE, n) * c.debt_maturity_years
                            * self.steps_per_year)
        maturity = np.where(pop.distressed, np.minimum(maturity, DISTRESSED_DEBT_DUE_MONTHS * self.steps_per_month),
                            maturity)
        self.firms = FirmBook(
            name=pop.name, is_public=pop.is_public, rule=pop.rule, cash_usd=pop.cash_usd.copy(),
            debt_usd=pop.debt_usd.copy(), debt_rate_per_year=pop.debt_rate_per_year.copy(),
            debt_maturity_step=maturity.astype(np.int64), btc_held=pop.btc_held.copy(),
            btc_sell_share=pop.btc_sell_share, hurdle_rate_per_year=pop.hurdle_rate_per_year,
            conversion_capex_usd_per_mw=pop.conversion_capex_usd_per_mw,
            expected_hashprice=np.full(n, np.nan), hashprice_trend_weight=pop.hashprice_trend_weight,
            active=np.ones(n, bool),
            payments=Pipeline(n, horizon + round(PAYMENT_HORIZON_EXTRA_MONTHS * self.steps_per_month)),
            new_debt_rate=c.new_debt_rate_per_year,
        )
        self.firms.reset_ledger()
        self.leases = LeaseBook()
        self.left_this_step = np.zeros(n, bool)
        self.exit_reason = np.full(n, "", dtype=object)
        self.sites.hashrate_ehs = pop.mw / pop.efficiency_j_per_th  # every machine mines before the first step
        self.network_hashrate_ehs = float(self.sites.hashrate_ehs.sum())
        self.asic_shipped_ehs = 0.0  # EH/s of new machines shipped this step (within the makers' capacity)
        # the records of the last step (before the first: what the start implies)
        self.operation = Operation(network_hashrate_ehs=self.network_hashrate_ehs, asic_shipped_ehs=0.0)
        self.hosting = Hosting(contracted_it_mw=0.0, tenant_defaults_it_mw=0.0)
        self.payments = Payments(insolvent=np.zeros(0, dtype=np.int64))
        self.decisions = Decisions(equity_room_usd=np.zeros(n), lease_market=LeaseMarket())
        # one site per firm at the start: each firm's hashrate is its site's
        self.tally = Tally(firm_hashrate_ehs=self.sites.hashrate_ehs.copy(), bankruptcies=0, acquisitions=0, exits=0)
        # the network's hashrate as firms have seen it (one entry per step; monthly data before a
        # monthly run's start), for their trend beliefs
        self.hashrate_history = list(self.market.hashrate_before_start(c.hashrate_trend_window_months)) \
            if c.step_unit == "month" else []
        self.beliefs = Beliefs(network_trend_per_year=0.0, expected_decline_per_year=np.zeros(n))
        self.order_book = orderbook.seed_order_book(self)  # what was on order at the end of 2022
        self.agents_by_index = {a.index: a for a in MiningFirm.create_agents(self, n, index=list(range(n)))}

    # --- the step --------------------------------------------------------------------------
    def step(self) -> None:
        """One step, the phases of MODEL.md in order; each typed record (`marketsim.step_state`)
        is returned by the phase that makes it and handed to the phases that read it."""
        self.steps_done = self.steps - 1
        if self.checker is not None:
            self.checker.remember()  # the state the step starts from (a test may have set it)
        self.begin_step()
        last_market = self.decisions.lease_market  # last step's lease market (its unlet offers)
        self.seen = seen = self.observe_market(self.steps_done)
        self.beliefs = beliefs = self.update_beliefs(seen)
        self.operation = operation = self.operate(seen, self.operation)
        self.hosting = hosted = hosting.host_ai(self, seen)
        self.payments = finance.pay(self, seen)
        self.decisions = decided = decisions.decide(
            self, seen, beliefs, hosted.contracted_it_mw + last_market.unfilled_offered_it_mw)
        consolidation.settle_exits(self, seen, self.payments)
        retired = operations.retire_displaced_machines(self, seen, operation.hashprice_consistent)
        self._note_used_prices(retired)
        # migrants with the lots they bought, and new operators whose new site beats their hurdle
        # (MW arrives after the site's lead time); the records grow by their rows
        market = decided.lease_market
        entered = entry.enter(self, seen, beliefs, operation.used.migrant_lots + retired.migrant_lots,
                              market.supply_it_mw)
        self.seen, self.beliefs = entered.seen, entered.beliefs
        self.tally = self.count_after_deals(self.steps_done)
        self.record()
        if self.checker is not None:
            self.checker.check()
        if self.steps >= self.n_steps:
            self.running = False

    def begin_step(self) -> None:
        """Clear what is kept per step: the firms' ledgers and who left."""
        self.firms.reset_ledger()
        self.left_this_step[:] = False

    def observe_market(self, step: int) -> Observation:
        """The market moves one step (``Market.observe``); what the firms see before they act."""
        state = self.market.observe(step)
        # what a miner sees before the step: hashprice at the current difficulty (blocks come
        # in proportion to hashrate over difficulty, so a TH/s earns reward x 144 / difficulty
        # whatever the others do until the next retarget)
        hashprice = self.market.hashprice_at_difficulty()
        self.ai_demand_history.append(state.ai_demand_mw)
        return Observation(
            step=step, days=state.days,
            months_in_step=state.days / DAYS_PER_MONTH, years_in_step=state.days / DAYS_PER_YEAR,
            site_power_usd_per_mwh=self.market.site_power_prices(self.sites.power_base_usd_per_mwh),
            hashprice_observed=hashprice,
            machine_price_usd_per_th=self.market.machine_price_usd_per_th(hashprice, asic_orders.backlog_ehs(self.sites)),
            ai_demand_mw=state.ai_demand_mw,
        )

    def update_beliefs(self, seen: Observation) -> Beliefs:
        """Each firm smooths its hashprice belief towards what it saw (``hashprice_smoothing``,
        kept in ``FirmBook.expected_hashprice``) and extrapolates the network's growth trend."""
        smoothing = self.config.hashprice_smoothing
        belief = self.firms.expected_hashprice
        self.firms.expected_hashprice = np.where(
            np.isnan(belief), seen.hashprice_observed, smoothing * seen.hashprice_observed + (1 - smoothing) * belief
        )
        trend = self.hashrate_trend_per_year()
        decline = econ.trend_decline_per_year(trend, self.firms.hashprice_trend_weight,
                                              self.config.btc_forward_premium_per_year)
        return Beliefs(network_trend_per_year=trend, expected_decline_per_year=decline)

    def operate(self, seen: Observation, last: Operation) -> Operation:
        """Orders land (rationed by the makers' capacity), sites curtail or mine, the chain advances.
        ``last``: the previous step's ``Operation`` (its fixed-point hashprice, at which buyers
        value the machines the deliveries displace, and its network hashrate, where this step's
        fixed point is searched first)."""
        # the makers ship no more than their capacity
        self.asic_shipped_ehs = asic_orders.ration_deliveries(self.sites, self.market, seen)
        used = operations.land_deliveries(self, seen, last.hashprice_consistent)
        self._note_used_prices(used)
        mined = operations.curtail_or_mine(self, seen, last.network_hashrate_ehs)
        self.sites.cohort_age_years += seen.years_in_step
        firm_hashrate, chain = operations.mine_and_earn(self, seen, mined)
        self.network_hashrate_ehs = float(self.sites.hashrate_ehs.sum())
        self.hashrate_history.append(self.network_hashrate_ehs)
        return Operation(network_hashrate_ehs=self.network_hashrate_ehs, asic_shipped_ehs=self.asic_shipped_ehs,
                         hashprice_consistent=mined.hashprice_consistent, chain=chain,
                         firm_hashrate_ehs=firm_hashrate, used=used)

    def _note_used_prices(self, sale: UsedSale) -> None:
        """The last clearing price of each used-machine tier (kept across steps, for display)."""
        self.used_machine_price_usd_per_th.update(sale.tier_price_usd_per_th)

    def hashrate_trend_per_year(self) -> float:
        """Trailing log growth of network hashrate per year over ``hashrate_trend_window_months``
        (what a miner reads off the difficulty chart); 0 until three points exist."""
        h = self.hashrate_history
        lag = min(len(h) - 1, round(self.config.hashrate_trend_window_months * self.steps_per_month))
        if lag < 2 or h[-1] <= 0 or h[-1 - lag] <= 0:
            return 0.0
        return float(np.log(h[-1] / h[-1 - lag]) / (lag / self.steps_per_year))

    def count_after_deals(self, step: int) -> Tally:
        """Hashrate under the sites' owners after this step's deals, and the running totals
        (here, not in the reporter, so that reporting twice counts nothing twice)."""
        counts = self.events.counts_at(step)
        tally = Tally(
            firm_hashrate_ehs=np.bincount(self.sites.owner, weights=self.sites.hashrate_ehs, minlength=len(self.firms)),
            bankruptcies=counts.get("bankruptcy", 0), acquisitions=counts.get("acquisition", 0),
            exits=int(np.count_nonzero(self.left_this_step)),
        )
        self.cumulative["bankruptcies"] += tally.bankruptcies
        self.cumulative["acquisitions"] += tally.acquisitions
        self.cumulative["exits"] += tally.exits
        return tally

    def record(self) -> None:
        self.outcome = metrics.industry_outcome(self, self.tally)  # the step's tally: counted after the deals
        self.datacollector.collect(self)
        every = self.config.firm_record_every
        if every and (self.steps_done % every == 0 or not self.running or self.steps >= self.n_steps):
            self.firm_records.record(self)

    # --- helpers the phases share -------------------------------------------------------------
    def add_firms(self, ids: np.ndarray) -> None:
        """Firms just appended to the books (entrants, ``entry.admit``): rows in the model's own
        per-firm arrays (who left this step and why) and their Mesa agents."""
        k = len(ids)
        self.left_this_step = np.concatenate((self.left_this_step, np.zeros(k, bool)))
        self.exit_reason = np.concatenate((self.exit_reason, np.full(k, "", dtype=object)))
        # one agent per firm, in id order, as ``create_agents`` makes them (without the AgentSet it
        # returns, which nothing here keeps: the model's registry holds the agents)
        self.agents_by_index.update({i: MiningFirm(self, index=i) for i in ids.tolist()})

    def retire_firm(self, firm_id: int, reason: str) -> None:
        """Take a firm out: ``reason`` (bankrupt, sold, taken_over, wound_down) is its final state."""
        self.exit_reason[firm_id] = reason
        self.firms.active[firm_id] = False
        self.left_this_step[firm_id] = True
        agent = self.agents_by_index.pop(firm_id, None)
        if agent is not None:
            agent.remove()

    def firm_states(self) -> np.ndarray:
        return np.where(self.firms.active, "active", self.exit_reason).astype(object)

    def run(self) -> IndustryModel:
        while self.running and self.steps < self.n_steps:
            self.step()
        return self
