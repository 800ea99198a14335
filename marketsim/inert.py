"""Which parameters cannot act in a run, and why: so an override that changes nothing is not silent.

``marketsim.run("baseline", months=24, price_volatility_per_year=0.8)`` gives the same table
as volatility 0.1: the baseline replays the data's price and fees until ``history_until``
(2025-12-01) and a 24-month run from 2023-01 ends before that. `inert_parameters` is the rule,
a pure function of the scenario; the runner and the CLI turn its answer into a warning
(`InertParameterWarning` for the API, a ``warning: ...`` line on stderr for the CLI) for the
parameters the user set explicitly.

The rule follows ``market/engine.py``: GBM reads only ``price_drift_per_year`` and
``price_volatility_per_year``; the regime model reads the bull/bear, switch and jump fields;
``replay`` and ``csv`` prices read none of them (nor ``price_initial_usd``); a replayed fee
model reads no ``fee_*`` field; the logistic AI demand reads no ``ai_bust_*`` field;
``ai_target_date`` acts only with ``ai_target_share``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pandas as pd

GBM_FIELDS = ("price_drift_per_year", "price_volatility_per_year")
REGIME_FIELDS = ("price_bull_drift_per_year", "price_bull_volatility_per_year", "price_bear_drift_per_year",
                 "price_bear_volatility_per_year", "price_bull_to_bear_per_year", "price_bear_to_bull_per_year",
                 "price_jump_intensity_per_year", "price_jump_mean_log", "price_jump_std_log")
FEE_FIELDS = ("fee_share_mean", "fee_share_initial", "fee_reversion_per_year", "fee_volatility_per_year",
              "fee_spike_intensity_per_year", "fee_spike_mean_share")
BOOM_BUST_FIELDS = ("ai_bust_years", "ai_bust_floor_share", "ai_bust_speed_per_year")
CURVE_FIELDS = ("ai_demand_initial_mw", "ai_demand_max_mw", "ai_demand_midpoint_years", "ai_demand_steepness_per_year")


class InertParameterWarning(UserWarning):
    """A parameter was set but cannot change this run (the message says why)."""


def run_end(scenario) -> dt.date:
    """The day after the run's last step (month arithmetic, as ``timeline.step_boundaries``)."""
    return (pd.Timestamp(scenario.start_date) + pd.DateOffset(months=scenario.months)).date()


def inert_parameters(scenario, names: Iterable[str] | None = None, *,
                     data_end: dt.date | None = None) -> dict[str, str]:
    """``{field: reason}`` for the fields (of ``names``, default all) that cannot act in ``scenario``.

    ``data_end``: the day after the shipped data's last day, when known; the history replay
    stops there even if ``history_until`` is later.
    """
    s = scenario
    reasons: dict[str, str] = {}

    def mark(fields: Iterable[str], why: str) -> None:
        for f in fields:
            reasons.setdefault(f, why)

    history_end = s.history_until
    if history_end is not None and data_end is not None:
        history_end = min(history_end, data_end)
    all_history = history_end is not None and "replay" not in (s.price_model, s.fee_model, s.blocks_model) \
        and run_end(s) <= history_end
    if s.price_model in ("replay", "csv"):
        why = f"price_model = {s.price_model!r} reads the price from {'the data' if s.price_model == 'replay' else 'price_csv_path'}"
        mark(GBM_FIELDS + REGIME_FIELDS + ("price_initial_usd",), why)
    elif all_history:
        mark(GBM_FIELDS + REGIME_FIELDS,
             f"the price replays the data until history_until={s.history_until} and the run ends before "
             f"({run_end(s)})")
    elif s.price_model == "gbm":
        mark(REGIME_FIELDS, "price_model = 'gbm' reads only price_drift_per_year and price_volatility_per_year")
    else:
        mark(GBM_FIELDS, "price_model = 'regime' reads the bull/bear fields, not the GBM ones")
    if s.price_model != "csv":
        mark(("price_csv_path",), f"used only with price_model = 'csv' (this run: {s.price_model!r})")
    if s.fee_model == "replay":
        mark(FEE_FIELDS, "fee_model = 'replay' reads the fees from the data")
    elif all_history:
        mark(FEE_FIELDS, f"fees replay the data until history_until={s.history_until} and the run ends before "
                         f"({run_end(s)})")
    if s.ai_demand_model != "boom_bust":
        mark(BOOM_BUST_FIELDS, f"used only with ai_demand_model = 'boom_bust' (this run: {s.ai_demand_model!r})")
    if s.ai_demand_path and s.ai_demand_path[-1].date >= run_end(s):
        last = s.ai_demand_path[-1].date
        mark(CURVE_FIELDS + BOOM_BUST_FIELDS + ("ai_demand_model",),
             f"ai_demand_path gives the demand until {last}, past the run's end")
    if s.ai_target_share is None:
        mark(("ai_target_date",), "used only with ai_target_share set")
    if names is None:
        return reasons
    wanted = set(names)
    return {f: why for f, why in reasons.items() if f in wanted}


def describe(field: str, value, why: str) -> str:
    """One line for a warning: ``price_volatility_per_year = 0.8 cannot act: ...``."""
    return f"{field} = {value!r} cannot act in this run: {why}"
