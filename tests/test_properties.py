"""Property tests: random valid scenarios, each step checked by the invariants (``marketsim.invariants``).

Every model here runs in invariant mode (conftest sets MARKETSIM_CHECK=1, and ``check=True`` is
passed besides): MW conserved across states and owners, each firm's cash identity, closed books
of leavers, no negative or non-finite numbers outside the defined missing values, the chain
consistent with the protocol, exits equal to the sum of their kinds. On top of that each run's
table must be sane (below). Hypothesis draws the scenarios; example counts are kept modest so
the suite stays within CI's budget, and the wide ranges are marked slow.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import marketsim
from marketsim import load_scenario
from marketsim.errors import ScenarioError
from marketsim.timeline import step_boundaries

START = dt.date(2023, 1, 1)
# modest by default; MARKETSIM_PROPERTY_EXAMPLES=300 for a deeper local search
EXAMPLES = int(os.environ.get("MARKETSIM_PROPERTY_EXAMPLES", "12"))
MONTHS_BY_UNIT = {"month": (1, 24), "week": (1, 6), "day": (1, 2)}  # keeps a run to a few hundred steps


@st.composite
def price_paths(draw):
    """From crashes to near zero to 100x rallies: GBM, one-step shocks, or a user CSV."""
    kind = draw(st.sampled_from(["gbm", "shocks", "csv"]))
    if kind == "gbm":
        return {"price_model": "gbm", "price_drift_per_year": draw(st.floats(-3.0, 3.0)),
                "price_volatility_per_year": draw(st.floats(0.0, 3.0))}
    if kind == "shocks":
        changes = draw(st.lists(st.sampled_from([-0.9999, -0.99, -0.5, 0.5, 3.0, 10.0]), min_size=1, max_size=3))
        steps = draw(st.lists(st.integers(0, 12), min_size=len(changes), max_size=len(changes)))
        return {"price_model": "gbm", "price_volatility_per_year": draw(st.floats(0.0, 1.0)),
                "price_shocks": [{"step": s, "change": c} for s, c in zip(steps, changes)]}
    # a CSV: a log-linear path from the start price to somewhere between 1e-4x and 100x
    end_ratio = 10 ** draw(st.floats(-4.0, 2.0))
    return {"price_model": "csv", "_csv_end_ratio": end_ratio}


@st.composite
def scenarios(draw, max_firms: int):
    unit = draw(st.sampled_from(["month", "week", "day"]))
    lo, hi = MONTHS_BY_UNIT[unit]
    ai_max = draw(st.sampled_from([0.0, 500.0, 5_000.0, 1e5, 1e6]))  # none .. far above any supply
    params = {
        "n_firms": draw(st.integers(16, max_firms)),
        "months": draw(st.integers(lo, hi)),
        "step_unit": unit,
        "history_until": None,
        "ai_demand_model": draw(st.sampled_from(["logistic", "boom_bust"])),
        "ai_demand_initial_mw": draw(st.floats(0.0, 1.0)) * ai_max,
        "ai_demand_max_mw": ai_max,
        "ai_demand_path": [],  # the curve drawn here, not the baseline's dated deals
        "conversion_capex_usd_per_mw": draw(st.floats(0.0, 5e7)),
        "site_build_capex_usd_per_mw": draw(st.floats(0.0, 5e6)),
        "ai_lease_rate_initial_usd_per_kw_month": draw(st.floats(1.0, 2000.0)),
        "ai_lease_rate_floor_usd_per_kw_month": (floor := draw(st.floats(1.0, 500.0))),
        "ai_lease_rate_cap_usd_per_kw_month": floor + draw(st.floats(0.0, 2000.0)),
        "ai_lease_term_years": draw(st.floats(0.5, 40.0)),
        "tail_debt_usd_per_mw": draw(st.sampled_from([0.0, 120_000.0, 2e6])),
        "tail_cash_usd_per_mw": draw(st.sampled_from([0.0, 60_000.0, 2e6])),
        "review_probability_per_step": draw(st.floats(0.05, 1.0)),
        **draw(price_paths()),
    }
    return params


def _write_csv(folder: Path, params: dict) -> dict:
    """Turn a drawn CSV price path into a file covering the run."""
    params = dict(params)
    ratio = params.pop("_csv_end_ratio", None)
    if ratio is None:
        return params
    days = pd.date_range(START, periods=params["months"] * 31 + 31, freq="D")
    prices = 20_000.0 * ratio ** np.linspace(0.0, 1.0, len(days))
    path = folder / "prices.csv"
    pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "price_usd": prices}).to_csv(path, index=False)
    return {**params, "price_csv_path": str(path)}


def assert_sane(result, params: dict) -> None:
    """What every finished run must look like, whatever happened in it."""
    ind = result.industry
    config = result.scenario
    assert len(ind) == len(step_boundaries(config.start_date, config.months, config.step_unit)) - 1
    assert ind["step"].tolist() == list(range(len(ind)))
    # firms leave, or enter as new operators (``entries``), nothing else changes their number
    assert (np.diff(ind["firms_active"]) == ind["entries"].to_numpy()[1:] - ind["exits"].to_numpy()[1:]).all()
    assert ind["exits_cum"].iloc[-1] == config.n_firms + ind["entries"].sum() - ind["firms_active"].iloc[-1]
    assert (ind["exits"] == ind[["bankruptcies", "voluntary_sales", "takeovers", "wind_downs"]].sum(axis=1)).all()
    assert (ind["halted"] == ~(ind["network_hashrate_ehs"] > 0)).all()
    for col in ("hhi_hashrate", "top4_share_hashrate", "public_share_hashrate"):
        mining = ind.loc[~ind["halted"], col].dropna()  # (NaN also when every miner left in the step)
        assert mining.between(0.0, 1.0 + 1e-12).all(), col
        assert ind.loc[ind["halted"], col].isna().all(), col  # missing, never a 0 or 1 taken for a result
    flows = ["revenue_mining_usd", "revenue_ai_usd", "cost_usd", "profit_usd", "capex_usd", "btc_price_usd"]
    assert np.isfinite(ind[flows].to_numpy(float)).all()
    assert ind["block_height"].is_monotonic_increasing


def _run(params: dict, seed: int):
    with tempfile.TemporaryDirectory() as folder:
        params = _write_csv(Path(folder), params)
        try:
            scenario = load_scenario("baseline", **params)
        except ScenarioError:
            return None  # an invalid combination (e.g. a lease rate outside floor..cap): not this test's subject
        result = marketsim.run(scenario, seed=seed, check=True)
    assert_sane(result, params)
    return result


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(max_firms=120), st.integers(0, 2**31 - 1))
def test_small_random_scenarios_keep_every_invariant(params, seed):
    _run(params, seed)


@pytest.mark.slow
@settings(max_examples=2 * EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios(max_firms=2_000), st.integers(0, 2**31 - 1))
def test_random_scenarios_up_to_2000_firms_keep_every_invariant(params, seed):
    _run(params, seed)


# --- extreme runs that must finish with sane outputs -----------------------------------------
def test_every_firm_bankrupt_the_model_keeps_stepping_and_reports_an_empty_industry():
    params = {"n_firms": 40, "months": 24, "history_until": None, "price_volatility_per_year": 0.0,
              "price_shocks": [{"step": 2, "change": -0.9999}], "tail_debt_usd_per_mw": 5e6,
              "tail_cash_usd_per_mw": 0.0, "ai_demand_initial_mw": 0.0, "ai_demand_max_mw": 0.0, "ai_demand_path": [],
              "entry_candidates_per_year": 0.0}  # no newcomer still building its site when the price collapses
    result = _run(params, seed=1)  # no AI tenants: nobody has rent to live on
    ind = result.industry
    assert ind["firms_active"].iloc[-1] == 0 and ind["bankruptcies"].sum() > 0
    last = ind.iloc[-1]
    assert last["halted"] and last["network_hashrate_ehs"] == 0.0
    assert math.isnan(last["hhi_hashrate"]) and math.isnan(last["hhi_mw"]) and math.isnan(last["avg_efficiency_j_per_th"])
    live = last[["mw_mining", "mw_idle", "mw_converting", "mw_ai", "mw_ai_empty", "mw_building"]].sum()
    assert live == 0.0 and last["revenue_mining_usd"] == 0.0 and last["cost_usd"] == 0.0
    # the chain still runs its clock: the price and subsidy keep being reported
    assert last["subsidy_btc"] > 0 and last["btc_price_usd"] > 0


def test_zero_ai_demand_converts_nothing():
    result = _run({"n_firms": 60, "months": 36, "history_until": None, "ai_demand_initial_mw": 0.0,
                   "ai_demand_max_mw": 0.0, "ai_demand_path": []}, seed=2)
    ind = result.industry
    assert (ind[["mw_converting", "mw_ai", "mw_ai_empty", "revenue_ai_usd"]] == 0).all().all()
    assert (result.events["kind"] != "conversion_started").all()


@pytest.mark.slow
def test_600_monthly_steps_finish_sane():
    result = _run({"n_firms": 16, "months": 600, "history_until": None}, seed=3)
    ind = result.industry
    assert len(ind) == 600
    # five halvings in 50 years: the subsidy at the end is the protocol's
    assert ind["subsidy_btc"].iloc[-1] < ind["subsidy_btc"].iloc[0] / 2**4


@pytest.mark.slow
def test_5000_firms_finish_sane():
    result = _run({"n_firms": 5_000, "months": 6, "history_until": None}, seed=4)
    assert result.industry["firms_active"].iloc[0] > 4_000
