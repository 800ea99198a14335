"""The study tables of analysis.py on hand-worked runs: halted runs counted apart and never
averaged in, medians per world, and converters against miners by condition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketsim.experiments.analysis import (
    condition_mask, outcome_distribution, outcome_summary, paired_differences_by, run_counts, survival_by_condition,
)


def _runs() -> pd.DataFrame:
    """Six runs of one point per world. World True: converter survival 0.8, 0.6, 0.5, 0.9 against
    miners 0.5, 0.5, 0.6, 0.2 (runs 0-3; the x = 1 half is runs 0-1), run 4 halted (its 99s must
    never count), run 5 failed. World False: miners survive 0.4 in every ok run, run 11 halted."""
    rows = []
    conv = [0.8, 0.6, 0.5, 0.9, 99.0, np.nan]
    miner = [0.5, 0.5, 0.6, 0.2, 99.0, np.nan]
    for i in range(6):
        rows.append({"run_id": i, "point_id": 0, "replication": i, "allowed": True, "x": 1.0 if i < 2 else 2.0,
                     "status": "failed" if i == 5 else "ok", "halted": i == 4, "converter_survival_share": conv[i],
                     "miner_survival_share": miner[i], "converter_survival_advantage": conv[i] - miner[i],
                     "hhi": [0.1, 0.2, 0.3, 0.4, 99.0, np.nan][i]})
    for i in range(6):
        rows.append({"run_id": 6 + i, "point_id": 1, "replication": i, "allowed": False, "x": 1.0 if i < 2 else 2.0,
                     "status": "ok", "halted": i == 5, "converter_survival_share": np.nan,
                     "miner_survival_share": 99.0 if i == 5 else 0.4, "converter_survival_advantage": np.nan,
                     "hhi": 99.0 if i == 5 else 0.05})
    return pd.DataFrame(rows)


def test_run_counts_put_halted_and_failed_runs_apart():
    table = run_counts(_runs(), "allowed").set_index("allowed")
    assert table.loc[True].tolist() == [6, 5, 1, 1, 4]  # runs, ok, failed, halted, usable
    assert table.loc[False].tolist() == [6, 6, 0, 1, 5]
    assert run_counts(_runs()).iloc[0][["runs", "halted", "usable"]].tolist() == [12, 2, 9]


def test_halted_runs_are_never_averaged_in():
    runs = _runs()
    summary = outcome_summary(runs, ["allowed"], ["hhi"]).set_index("point_id")
    assert summary.loc[0, ["n_ok", "n_failed", "n_halted"]].tolist() == [5, 1, 1]
    assert summary.loc[0, "hhi_mean"] == pytest.approx(0.25)  # 0.1..0.4, not the halted 99
    assert summary.loc[1, "hhi_mean"] == pytest.approx(0.05)
    assert not condition_mask(runs, "hhi > 1").any()  # the halted 99s do not meet it either


def test_outcome_distribution_medians_per_world():
    dist = outcome_distribution(_runs(), ["hhi", "converter_survival_share"], by="allowed")
    on = dist[dist["allowed"]].set_index("outcome")
    assert on.loc["hhi", "n"] == 4 and on.loc["hhi", "median"] == pytest.approx(0.25)
    assert on.loc["hhi", "p05"] == pytest.approx(0.1 + 0.05 * 3 * 0.1)  # linear: 0.15 of the way from 0.1 to 0.2
    off = dist[~dist["allowed"]].set_index("outcome")
    assert off.loc["converter_survival_share", "n"] == 0 and np.isnan(off.loc["converter_survival_share", "median"])


def test_survival_by_condition_hand_worked():
    table = survival_by_condition(_runs(), ["allowed", "x"], paired="allowed")
    assert set(table["parameter"]) == {"all", "x"}  # the switch itself is not a condition
    all_ = table.iloc[0]
    # advantages 0.3, 0.1, -0.1, 0.7: mean 0.25, sd 0.3416, t(0.975, 3) = 3.182446
    assert all_["n_runs"] == 4 and all_["advantage"] == pytest.approx(0.25)
    half = 3.182446305284263 * np.std([0.3, 0.1, -0.1, 0.7], ddof=1) / 2
    assert (all_["ci_low"], all_["ci_high"]) == (pytest.approx(0.25 - half), pytest.approx(0.25 + half))
    assert all_["converter_survival"] == pytest.approx(0.7) and all_["miner_survival"] == pytest.approx(0.45)
    assert all_["share_converters_ahead"] == 0.75
    assert all_["miner_survival_no_conversion"] == pytest.approx(0.4)  # the halted run's 99 left out
    low, high = table[table["parameter"] == "x"].itertuples()
    assert (low.bin, low.n_runs, low.advantage) == ("1.0", 2, pytest.approx(0.2))
    assert (high.bin, high.n_runs, high.advantage, high.share_converters_ahead) == ("2.0", 2, pytest.approx(0.3), 0.5)


def test_paired_differences_by_bins_pairs_on_the_second_worlds_share():
    # 4 replications of one point; with the switch on the share is 0.05, 0.2, 0.2, 0.5 and y moves by
    # -1, -2, -4, -10 from 100
    share = [0.05, 0.2, 0.2, 0.5]
    on = pd.DataFrame({"replication": range(4), "s": True, "status": "ok", "share": share,
                       "y": [99.0, 98.0, 96.0, 90.0]})
    off = pd.DataFrame({"replication": range(4), "s": False, "status": "ok", "share": 0.0, "y": 100.0})
    table = paired_differences_by(pd.concat([on, off], ignore_index=True), ["s"], "s", ["y"], "share",
                                  [0.0, 0.1, 0.3, 1.0]).set_index("bin")
    assert table["n_pairs"].tolist() == [1, 2, 1]
    assert table.loc["0.1 to <0.3", "mean_diff"] == pytest.approx(-3.0)
    assert table.loc["0.1 to <0.3", "rel_diff"] == pytest.approx(-0.03)
    assert table.loc["0.3 to 1", "mean_diff"] == pytest.approx(-10.0)  # the top edge is inside the last bin


def test_timing_text_reads_the_last_session():
    from marketsim.experiments.findings import timing_text

    text = timing_text({"last_session": {"runs": 2048, "skipped": 0, "elapsed_s": 1024.0, "executor": "process pool"}})
    assert text == "2048 runs in 17.1 min (2.00 runs/s) on process pool"
    assert timing_text({}) is None  # a sweep written before the manifest kept it
