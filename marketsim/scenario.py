"""Scenario: every parameter of a run, its unit, default and valid range, declared once.

Why pydantic and why flat names
-------------------------------
Each parameter is declared once as a typed field with bounds; pydantic turns that single
declaration into the checks *and* the error messages (field, value, allowed range), so there
are no hand-written ``if`` chains to drift out of date.

Names are flat and carry their topic as a prefix (``price_volatility_per_year``,
``ai_lease_term_years``) rather than nested sections. That one choice lets the same name
work everywhere a user meets a parameter: a TOML file, ``--set key=value`` on the command
line, ``marketsim.run(..., key=value)``, ``IndustryModel(key=value)`` keyword arguments (as
Mesa's ``batch_run`` and ``SolaraViz`` pass them) and ``mesa.experimental.scenarios.Scenario``
attributes. Units are in the names or the field descriptions (shown by ``marketsim params``).

Dates: monthly steps start on the first of a month; weekly and daily steps may start any day.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from marketsim.errors import ScenarioError
from marketsim.shipped_files import shipped_dir

GENESIS_DATE = dt.date(2009, 1, 3)
LATEST_START_DATE = dt.date(2100, 1, 1)

Share = Annotated[float, Field(ge=0.0, le=1.0)]
NonNeg = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]


class PriceShock(BaseModel):
    """A deterministic, permanent multiplicative move of the BTC price at one step."""

    model_config = ConfigDict(extra="forbid")
    step: int = Field(ge=0, description="step at which the price moves")
    change: float = Field(gt=-1.0, le=10.0, description="relative change, -0.5 = -50%")


class PowerShock(BaseModel):
    """A temporary multiplicative move of every site's power price."""

    model_config = ConfigDict(extra="forbid")
    step: int = Field(ge=0, description="first step of the shock")
    duration: int = Field(ge=1, le=1200, description="number of steps it lasts")
    change: float = Field(gt=-1.0, le=10.0, description="relative change, 0.5 = +50%")


class HashrateEvent(BaseModel):
    """An exogenous outage: a share of mining MW forced offline (heat waves, storms, bans)."""

    model_config = ConfigDict(extra="forbid")
    step: int = Field(ge=0, description="first step of the outage")
    duration: int = Field(ge=1, le=1200, description="number of steps it lasts")
    share_offline: float = Field(gt=0.0, le=1.0, description="share of mining MW forced offline meanwhile")


class DemandPoint(BaseModel):
    """One dated point of AI tenants' demand history (``ai_demand_path``)."""

    model_config = ConfigDict(extra="forbid")
    date: dt.date = Field(description="the day tenants want this much")
    mw: float = Field(ge=0.0, le=1e6, description="IT MW wanted then, at the reference rate")


