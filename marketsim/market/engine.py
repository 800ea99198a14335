"""The market: exogenous drivers plus the chain, advanced once per step.

Builds the price, fee, power, ASIC and AI-demand drivers the scenario chooses (each a
pluggable object from this package) and owns the protocol state (height, difficulty proxy).
What it needs from the firms each step is only the network hashrate; what it gives them is a
`MarketState` snapshot. Replay drivers read the packaged data, summed over each step's days.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from marketsim import data as mdata
from marketsim import protocol
from marketsim.errors import ScenarioError
from marketsim.market import ai, asic, fees, power, price
from marketsim.scenario import Scenario
from marketsim.timeline import step_boundaries
from marketsim.units import DAYS_PER_MONTH, DAYS_PER_YEAR, TH_PER_EH

# the date ``asic_supply_capacity_ehs_per_month`` refers to: the end of the fitting window
ASIC_CAPACITY_ANCHOR = pd.Timestamp("2023-01-01")


# What a model's construction reads of the shipped daily data, worked out once per process and
# calendar (a sweep builds thousands of models on the same calendar; the shipped file never
# changes). Callers get copies: the cached objects are never handed out.
@functools.lru_cache(maxsize=64)
def _replay_table(bounds: tuple[pd.Timestamp, ...]) -> pd.DataFrame:
    """The shipped data summed over the steps that ``bounds`` delimit (``data.aggregate_steps``)."""
    return mdata.aggregate_steps(mdata.load_btc_daily(copy=False), list(bounds))  # read only


@functools.lru_cache(maxsize=64)
def _hashrate_before(start: pd.Timestamp, months: int) -> np.ndarray:
    """Monthly mean network hashrate (EH/s) of up to ``months`` whole months before ``start``."""
    daily = mdata.load_btc_daily(copy=False)  # read only
    window = daily[(daily["date"] < start) & (daily["date"] >= start - pd.DateOffset(months=months))]
    rate = window.set_index("date")["hashrate_ths"].dropna()
    return np.zeros(0) if rate.empty else (rate.resample("MS").mean().dropna() / TH_PER_EH).to_numpy()


@dataclass(frozen=True)
class MarketState:
    """What every firm observes at the start of a step (before the network's hashrate is known)."""

    step: int
    date: pd.Timestamp
    days: float
    btc_price_usd: float
    fee_share: float  # fees as a share of the subsidy
    power_multiplier: float  # seasonality x shocks x scenario level
    frontier_j_per_th: float
    ai_demand_mw: float  # IT MW that tenants want at former mining sites
    years_elapsed: float


@dataclass(frozen=True)
class ChainOutcome:
    blocks: float
    issuance_btc: float
    fees_btc: float
    revenue_usd: float
    height_end: float
    difficulty_hashrate_ehs: float
    hashprice_usd_per_ph_day: float


class Market:
    """Drivers and chain for one run; deterministic given the model's rng."""

    def __init__(self, scenario: Scenario, rng: np.random.Generator):
        self.scenario = scenario
        self.rng = rng
        self.bounds = step_boundaries(scenario.start_date, scenario.months, scenario.step_unit)
        self.replay = self._load_replay() if scenario.replay else None
        # steps whose price, fees and blocks all come from the data (a replay prefix)
        self.history_steps = self._history_steps()
        self.price_path = self._build_price_path()
        self.fee_share_path = None
        if scenario.fee_model == "stochastic":
            self.fee_share_path = fees.StochasticFeeShare(
                mean_share=scenario.fee_share_mean,
                reversion_per_year=scenario.fee_reversion_per_year,
                volatility_per_year=scenario.fee_volatility_per_year,
                spike_intensity_per_year=scenario.fee_spike_intensity_per_year,
                spike_mean_share=scenario.fee_spike_mean_share,
                initial_share=scenario.fee_share_initial
                if scenario.fee_share_initial is not None
                else scenario.fee_share_mean,
            )
        self.chain = protocol.ChainState(
            height=float(self.initial_height()),
            difficulty_hashrate_ehs=self.initial_network_hashrate_ehs(),
            epoch_blocks=float(self.initial_height() % protocol.RETARGET_INTERVAL_BLOCKS),
            epoch_days=float(self.initial_height() % protocol.RETARGET_INTERVAL_BLOCKS)
            / protocol.TARGET_BLOCKS_PER_DAY,
        )
        self.lease_rate_usd_per_kw_month = scenario.ai_lease_rate_initial_usd_per_kw_month
        self.state: MarketState | None = None
        self._replay_reward_btc: np.ndarray | None = None
        self._replay_columns: dict[str, np.ndarray] = {}
        self._bound_dates: list[pd.Timestamp] = []  # ``bounds`` as Timestamps (indexing a DatetimeIndex costs ~10 us)

    # --- set-up ------------------------------------------------------------------------
    def _load_replay(self) -> pd.DataFrame:
        bounds = list(self.bounds)
        s = self.scenario
        if s.history_until is not None and not any(m == "replay" for m in (s.price_model, s.fee_model, s.blocks_model)):
            data_end = mdata.load_btc_daily(copy=False)["date"].iloc[-1]  # read only
            last = min(pd.Timestamp(s.history_until), data_end + pd.Timedelta(days=1))
            bounds = [b for b in bounds if b <= last]
            if len(bounds) < 2:
                raise ScenarioError(f"history_until={s.history_until}: no whole step of the run lies before it")
        try:
            return _replay_table(tuple(bounds)).copy(deep=True)
        except mdata.DataError as exc:
            raise ScenarioError(f"replay needs the run inside the shipped data: {exc}") from None

    def _history_steps(self) -> int:
        if self.replay is None:
            return 0
        s = self.scenario
        if s.history_until is not None and "replay" not in (s.price_model, s.fee_model, s.blocks_model):
            return len(self.replay)
        return 0

    def replays_step(self, step: int, model_name: str) -> bool:
        """True when a driver set to ``model_name`` reads the data at ``step``."""
        return model_name == "replay" or step < self.history_steps

    def _data_price_at_start(self) -> float:
        daily = mdata.load_btc_daily(copy=False)  # read only
        day = daily.loc[daily["date"] == pd.Timestamp(self.scenario.start_date)]
        if day.empty:
            raise ScenarioError(
                f"price_initial_usd: the start date {self.scenario.start_date} is outside the shipped data "
                f"({daily['date'].iloc[0].date()} .. {daily['date'].iloc[-1].date()}); set price_initial_usd"
            )
        return float(day["price_usd"].iloc[0])

    def _build_price_path(self) -> price.PricePath:
        s = self.scenario
        if s.price_model == "replay":
            base: price.PricePath = price.SeriesPrice(self.replay["price_usd"].to_numpy())
        elif self.history_steps:
            history = self.replay["price_usd"].to_numpy()
            then = self._stochastic_price(float(history[-1]))
            base = price.SplicedPrice(price.SeriesPrice(history), then, self.history_steps)
        elif s.price_model == "csv":
            series = mdata.load_price_csv(s.price_csv_path)
            per_step = []
            for start, end in zip(self.bounds[:-1], self.bounds[1:]):
                window = series[(series["date"] >= start) & (series["date"] < end)]
                if window.empty:
                    raise ScenarioError(
                        f"price_csv_path {s.price_csv_path}: no price for the step {start.date()}..{end.date()}"
                    )
                per_step.append(float(window["price_usd"].mean()))
            base = price.SeriesPrice(per_step)
        else:
            p0 = s.price_initial_usd if s.price_initial_usd is not None else self._data_price_at_start()
            base = self._stochastic_price(p0)
        if s.price_shocks:
            base = price.ShockedPrice(base, [(sh.step, sh.change) for sh in s.price_shocks])
        return base

    def _stochastic_price(self, p0: float) -> price.PricePath:
        s = self.scenario
        if s.price_model == "gbm":
            return price.GBMPrice(p0, s.price_drift_per_year, s.price_volatility_per_year)
        return price.RegimeSwitchingPrice(
                    p0,
                    s.price_bull_drift_per_year,
                    s.price_bull_volatility_per_year,
                    s.price_bear_drift_per_year,
                    s.price_bear_volatility_per_year,
                    s.price_bull_to_bear_per_year,
                    s.price_bear_to_bull_per_year,
                    s.price_jump_intensity_per_year,
                    s.price_jump_mean_log,
                    s.price_jump_std_log,
                )

    def initial_height(self) -> int:
        s = self.scenario
        if s.initial_block_height is not None:
            return s.initial_block_height
        daily = mdata.load_btc_daily(copy=False)  # read only
        start = pd.Timestamp(s.start_date)
        last = daily["date"].iloc[-1]
        if start <= last:
            return mdata.block_height_at_start_of(start)
        extra_days = (start - last).days - 1
        end_height = mdata.block_height_at_start_of(last) + int(daily["blocks"].iloc[-1])
        return end_height + extra_days * protocol.TARGET_BLOCKS_PER_DAY

    def initial_network_hashrate_ehs(self) -> float:
        """The scenario's value, else the data's mean over the month before the start."""
        s = self.scenario
        if s.initial_network_hashrate_ehs is not None:
            return s.initial_network_hashrate_ehs
        daily = mdata.load_btc_daily(copy=False)  # read only
        start = pd.Timestamp(s.start_date)
        window = daily[(daily["date"] < start) & (daily["date"] >= start - pd.DateOffset(months=1))]
        rate = window["hashrate_ths"].dropna()
        if rate.empty:
            raise ScenarioError(
                f"initial_network_hashrate_ehs: the shipped data has no hashrate in the month before "
                f"{s.start_date} (it ends in 2022 on purpose); set initial_network_hashrate_ehs"
            )
        return float(rate.mean()) / TH_PER_EH

    def hashrate_before_start(self, months: int) -> np.ndarray:
        """Monthly mean network hashrate (EH/s) of up to ``months`` whole months before the start,
        oldest first, where the shipped data has it (public history a miner could see)."""
        return _hashrate_before(pd.Timestamp(self.scenario.start_date), months).copy()

    # --- per step -----------------------------------------------------------------------
    def step_dates(self, step: int) -> tuple[pd.Timestamp, pd.Timestamp]:
        while step + 1 >= len(self.bounds):
            if self.replay is not None and not self.history_steps:
                raise ScenarioError(
                    f"months: the replay covers {len(self.bounds) - 1} steps; step {step} is past the data"
                )
            more = step_boundaries(self.bounds[-1].date(), 12, self.scenario.step_unit)
            self.bounds = self.bounds.append(more[1:])
        if len(self._bound_dates) != len(self.bounds):
            self._bound_dates = list(self.bounds)
            # whole days of each step and since the start, for all steps in two vector operations
            # (the same ``Timedelta.days`` as one subtraction of Timestamps a step, at ~10 us each)
            self._step_days = np.asarray((self.bounds[1:] - self.bounds[:-1]).days)
            self._days_elapsed = np.asarray((self.bounds - self.bounds[0]).days)
            # and whole days from the makers' capacity anchor (``asic_capacity_ehs_per_month``)
            self._days_from_asic_anchor = np.asarray((self.bounds - ASIC_CAPACITY_ANCHOR).days)
        return self._bound_dates[step], self._bound_dates[step + 1]

    def _replay_value(self, step: int, column: str) -> float:
        """One step's figure from the replay table, read from a numpy column (a row of the
        DataFrame costs ~50 us a step; the same number)."""
        values = self._replay_columns.get(column)
        if values is None:
            values = self._replay_columns[column] = self.replay[column].to_numpy()
        return float(values[step])

    def observe(self, step: int) -> MarketState:
        s = self.scenario
        start, end = self.step_dates(step)
        days = float(self._step_days[step])
        dt_years = days / DAYS_PER_YEAR
        years = float(self._days_elapsed[step]) / DAYS_PER_YEAR
        btc = self.price_path.next_price(step, dt_years, self.rng)
        if self.fee_share_path is not None:
            fee_share = self.fee_share_path.next_share(step, dt_years, self.rng)
        if self.replays_step(step, s.fee_model):
            fees_btc, issuance_btc = self._replay_value(step, "fees_btc"), self._replay_value(step, "issuance_btc")
            fee_share = float(fees_btc / issuance_btc) if issuance_btc > 0 else 0.0
        multiplier = s.power_price_multiplier * power.apply_power_shocks(
            step, [(p.step, p.duration, p.change) for p in s.power_shocks]
        )
        frontier = asic.frontier_efficiency_j_per_th(
            years, s.asic_frontier_initial_j_per_th, s.asic_frontier_improvement_per_year, s.asic_frontier_floor_j_per_th
        )
        demand = self.ai_demand_at(years)
        self.state = MarketState(step, start, days, float(btc), float(fee_share), float(multiplier),
                                 float(frontier), float(demand), years)
        return self.state

    def ai_demand_at(self, years: float) -> float:
        s = self.scenario
        # the fields the curve is built from, as they are (the path list by identity first: a
        # scenario's assigned fields are new objects, so this finds the cache's key without
        # rebuilding it from every dated point each step)
        fields = (s.ai_demand_model, s.ai_demand_max_mw, s.ai_demand_midpoint_years, s.ai_demand_steepness_per_year,
                  s.ai_demand_initial_mw, s.ai_bust_years, s.ai_bust_floor_share, s.ai_bust_speed_per_year,
                  s.start_date, s.ai_demand_path)
        cached = getattr(self, "_ai_demand_curve", None)
        if cached is not None and cached[3] == fields:
            return self._ai_demand_from(cached, years)
        params = dict(
            max_mw=s.ai_demand_max_mw,
            midpoint_years=s.ai_demand_midpoint_years,
            steepness_per_year=s.ai_demand_steepness_per_year,
            initial_mw=s.ai_demand_initial_mw,
        )
        if s.ai_demand_model == "boom_bust":
            params.update(
                bust_years=s.ai_bust_years, bust_floor_share=s.ai_bust_floor_share, bust_speed_per_year=s.ai_bust_speed_per_year
            )
        # the curve with its parameters checked once (``ai.demand_curve``), and the dated history in
        # years since the start as ``observe`` counts them, with the hand-over's shift, while they stay the same
        key = (s.ai_demand_model, tuple(params.items()), s.start_date,
               tuple((p.date, p.mw) for p in s.ai_demand_path))
        if cached is None or cached[0] != key:
            curve, dated = ai.demand_curve(s.ai_demand_model, **params), None
            if s.ai_demand_path:
                dates, mws = ai.dated_points([(p.date - s.start_date).days / DAYS_PER_YEAR for p in s.ai_demand_path],
                                             [p.mw for p in s.ai_demand_path])
                dated = (dates, mws, ai.handover_shift_years(s.ai_demand_model, params, float(dates[-1]), float(mws[-1])))
            cached = (key, curve, dated, fields)
        else:
            cached = (*cached[:3], fields)
        self._ai_demand_curve = cached
        return self._ai_demand_from(cached, years)

    @staticmethod
    def _ai_demand_from(cached: tuple, years: float) -> float:
        """The demand at ``years`` from ``ai_demand_at``'s cached curve and dated history."""
        _, curve, dated, _ = cached
        if dated is None:
            return float(curve(years))
        dates, mws, shift = dated
        return ai.dated_then_curve(years, dates, mws, curve, shift)

    def site_power_prices(self, base_usd_per_mwh: np.ndarray) -> np.ndarray:
        st = self.state
        return power.power_price_usd_per_mwh(
            base_usd_per_mwh, st.date.month, self.scenario.power_seasonal_amplitude,
            self.scenario.power_peak_month, st.power_multiplier,
        )

    # --- before the first step --------------------------------------------------------------
    def starting_price_usd(self) -> float:
        """The price the price path starts from, before its first step (unwrapping shocks and splices)."""
        path = self.price_path
        while True:
            if hasattr(path, "history"):
                path = path.history
            elif hasattr(path, "base"):
                path = path.base
            else:
                break
        if hasattr(path, "prices"):
            return float(path.prices[0]) if len(path.prices) else float("nan")
        return float(getattr(path, "level", float("nan")))

    def starting_fee_share(self) -> float:
        """Fees as a share of the subsidy at the start: the first replayed step's, else the scenario's."""
        s = self.scenario
        if self.replay is not None and len(self.replay) and self.replays_step(0, s.fee_model):
            row = self.replay.iloc[0]
            return float(row["fees_btc"] / row["issuance_btc"]) if row["issuance_btc"] > 0 else 0.0
        return s.fee_share_initial if s.fee_share_initial is not None else s.fee_share_mean

    def reward_usd_per_day(self) -> float:
        """USD the whole network earns per day this step, whatever its hashrate: the data's
        blocks in a replay, else 144 blocks (the rate difficulty steers toward) at today's
        subsidy plus fees. Divided by the hashrate that mines, it is the hashprice once
        difficulty has caught up with that hashrate."""
        st = self.state
        if self.replays_step(st.step, self.scenario.blocks_model):
            if self._replay_reward_btc is None:  # a numpy column: this is called in the fixed point's loop
                self._replay_reward_btc = (self.replay["issuance_btc"] + self.replay["fees_btc"]).to_numpy(float)
            return float(self._replay_reward_btc[st.step] / st.days * st.btc_price_usd)
        reward = self.subsidy_per_block_now() * (1.0 + st.fee_share)
        return float(reward * protocol.TARGET_BLOCKS_PER_DAY * st.btc_price_usd)

    def hashprice_at_difficulty(self) -> float:
        """USD per PH/s per day a miner earns this step at the current difficulty proxy."""
        return self.reward_usd_per_day() / (self.chain.difficulty_hashrate_ehs * protocol.PH_PER_EH)

    def subsidy_per_block_now(self) -> float:
        return protocol.subsidy_btc(int(self.chain.height))

    def settle_chain(self, hashrate_ehs: float) -> ChainOutcome:
        """Advance the chain with the network's realised hashrate and price the step's rewards."""
        st = self.state
        if self.replays_step(st.step, self.scenario.blocks_model):
            # blocks and issuance are the data's; the difficulty proxy follows the modelled
            # hashrate (the data's own difficulty after 2022 is not used: it is the answer)
            blocks, issuance = self._replay_value(st.step, "blocks"), self._replay_value(st.step, "issuance_btc")
            epoch_blocks = (self.chain.epoch_blocks + blocks) % protocol.RETARGET_INTERVAL_BLOCKS
            self.chain = protocol.ChainState(self.chain.height + blocks, hashrate_ehs, epoch_blocks,
                                             epoch_blocks / protocol.TARGET_BLOCKS_PER_DAY)
        else:
            start_height = self.chain.height
            self.chain, blocks = protocol.advance_chain(self.chain, hashrate_ehs, st.days)
            issuance = protocol.subsidy_for_blocks(start_height, blocks)
        if self.replays_step(st.step, self.scenario.fee_model) and self.replays_step(st.step, self.scenario.blocks_model):
            fees_btc = self._replay_value(st.step, "fees_btc")
        else:
            fees_btc = st.fee_share * issuance
        revenue = (issuance + fees_btc) * st.btc_price_usd
        if hashrate_ehs > 0 and blocks > 0:
            hashprice = float(protocol.hashprice_usd_per_ph_day(st.btc_price_usd, issuance / blocks, fees_btc / blocks,
                                                                blocks / st.days, hashrate_ehs))
        else:
            hashprice = self.hashprice_at_difficulty()
        return ChainOutcome(blocks, issuance, fees_btc, revenue, self.chain.height,
                            self.chain.difficulty_hashrate_ehs, hashprice)

    def machine_price_usd_per_th(self, hashprice: float, backlog_ehs: float | None = None) -> float:
        """Frontier $/TH: the earning-power price at this hashprice, cleared against ASIC supply
        when the machine backlog on order is given (``asic.clearing_price_usd_per_th``)."""
        s = self.scenario
        value = asic.machine_price_usd_per_th(
            hashprice, s.machine_price_reference_hashprice, s.machine_price_reference_usd_per_th,
            s.machine_price_elasticity, s.machine_price_floor_usd_per_th,
        )
        if backlog_ehs is None:
            return float(value)
        return float(asic.clearing_price_usd_per_th(
            value, backlog_ehs, self.asic_capacity_ehs_per_month(), s.asic_scarcity_elasticity,
            s.machine_price_floor_usd_per_th,
        ))

    def asic_capacity_ehs_per_month(self) -> float:
        """EH/s of new machines the makers can ship a month at this step's date."""
        s = self.scenario
        state = self.state
        cached = getattr(self, "_asic_capacity_at", None)
        # asked 3 times a step (orders, price, outcomes); a step's state is one object, made once a
        # step, and its date never changes (comparing Timestamps costs more than the check by identity)
        if cached is not None and cached[0] is state and cached[1] is s:
            return cached[2]
        if 0 <= state.step < len(self._bound_dates) and state.date is self._bound_dates[state.step]:
            days = self._days_from_asic_anchor[state.step]  # the step's own date: counted with the calendar
        else:  # a state made by hand
            days = (state.date - ASIC_CAPACITY_ANCHOR).days
        years = float(days) / DAYS_PER_YEAR
        capacity = float(asic.supply_capacity_ehs_per_month(years, s.asic_supply_capacity_ehs_per_month,
                                                            s.asic_supply_growth_per_year))
        self._asic_capacity_at = (state, s, capacity)
        return capacity

    def clear_leases(self, offer_mw: np.ndarray, reservation_rate: np.ndarray, contracted_mw: float) -> ai.LeaseClearing:
        """Clear this step's offers against tenants' demand curve (``ai.clear_lease_market``).

        Tenants want ``ai_demand_mw`` of IT at the reference rate, less above it, none at the
        greenfield choke rate, a little more below it; ``contracted_mw`` is already served at its own locked rates. The
        market's rate for new leases becomes the clearing rate (kept when nobody offers).
        """
        s = self.scenario
        result = ai.clear_lease_market(offer_mw, reservation_rate, self.state.ai_demand_mw, contracted_mw,
                                       s.ai_tenant_reference_rate_usd_per_kw_month, s.ai_choke_rate_usd_per_kw_month,
                                       s.ai_tenant_demand_elasticity_below_reference)
        if np.isfinite(result.rate_usd_per_kw_month):
            self.lease_rate_usd_per_kw_month = result.rate_usd_per_kw_month
        return result

    def months_to_next_halving(self) -> float:
        blocks_left = protocol.next_halving_height(int(self.chain.height)) - self.chain.height
        return blocks_left / protocol.TARGET_BLOCKS_PER_DAY / DAYS_PER_MONTH
