"""The in-sample fit (Feb 2020 - Dec 2022) that `marketsim validate` reports, regenerated, and
the exogenous power seasons of the fit window doing what they are there for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketsim.calibration import (END_2022_FLEET_J_PER_TH, error_measures, fit_scenario, halving_response,
                                  monthly_data_hashrate_ehs)
from marketsim.runner import run
from marketsim.validation import data_halving_response, in_sample_fleet_end

pytestmark = pytest.mark.slow  # nine replays of 35 months (seconds each under the invariant checks)

VALIDATE_SEEDS = (1, 2, 3)  # validation.DEFAULT_SEEDS, at its default 200 firms


def _fit_runs(n_firms: int = 200, **overrides) -> pd.DataFrame:
    frames = []
    for seed in VALIDATE_SEEDS:
        ind = run(fit_scenario(n_firms=n_firms, **overrides), seed=seed).industry.copy()
        ind["seed"] = seed
        frames.append(ind)
    out = pd.concat(frames, ignore_index=True)
    out["date"] = pd.to_datetime(out["date"])
    return out


@pytest.fixture(scope="module")
def fit_runs():
    return _fit_runs()


def test_in_sample_hashrate_meets_the_issue_12_target(fit_runs):
    """validate's in-sample figure: the seeds' mean monthly hashrate against the data."""
    mean_rate = fit_runs.groupby("date")["network_hashrate_ehs"].mean()
    e = error_measures(mean_rate, monthly_data_hashrate_ehs().reindex(mean_rate.index))
    assert e["mape"] <= 0.09
    assert abs(e["bias"]) < 0.05  # neither systematically above nor below
    assert e["max_ape"] < 0.25


def test_the_fleet_grows_in_mw_not_only_in_efficiency(fit_runs):
    """validate's second in-sample figure: the end-2022 fleet. The survey's ~45 J/TH at ~255 EH/s
    means ~11.5 GW; before migration and best-first funding the model re-fleeted to ~29 J/TH on
    ~8.0 GW (from 7.6 GW in February 2020), +5%. The refit reaches ~34 J/TH on ~9.4 GW, +25%
    (docs/calibration.md 12.9): closer, not there."""
    fleet = in_sample_fleet_end(fit_runs)
    start = fit_runs[fit_runs["date"] == fit_runs["date"].min()]
    start_mw = float((start["mw_mining"] + start["mw_idle"]).mean())
    assert fleet["mw_machines"] > 1.2 * start_mw  # MW grew by a fifth or more (before: 5%; the data: ~50%)
    assert 32.0 < fleet["j_per_th"] < END_2022_FLEET_J_PER_TH  # less re-fleeted than before (29), short of the survey


def test_the_2020_halving_response_has_the_data_sign_and_a_sensible_size(fit_runs):
    model = halving_response(fit_runs, "2020-05-01")
    data = data_halving_response("2020-05-01")
    assert data["hashrate_change"] > 0.05  # the data: hashrate rose through the halving (+8.8%)
    assert 0.02 < model["hashrate_change"] < 2 * data["hashrate_change"]
    # the subsidy cut is in both: revenue falls by the same share (replayed blocks and price)
    assert model["revenue_change"] == pytest.approx(data["revenue_change"], rel=1e-9)


def test_the_wet_season_of_2020_keeps_old_machines_mining():
    """Without the cheap hydro season (power shocks off) the summer of 2020 mines less."""
    with_season = _fit_runs(n_firms=60)
    without = _fit_runs(n_firms=60, power_shocks=[])

    def summer(runs):
        at = runs[(runs["date"] >= "2020-06-01") & (runs["date"] <= "2020-10-01")]
        return at["network_hashrate_ehs"].mean()

    assert summer(with_season) > 1.03 * summer(without)
    # before the season the two runs are the same economy
    first = with_season[with_season["date"] < "2020-05-01"]["network_hashrate_ehs"].to_numpy()
    assert np.allclose(first, without[without["date"] < "2020-05-01"]["network_hashrate_ehs"].to_numpy())