class Scenario(BaseModel):
    """All parameters of one marketsim run. See README "Scenario files" for the table."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    # --- identity -----------------------------------------------------------------
    name: str = Field("custom", description="scenario name")
    description: str = Field("", description="free text")

    # --- time -----------------------------------------------------------------------
    start_date: dt.date = Field(dt.date(2023, 1, 1), description="first day of the run")
    months: int = Field(120, ge=1, le=1200, description="run length in months")
    step_unit: Literal["month", "week", "day"] = Field("month", description="length of one step")

    # --- chain ------------------------------------------------------------------------
    blocks_model: Literal["difficulty", "replay"] = Field(
        "difficulty",
        description="'difficulty': blocks follow hashrate with the 2016-block retarget lag; "
        "'replay': blocks found per step come from the shipped data",
    )
    initial_block_height: int | None = Field(
        None, ge=0, description="height at the start (None: from the data, extrapolated at 144/day)"
    )
    initial_network_hashrate_ehs: float | None = Field(
        None, gt=0, description="network hashrate the population is sized to, EH/s "
        "(None: the data's mean over the month before the start)"
    )

    history_until: dt.date | None = Field(
        None, description="replay the data's price, fees and blocks for the steps before this date, "
        "then let the stochastic drivers take over (None: no history)"
    )

    # --- BTC price ----------------------------------------------------------------------
    price_model: Literal["gbm", "regime", "replay", "csv"] = Field(
        "gbm", description="BTC price path: gbm, regime (bull/bear switching with jumps), replay (the data) or csv "
        "(price_csv_path)"
    )
    price_initial_usd: float | None = Field(
        None, gt=0, description="price at step 0, USD (None: the data's price on the start date)"
    )
    price_drift_per_year: float = Field(0.35, ge=-3.0, le=3.0, description="GBM drift (log-price, per year)")
    price_volatility_per_year: float = Field(0.55, ge=0.0, le=3.0, description="GBM volatility per sqrt(year)")
    price_bull_drift_per_year: float = Field(0.8, ge=-3.0, le=3.0, description="regime model: log-price drift in a bull regime")
    price_bull_volatility_per_year: float = Field(
        0.55, ge=0.0, le=3.0, description="regime model: volatility per sqrt(year) in a bull regime"
    )
    price_bear_drift_per_year: float = Field(-0.6, ge=-3.0, le=3.0, description="regime model: log-price drift in a bear regime")
    price_bear_volatility_per_year: float = Field(
        0.7, ge=0.0, le=3.0, description="regime model: volatility per sqrt(year) in a bear regime"
    )
    price_bull_to_bear_per_year: float = Field(0.5, ge=0.0, le=50.0, description="regime switch rate")
    price_bear_to_bull_per_year: float = Field(0.8, ge=0.0, le=50.0, description="regime switch rate")
    price_jump_intensity_per_year: float = Field(0.5, ge=0.0, le=50.0, description="crash arrival rate")
    price_jump_mean_log: float = Field(-0.25, ge=-3.0, le=3.0, description="mean log size of a jump")
    price_jump_std_log: float = Field(0.1, ge=0.0, le=3.0, description="sd of the log size of a jump")
    price_csv_path: str | None = Field(None, description="CSV with columns date,price_usd (price_model='csv')")
    price_shocks: list[PriceShock] = Field(
        default_factory=list, description="deterministic permanent price moves: list of {step, change}"
    )

    # --- fees -------------------------------------------------------------------------------
    fee_model: Literal["stochastic", "replay"] = Field(
        "stochastic", description="fees: stochastic (log-OU share of the subsidy with spikes) or replay (the data)"
    )
    fee_share_mean: float = Field(0.05, ge=0.0, le=5.0, description="long-run fees as a share of subsidy")
    fee_share_initial: float | None = Field(None, ge=0.0, le=5.0, description="None: fee_share_mean")
    fee_reversion_per_year: float = Field(
        3.0, gt=0.0, le=100.0, description="speed of the fee share's log-OU reversion to fee_share_mean"
    )
    fee_volatility_per_year: float = Field(
        0.8, ge=0.0, le=10.0, description="volatility of the fee share's log-OU process per sqrt(year)"
    )
    fee_spike_intensity_per_year: float = Field(
        1.0, ge=0.0, le=100.0, description="Poisson rate of one-step fee spikes (congestion)"
    )
    fee_spike_mean_share: float = Field(
        0.1, ge=0.0, le=5.0, description="mean size of a fee spike, share of the subsidy (exponential)"
    )

    # --- power --------------------------------------------------------------------------------
    power_price_multiplier: float = Field(1.0, gt=0.0, le=10.0, description="scales every site's base $/MWh")
    power_hourly_volatility: float = Field(
        0.35, ge=0.0, le=3.0, description="log-sd of hourly power prices around a site's mean (0: mine all or nothing)"
    )
    power_negative_hours_share: float = Field(
        0.02, ge=0.0, le=0.5, description="share of hours with power at or below zero (wind/solar surplus): every machine mines then"
    )
    tail_take_or_pay_share_mean: float = Field(
        0.67, ge=0.0, le=1.0, description="fitted: mean share of a tail site's power bought take-or-pay (hosting contracts, "
        "fixed-volume PPAs): paid whether mined or not (beta-distributed across firms)"
    )
    hosted_take_or_pay_share: float = Field(
        0.8, ge=0.0, le=1.0, description="take-or-pay share of public miners paying a hosting fee (power >= 80 $/MWh)"
    )
    power_seasonal_amplitude: float = Field(
        0.10, ge=0.0, le=0.9, description="seasonal swing of power prices, share of the mean (cosine over the year)"
    )
    power_peak_month: int = Field(8, ge=1, le=12, description="month of the highest power price (1-12; August: Texas summer)")
    power_shocks: list[PowerShock] = Field(
        default_factory=list, description="temporary power price moves: list of {step, duration, change}"
    )
    hashrate_events: list[HashrateEvent] = Field(
        default_factory=list, description="exogenous outages: list of {step, duration, share_offline}"
    )

    # --- machines and mining sites --------------------------------------------------------------
    asic_frontier_initial_j_per_th: float = Field(21.5, gt=1.0, le=200.0, description="best machine on sale at start")
    asic_frontier_improvement_per_year: float = Field(0.35, ge=0.0, le=2.0, description="rate toward the floor")
    asic_frontier_floor_j_per_th: float = Field(
        8.0, gt=0.5, le=100.0, description="J/TH the best machine approaches but never passes (physical limit of the "
        "process)"
    )
    machine_price_reference_usd_per_th: float = Field(
        17.0, gt=0.0, le=1000.0, description="new-machine price at the reference hashprice"
    )
    machine_price_reference_hashprice: float = Field(60.0, gt=0.0, le=5000.0, description="USD/PH/day")
    machine_price_elasticity: float = Field(
        1.0, ge=0.0, le=5.0, description="elasticity of the new-machine price to the hashprice"
    )
    machine_price_floor_usd_per_th: float = Field(
        3.0, ge=0.0, le=1000.0, description="least new-machine price, whatever the hashprice (manufacturing cost)"
    )
    machine_lead_time_months: int = Field(4, ge=0, le=36, description="order to hashing, for upgrades")
    asic_supply_capacity_ehs_per_month: float = Field(
        18.0, ge=0.0, le=1e5,
        description="fitted (2020-22, hashrate and end-2022 J/TH): EH/s of new machines makers can ship a month at "
        "2023-01-01 (grows; docs/calibration.md sections 12.6, 12.9)")
    asic_supply_growth_per_year: float = Field(
        0.35, ge=0.0, le=2.0, description="log growth a year of ASIC shipping capacity (2019->2021 shipments doubled)")
    asic_scarcity_elasticity: float = Field(
        0.2, ge=0.0, le=5.0,
        description="fitted (2020-22): elasticity of the frontier machine price to the lead time its backlog implies; "
        "0 = none")
    site_build_capex_usd_per_mw: float = Field(
        325_000.0, ge=0.0, le=5e6, description="capex of one MW of new mining site (power, cooling, building), "
        "machines excluded"
    )
    site_build_lead_time_months: int = Field(6, ge=0, le=60, description="order to energised new MW")
    expansion_max_share_per_year: float = Field(0.6, ge=0.0, le=5.0, description="max MW growth a firm orders per year")
    mining_opex_usd_per_mwh: float = Field(6.0, ge=0.0, le=500.0, description="variable non-power cost")
    site_fixed_cost_usd_per_mw_month: float = Field(
        3_000.0, ge=0.0, le=1e6, description="fixed cost of a live MW of site a month (staff, maintenance, insurance), "
        "paid mining or not"
    )
    scrap_after_unprofitable_months: int = Field(
        12, ge=1, le=240, description="fitted (2020-22): mean months a fleet whose margin at the hashprice expected "
        "after the next retarget does not cover the site's fixed cost keeps running before it is scrapped (a hazard)"
    )

    # --- AI / HPC hosting --------------------------------------------------------------------------
    ai_demand_model: Literal["logistic", "boom_bust"] = Field(
        "logistic", description="shape of AI tenants' demand over time: logistic, or boom_bust (logistic, then a decay)"
    )
    ai_demand_path: list[DemandPoint] = Field(
        default_factory=list, description="dated demand history, list of {date, mw} (IT MW wanted at the reference "
        "rate), dates increasing: followed up to its last date (linear between points, flat before the first), "
        "then ai_demand_model's curve ([]: the curve throughout)"
    )
    ai_demand_initial_mw: float = Field(20.0, ge=0.0, le=1e6, description="IT MW wanted at start")
    ai_demand_max_mw: float = Field(3_250.0, ge=0.0, le=1e6, description="IT MW wanted at saturation (at the reference rate)")
    ai_demand_midpoint_years: float = Field(2.4, ge=-20.0, le=50.0, description="years from the start to the logistic's midpoint")
    ai_demand_steepness_per_year: float = Field(
        4.5, gt=0.0, le=20.0, description="logistic's steepness (growth rate at the midpoint)"
    )
    ai_bust_years: float = Field(4.0, ge=0.0, le=50.0, description="boom_bust: when demand turns")
    ai_bust_floor_share: float = Field(0.3, ge=0.0, le=1.0, description="boom_bust: demand falls to this share")
    ai_bust_speed_per_year: float = Field(
        1.5, gt=0.0, le=50.0, description="boom_bust: exponential rate at which demand falls to its floor after the turn"
    )
    ai_lease_rate_initial_usd_per_kw_month: float = Field(
        120.0, gt=0.0, le=2000.0, description="rate firms expect before the lease market first clears ($/kW-month IT)")
    ai_tenant_reference_rate_usd_per_kw_month: float = Field(
        150.0, gt=0.0, le=2000.0, description="rate at which tenants want the demand curve's MW; demand slopes down from it")
    ai_tenant_demand_elasticity_below_reference: float = Field(
        0.15, ge=0.0, le=20.0, description="price elasticity of the IT MW tenants want below the reference rate "
        "(rent is ~15% of a MW of GPUs' yearly cost; 0: a vertical demand segment)")
    ai_reference_location_quality: float = Field(
        1.10, gt=0.0, le=5.0, description="location quality of the typical AI-suitable site, at which the deals' "
        "rates (reference rate, greenfield rent) hold: a site of quality q is paid the clearing rate x q / this")
    ai_greenfield_rent_usd_per_kw_month: float = Field(
        135.0, gt=0.0, le=2000.0, description="rent covering a greenfield data centre's cost (tenants' outside option)")
    ai_greenfield_lead_time_years: float = Field(4.5, ge=0.0, le=20.0, description="greenfield data centre: signing to power")
    ai_speed_value_per_year: float = Field(
        0.15, ge=0.0, le=2.0, description="premium over greenfield rent tenants pay per year of power gained")
    ai_lease_term_years: float = Field(12.0, gt=0.0, le=40.0, description="deals: 10-15 years")
    ai_lease_escalator_per_year: float = Field(0.03, ge=0.0, le=0.2, description="yearly escalation of a signed lease's rate")
    ai_lease_renewal_probability: float = Field(0.6, ge=0.0, le=1.0, description="share of expiring leases renewed")
    ai_lease_renewal_term_years: float = Field(5.0, ge=0.0, le=40.0, description="renewal option's term")
    ai_tenant_failure_share_per_year: float = Field(
        1.0, ge=0.0, le=12.0, description="share per year of contracted MW above demand whose tenants fail"
    )
    ai_tenant_default_per_year: float = Field(
        0.03, ge=0.0, le=1.0, description="hazard that a tenant defaults in any year (its hall empties, rent stops)")
    ai_hall_opex_usd_per_kw_month: float = Field(
        25.0, ge=0.0, le=1000.0, description="cost of keeping a hall running: the lowest rate an empty hall is let at")
    ai_tenant_capex_share: float = Field(
        0.1, ge=0.0, le=1.0, description="share of a hall's capex the tenant funds (prepayments, direct funding)")
    ai_backstopped_debt_rate_per_year: float = Field(
        0.075, ge=0.0, le=1.0, description="rate on a leased hall's project debt once hyperscalers back the tenants' "
        "leases (from ai_backstops_from; TeraWulf's and Cipher's notes of Oct-Nov 2025: 7.75%, 7.125%)")
    ai_backstops_from: dt.date = Field(
        dt.date(2025, 8, 1), description="month hyperscaler credit backstops of AI tenants begin (Google for Fluidstack "
        "at TeraWulf, 14 Aug 2025); before it a leased hall's debt costs ai_project_debt_rate_before_backstops_per_year")
    ai_project_debt_rate_before_backstops_per_year: float = Field(
        0.10, ge=0.0, le=1.0, description="rate on a leased hall's project debt before hyperscaler backstops "
        "(high-yield project debt)")
    ai_margin: float = Field(0.8, ge=0.0, le=1.0, description="net operating income share of lease revenue")
    ai_pue: float = Field(1.3, ge=1.0, le=3.0, description="gross site MW per MW of critical IT")
    conversion_capex_usd_per_mw: float = Field(
        7_500_000.0, ge=0.0, le=5e7, description="per MW of critical IT, at conversion_capex_reference_date")
    conversion_capex_growth_per_year: float = Field(
        0.2, ge=-0.5, le=2.0, description="capex per IT MW grows this much a year from the reference date ...")
    conversion_capex_reference_date: dt.date = Field(
        dt.date(2024, 7, 1), description="date at which conversion_capex_usd_per_mw holds (it grows at "
        "conversion_capex_growth_per_year from there)"
    )
    conversion_capex_growth_until: dt.date = Field(dt.date(2026, 1, 1), description="... until this date (flat after)")
    conversion_capex_dispersion: float = Field(
        0.10, ge=0.0, le=2.0, description="lognormal sd of capex per IT MW across firms (the deals' quotes: "
        "each within ~+-10% of its midpoint, the 2025 midpoints within 0.05 of each other in logs)")
    ai_new_hall_capex_premium: float = Field(
        0.15, ge=0.0, le=5.0, description="extra capex share of a new AI hall on unused interconnect vs a conversion")
    conversion_lead_time_months: int = Field(
        9, ge=1, le=60, description="signing to first delivered phase of a conversion (deals: 5-12 months on existing shells)")
    ai_new_hall_extra_lead_months: int = Field(
        3, ge=0, le=60, description="a new AI hall on a campus's unused interconnect delivers this much later than a "
        "conversion (new buildings on campuses with power: ~8-12 months to first rent; greenfield sites 16-18)")
    ai_delivery_phase_months: int = Field(9, ge=1, le=60, description="the rest is delivered evenly over these months")
    conversion_debt_share_leased: float = Field(
        0.8, ge=0.0, le=1.0, description="host capex share lenders fund with a signed lease"
    )
    conversion_debt_share_unleased: float = Field(
        0.3, ge=0.0, le=1.0, description="share of an unleased conversion (own GPU cloud) funded by debt"
    )
    ai_gpu_cloud_revenue_usd_per_it_mw_year: float = Field(
        9e6, ge=0.0, le=1e9, description="own GPU cloud: revenue per MW of IT a year at full utilisation")
    ai_gpu_capex_usd_per_it_mw: float = Field(
        28e6, ge=0.0, le=1e10, description="own GPU cloud: GPUs installed per MW of IT (~700 GPUs x $40k)")
    ai_gpu_life_years: float = Field(5.0, gt=0.0, le=20.0, description="own GPU cloud: GPUs' economic life")
    ai_gpu_opex_share: float = Field(0.3, ge=0.0, le=1.0, description="own GPU cloud: operating cost share of revenue")
    ai_gpu_utilisation_mean: float = Field(0.8, gt=0.0, le=1.0, description="own GPU cloud: expected utilisation")
    ai_gpu_utilisation_sd: float = Field(0.15, ge=0.0, le=0.5, description="own GPU cloud: spread of realised utilisation")
    ai_miner_value_usd_per_mw: float = Field(4.5e6, ge=0.0, le=1e9, description="market value of a miner per MW (Aug 2024)")
    ai_datacentre_value_usd_per_it_mw: float = Field(
        30e6, ge=0.0, le=1e9, description="market value of data-centre stocks per MW of IT (> $30M, Aug 2024)")
    ai_signed_lease_credibility: float = Field(
        0.5, ge=0.0, le=1.0, description="share of the re-rating a signed, undelivered lease earns")
    ai_private_project_equity_share: float = Field(
        0.8, ge=0.0, le=1.0, description="share of a private host's equity need that project investors fund on a signed lease")
    ai_public_signing_equity_share: float = Field(
        0.8, ge=0.0, le=1.0, description="share of a public host's equity need for a signed lease that it raises on "
        "the signing (converts, share sales on the re-rating), at most the lease's re-rating uplift")
    ai_min_lease_block_it_mw: float = Field(
        40.0, ge=0.0, le=1e4, description="smallest block of new IT MW a site must be able to offer (room and money) "
        "for AI tenants to consider it (deals: 39-250 MW)")
    ai_min_location_quality: float = Field(
        1.06, ge=0.0, le=5.0, description="sites below this location quality are not AI-suitable")
    tail_location_quality_sd: float = Field(0.08, ge=0.0, le=2.0, description="tail sites: lognormal sd around 1")
    tail_interconnect_headroom_pareto_alpha: float = Field(
        1.6, gt=1.0, le=20.0, description="tail sites: interconnect above built MW, heavy-tailed (Lomax)")
    tail_interconnect_headroom_scale: float = Field(0.3, ge=0.0, le=10.0, description="Lomax scale (share of built MW)")
    tail_interconnect_headroom_max: float = Field(4.0, ge=0.0, le=100.0, description="cap on headroom / built MW")
    ai_target_share: float | None = Field(
        None, ge=0.0, le=1.0, description="if set, public miners convert this share of their MW by ai_target_date"
    )
    ai_target_date: dt.date = Field(
        dt.date(2027, 12, 1), description="ai_target_share: date by which the mandated AI share is reached"
    )
    ai_conversion_allowed: bool = Field(
        True, description="False: the counterfactual world where no miner converts or builds an AI hall "
        "(nothing is offered to tenants, no mandated target is pursued); the market draws from its own "
        "random streams, apart from the firms', so the same seed gives the same price and fee paths (paired comparisons)")

    # --- the start's order book (runs starting 2023-01-01 with the public miners) -------------------
    seed_order_book: bool = Field(
        True, description="seed the build pipeline from the public miners' end-2022 guidance (data/order_book_2022.csv)"
    )
    order_book_realisation_share: float = Field(
        0.6, ge=0.0, le=1.0, description="share of the guided gap that is built (2022: targets were cut 20-57%)"
    )
    order_book_slip_months: int = Field(4, ge=0, le=24, description="months the guided dates slip (2022: 3-6)")

    # --- the firm population ----------------------------------------------------------------------
    n_firms: int = Field(200, ge=1, le=100_000, description="firms in total, public miners included")
    include_public_miners: bool = Field(True, description="seed the 2022 public miners from the data file")
    network_efficiency_j_per_th: float = Field(45.0, gt=1.0, le=200.0, description="network average at start")
    tail_efficiency_sd_j_per_th: float = Field(
        8.0, ge=0.0, le=100.0, description="sd of private miners' fleet J/TH around the network average"
    )
    tail_size_pareto_alpha: float = Field(1.3, gt=0.5, le=10.0, description="heavy tail of firm sizes")
    tail_max_firm_share: float = Field(0.04, gt=0.0, le=1.0, description="largest private miner's share of the tail's MW")
    tail_power_price_mean_usd_per_mwh: float = Field(
        34.6, gt=0.0, le=1000.0, description="fitted: the start population mines 92% of its hashrate at the data's Dec-2022 hashprice"
    )
    tail_power_price_sd_usd_per_mwh: float = Field(
        12.0, ge=0.0, le=500.0, description="sd of the tail's lognormal power prices (no floor: the cheap end is stranded power)"
    )
    tail_cash_usd_per_mw: float = Field(60_000.0, ge=0.0, le=1e8, description="private miners' mean cash per MW at the start")
    tail_debt_usd_per_mw: float = Field(120_000.0, ge=0.0, le=1e8, description="private miners' mean debt per MW at the start")
    tail_debt_rate_per_year: float = Field(0.10, ge=0.0, le=1.0, description="interest rate on private miners' debt")
    tail_btc_sell_share: float = Field(
        0.8, ge=0.0, le=1.0, description="share of mined BTC a private miner sells at once (the rest is held)"
    )
    decision_rule_mix: dict[Literal["npv", "myopic"], NonNeg] = Field(
        default_factory=lambda: {"npv": 0.6, "myopic": 0.4}, description="population shares of decision rules"
    )
    hurdle_rate_per_year: float = Field(0.15, ge=0.0, le=2.0, description="mean discount/hurdle rate")
    hurdle_rate_sd: float = Field(0.04, ge=0.0, le=1.0, description="sd of firms' hurdle rates around hurdle_rate_per_year")
    decision_horizon_years: float = Field(5.0, gt=0.0, le=30.0, description="years of cash flows an NPV decision counts")
    review_probability_per_step: float = Field(0.34, gt=0.0, le=1.0, description="chance a firm reviews its strategy")
    hashprice_smoothing: float = Field(0.4, gt=0.0, le=1.0, description="EWMA weight on the newest hashprice")
    expected_hashprice_decline_per_year: float = Field(
        0.25, ge=-1.0, le=1.0, description="yearly hashprice decline bidders assume when valuing sites for sale "
        "(M&A only; firms' own decisions use the trend belief)"
    )
    hashprice_trend_weight_mean: float = Field(
        1.0, ge=0.0, le=2.0, description="fitted: share of the network's trailing hashrate growth firms extrapolate (mean)"
    )
    hashprice_trend_weight_sd: float = Field(0.25, ge=0.0, le=2.0, description="its spread across firms (normal, clipped at 0)")
    hashrate_trend_window_months: int = Field(12, ge=1, le=60, description="trailing window of the growth trend")
    btc_forward_premium_per_year: float = Field(
        0.05, ge=-0.5, le=1.0, description="price a year out that firms expect, over spot (a futures-like basis)"
    )
    max_payback_months: float = Field(16.0, gt=0.0, le=240.0, description="longest payback a firm accepts for machines")
    myopic_max_payback_years: float = Field(6.0, gt=0.0, le=50.0, description="myopic rule's conversion payback")
    cash_reserve_months: float = Field(
        6.0, ge=0.0, le=60.0, description="months of fixed and interest costs a firm keeps as cash before spending on growth"
    )
    max_debt_to_assets: float = Field(
        0.5, ge=0.0, le=0.95, description="loan-to-value limit: most debt lenders allow, share of asset value"
    )
    new_debt_rate_per_year: float = Field(
        0.10, ge=0.0, le=1.0, description="rate on new borrowing (blended into a firm's average rate)"
    )
    equity_issuance_share_per_year: float = Field(
        0.3, ge=0.0, le=5.0, description="most new equity a public miner sells a year, share of its market value "
        "(reached when its q is far above equity_issuance_min_q)"
    )
    equity_issuance_min_q: float = Field(
        1.5, ge=0.0, le=100.0, description="public miners sell shares only when market value / replacement cost exceeds this"
    )
    equity_ev_to_margin_multiple: float = Field(
        1.75, ge=0.0, le=100.0, description="market value of a miner's operations per USD of annual mining margin"
    )
    site_collateral_hashprice_elasticity: float = Field(
        0.25, ge=0.0, le=3.0,
        description="elasticity of the collateral value lenders give a MW of site to the hashprice at the current "
        "difficulty (relative to machine_price_reference_hashprice); 0 = build cost whatever the cycle")
    vendor_financing_share: float = Field(
        0.0, ge=0.0, le=1.0,
        description="share of a private firm's machine order the maker finances (instalment terms; booked as debt); "
        "0: makers asked for prepayment in 2020-22 (docs/calibration.md 12.8)")
    vendor_financing_rate_per_year: float = Field(
        0.12, ge=0.0, le=1.0, description="rate on vendor-financed machine orders")
    equity_issuance_fee_share: float = Field(
        0.03, ge=0.0, le=0.5, description="at-the-market offering fee, share of gross proceeds"
    )
    debt_maturity_years: float = Field(
        3.0, gt=0.0, le=30.0, description="term of a loan; initial debt matures at a uniform 25-100% of it"
    )
    refinancing_penalty_rate: float = Field(
        0.04, ge=0.0, le=1.0, description="rate added to debt above the loan-to-value limit that lenders extend at maturity"
    )

    # --- entry: new operators with their own sites (firms/entry.py, docs/calibration.md s12) ---------------
    entry_candidates_per_year: float = Field(
        12.0, ge=0.0, le=10_000.0,
        description="prospective operators that study a new site each year (Poisson); 0 turns entry off")
    entry_site_mw_mean: float = Field(40.0, gt=0.0, le=5_000.0, description="mean MW of an entrant's site (lognormal)")
    entry_site_mw_sd: float = Field(40.0, ge=0.0, le=5_000.0, description="its spread across entrants")
    entry_power_price_mean_usd_per_mwh: float = Field(
        40.0, ge=0.0, le=500.0, description="mean power price an entrant's new site secures (lognormal)")
    entry_power_price_sd_usd_per_mwh: float = Field(10.0, ge=0.0, le=500.0, description="its spread across entrants")
    entry_hurdle_rate_per_year: float = Field(
        0.25, ge=0.0, le=2.0, description="return a new operator's investors ask for (above incumbents' 0.15)")
    entry_site_lead_time_months: int = Field(
        12, ge=1, le=60, description="order to energised MW for a new site (containers 6-12 months, greenfield 12-24)")

    migration_prospects_per_lot: int = Field(
        2, ge=0, le=100,
        description="fitted (2020-22, hashrate and end-2022 J/TH): operators with cheap power (entrants' power "
        "distribution) who bid for each lot of used machines no incumbent site buys and build new MW for it; the "
        "best buys if the machines are worth more than the MW (firms/entry.py offer_to_migrants); 0 = off")

    # --- consolidation ----------------------------------------------------------------------
    distress_bid_shading: float = Field(
        0.35, ge=0.0, le=0.95, description="fire-sale discount bidders apply in distress auctions"
    )
    auction_max_bidders: int = Field(12, ge=1, le=1000, description="best-funded firms invited to bid")
    ma_review_probability_per_step: float = Field(0.03, ge=0.0, le=1.0, description="chance a weak or cheap firm is shopped")
    takeover_value_ratio: float = Field(0.4, ge=0.0, le=10.0, description="cheap: equity below this x replacement value")
    takeover_min_gain: float = Field(0.3, ge=0.0, le=10.0, description="buyer's value must beat owner's by this share")
    seller_bargaining_power: float = Field(0.5, ge=0.0, le=1.0, description="Nash bargaining weight of the seller")

    # --- records --------------------------------------------------------------------------------
    firm_record_every: int = Field(1, ge=0, le=10_000, description="per-firm rows every k steps (0: none)")

    @model_validator(mode="after")
    def _check_consistency(self) -> Scenario:
        if not GENESIS_DATE <= self.start_date <= LATEST_START_DATE:
            raise ValueError(
                f"start_date={self.start_date} is outside the allowed range "
                f"{GENESIS_DATE} .. {LATEST_START_DATE}"
            )
        if self.step_unit == "month" and self.start_date.day != 1:
            raise ValueError(
                f"start_date={self.start_date}: monthly steps must start on the first of a month"
            )
        if self.history_until is not None and self.price_initial_usd is not None:
            raise ValueError("price_initial_usd: leave it unset with history_until (the history sets the price)")
        if self.history_until is not None and self.price_model not in ("gbm", "regime"):
            raise ValueError(f"history_until: needs price_model 'gbm' or 'regime' to continue after the history "
                             f"(got {self.price_model!r})")
        if self.history_until is not None and self.history_until <= self.start_date:
            raise ValueError(f"history_until={self.history_until} must be after start_date={self.start_date}")
        if self.price_model == "csv" and not self.price_csv_path:
            raise ValueError("price_csv_path is required when price_model='csv'")
        if self.ai_tenant_reference_rate_usd_per_kw_month >= self.ai_choke_rate_usd_per_kw_month:
            raise ValueError(
                f"ai_tenant_reference_rate_usd_per_kw_month={self.ai_tenant_reference_rate_usd_per_kw_month}: must be "
                f"below the greenfield choke rate {self.ai_choke_rate_usd_per_kw_month:.1f} (greenfield rent x speed premium)")
        if len(self.ai_demand_path) == 1:
            raise ValueError("ai_demand_path: give at least 2 dated points, or none (got 1)")
        dates = [p.date for p in self.ai_demand_path]
        if any(b <= a for a, b in zip(dates, dates[1:])):
            raise ValueError(f"ai_demand_path: dates must increase strictly (got {', '.join(map(str, dates))})")
        if self.asic_frontier_floor_j_per_th > self.asic_frontier_initial_j_per_th:
            raise ValueError("asic_frontier_floor_j_per_th must not exceed asic_frontier_initial_j_per_th")
        if sum(self.decision_rule_mix.values()) <= 0:
            raise ValueError("decision_rule_mix must give at least one rule a positive share")
        if not self.include_public_miners and self.n_firms < 1:
            raise ValueError("n_firms must be >= 1")
        return self

    @property
    def ai_choke_rate_usd_per_kw_month(self) -> float:
        """Tenants' highest rate at a mining site: greenfield rent plus the value of speed."""
        years = max(0.0, self.ai_greenfield_lead_time_years - self.conversion_lead_time_months / 12.0)
        return self.ai_greenfield_rent_usd_per_kw_month * (1.0 + self.ai_speed_value_per_year * years)

    # ----------------------------------------------------------------------------------------
    def with_overrides(self, **overrides: Any) -> Scenario:
        """A validated copy with some fields changed (unknown names are rejected)."""
        return load_scenario_dict({**self.to_dict(), **overrides})

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="python")

    def to_toml(self) -> str:
        """TOML text that loads back to an equal scenario (None fields are left out)."""
        data = {k: v for k, v in self.model_dump(mode="json").items() if v is not None}
        return tomli_w.dumps(data)

    @property
    def replay(self) -> bool:
        """True when any driver reads the shipped data (the run must stay inside it)."""
        return self.history_until is not None or "replay" in (self.price_model, self.fee_model, self.blocks_model)


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list):
        return "[...]" if len(repr(value)) > 60 else repr(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value
    return isinstance(value, str) and value.strip().lower() in ("nan", "+nan", "-nan")


def _error_message(err: dict[str, Any]) -> str:
    """Pydantic's message, made plain where it misleads: NaN is "not a number", not "<= 10"."""
    if err["type"] == "extra_forbidden":
        return "unknown parameter (see `marketsim params` for the allowed names)"
    if _is_nan(err.get("input")):
        return "not a number (NaN); expected a finite number within the field's range"
    return err["msg"]


def _format_errors(exc: ValidationError, source: str) -> str:
    """One line: ``invalid scenario SOURCE: field = value: what is wrong; field2 = ...``."""
    parts = []
    for err in exc.errors():
        message = _error_message(err).removeprefix("Value error, ")
        if not err["loc"]:  # a rule across fields: its message names them
            parts.append(message)
            continue
        field = ".".join(str(p) for p in err["loc"])
        parts.append(f"{field} = {_shown(err.get('input'))}: {message}")
    return f"invalid scenario {source}: " + "; ".join(parts)


def _hostile_values(data: dict[str, Any]) -> list[str]:
    """What pydantic's lax mode lets through but a scenario must not hold: ``true`` where a
    number is expected (it would become 1) and infinities in fields with no upper bound
    (``decision_rule_mix = {npv = inf}``)."""
    problems = []

    def walk(value: Any, where: str, numeric: bool) -> None:
        if isinstance(value, bool):
            if numeric:
                problems.append(f"{where} = {str(value).lower()}: expected a number, not true/false")
        elif isinstance(value, float) and value in (float("inf"), float("-inf")):
            problems.append(f"{where} = {value}: expected a finite number")
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}", True)
            numbers = [v for v in value.values() if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if numbers and all(abs(v) < float("inf") for v in numbers) and abs(sum(numbers)) == float("inf"):
                problems.append(f"{where}: the values are too large (their sum overflows)")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}.{i}", True)

    for name, value in data.items():
        field = Scenario.model_fields.get(name)
        if field is not None:
            walk(value, name, field.annotation is not bool)
    return problems


def load_scenario_dict(data: dict[str, Any], source: str = "(dict)") -> Scenario:
    """Validate a mapping of parameters; raise ScenarioError naming each bad field."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(exc, source)) from None
    problems = _hostile_values(data)
    if problems:
        raise ScenarioError(f"invalid scenario {source}: " + "; ".join(problems))
    return scenario


SCENARIO_DIR = shipped_dir()


def shipped_scenarios() -> dict[str, Path]:
    """Scenario names shipped with marketsim, mapped to files.

    Scenarios live where users read and copy them (``experiments/*.toml`` in a clone) and are
    installed with the package too (``shipped_files``). Sweep files live one level down, in
    ``sweeps/``.
    """
    if not SCENARIO_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.toml"))}


def load_scenario(name_or_path: str | Path, **overrides: Any) -> Scenario:
    """Load a shipped scenario by name or a TOML file by path, then apply overrides."""
    path = Path(name_or_path)
    shipped = shipped_scenarios()
    if str(name_or_path) in shipped:
        path = shipped[str(name_or_path)]
    elif not path.exists():
        raise ScenarioError(
            f"scenario {str(name_or_path)!r}: no such file, and not a shipped scenario "
            f"(shipped: {', '.join(sorted(shipped))})"
        )
    data = read_toml(path, "scenario")
    data.setdefault("name", path.stem)
    data.update(overrides)
    return load_scenario_dict(data, source=str(path))


def read_toml(path: str | Path, what: str, error: type[ScenarioError] = ScenarioError) -> dict[str, Any]:
    """A TOML file as a dict, or one line saying why not (unreadable, not UTF-8, not TOML).

    A UTF-8 byte-order mark (Windows editors write one) and CRLF line ends are accepted.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise error(f"{what} {path}: is a folder, not a TOML file") from None
    except OSError as exc:
        raise error(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise error(f"{what} {path}: not valid TOML: nested too deeply") from None


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` from the command line; the value is read as a TOML value.

    ``price_volatility_per_year=0.8``, ``start_date=2024-01-01``, ``price_model=gbm`` (bare
    words are taken as strings) and ``price_shocks=[{step=6, change=-0.5}]`` all work.
    """
    if "=" not in text:
        raise ScenarioError(f"--set {text!r}: expected key=value")
    key, raw = (s.strip() for s in text.split("=", 1))
    if key not in Scenario.model_fields:
        raise ScenarioError(f"--set {key}: unknown parameter (see `marketsim params`)")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except (tomllib.TOMLDecodeError, RecursionError):
        value = raw
    return key, value


def _choices(annotation: Any) -> list[str]:
    """The allowed values of a Literal field (``step_unit``: month, week, day), else []."""
    from typing import get_args, get_origin

    if get_origin(annotation) is Literal:
        return [str(a) for a in get_args(annotation)]
    return []


def _key_choices(annotation: Any) -> list[str]:
    """The allowed keys of a table keyed by a Literal (``decision_rule_mix``: npv, myopic), else []."""
    from typing import get_args, get_origin

    if get_origin(annotation) is dict:
        return _choices(get_args(annotation)[0])
    return []


def _default_text(default: Any) -> str:
    if isinstance(default, dt.date):
        return default.isoformat()
    return repr(default)


def parameter_table() -> list[dict[str, str]]:
    """Name, type, default, range (or allowed values) and description of every parameter (docs and CLI)."""
    rows = []
    for name, field in Scenario.model_fields.items():
        bounds = []
        for meta in field.metadata:
            for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
                if getattr(meta, attr, None) is not None:
                    bounds.append(f"{sym} {getattr(meta, attr)}")
        choices = _choices(field.annotation)
        if choices:
            bounds.append("one of " + ", ".join(choices))
        if _key_choices(field.annotation):
            bounds.append("keys: " + ", ".join(_key_choices(field.annotation)))
        if name == "start_date":
            bounds.append(f"{GENESIS_DATE} .. {LATEST_START_DATE}")
        default = field.get_default(call_default_factory=True)
        rows.append(
            {
                "name": name,
                "type": getattr(field.annotation, "__name__", str(field.annotation)).replace("typing.", ""),
                "default": _default_text(default),
                "range": ", ".join(bounds),
                "choices": ", ".join(choices),
                "description": field.description or "",
            }
        )
    return rows
