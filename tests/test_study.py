"""The AI-pivot consolidation study (issue 16): the no-conversion counterfactual, the per-run
firm-level outcomes, paired differences over common random numbers, sampled designs crossed with a
switch, and the reduced study run through the same commands as the full one."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketsim.cli import main
from marketsim.errors import ScenarioError
from marketsim.experiments.analysis import paired_differences
from marketsim.experiments.runs import firm_outcomes, outcomes_at_date
from marketsim.experiments.sweepfile import AT_DATE_COLUMNS, FINAL_OUTCOMES, FIRM_OUTCOMES, load_sweep
from marketsim.model import IndustryModel
from marketsim.outcomes import OUTCOMES
from marketsim.runner import result_of
from marketsim.scenario import load_scenario

REPO = Path(__file__).resolve().parent.parent
STUDY = REPO / "experiments" / "studies" / "ai-pivot-consolidation"


# --- the counterfactual switch ---------------------------------------------------------------------
def _run(allowed: bool, seed: int = 7):
    sc = load_scenario("ai-pivot-20pct", n_firms=30, months=30, ai_conversion_allowed=allowed)
    model = IndustryModel(sc, rng=seed)
    model.run()
    return result_of(model, seed)


def test_without_conversion_no_ai_mw_is_started_and_prices_are_the_same():
    on, off = _run(True), _run(False)
    # with it on, this scenario (a mandated 20% pivot) does convert: the comparison can fail
    assert (on.events["kind"] == "conversion_started").sum() > 0
    assert on.industry["mw_converting"].max() > 0
    # with it off: nothing started, signed or converting at any step
    assert (off.events["kind"] == "conversion_started").sum() == 0
    assert (off.events["kind"] == "lease_signed").sum() == 0
    for col in ("mw_converting", "mw_ai", "mw_ai_empty", "ai_signed_it_mw"):
        assert off.industry[col].max() == 0.0, col
    # the market's random streams are its own: the same BTC price path and the same fee share
    # (fees per BTC issued; issuance itself follows the blocks the hashrate finds)
    np.testing.assert_array_equal(on.industry["btc_price_usd"], off.industry["btc_price_usd"])
    np.testing.assert_allclose(on.industry["fees_btc"] / on.industry["issuance_btc"],
                               off.industry["fees_btc"] / off.industry["issuance_btc"], rtol=1e-12)
    assert not on.industry["network_hashrate_ehs"].equals(off.industry["network_hashrate_ehs"])


# --- firm-level outcomes ---------------------------------------------------------------------------
def _firms() -> pd.DataFrame:
    """Four firms over two snapshots (steps 0 and 6). Firm 0 converts and survives; firm 1 converts
    and goes bankrupt between snapshots (absent at step 6); firm 2 mines and survives; firm 3 mines
    and is taken over at step 6. Firms 0 and 2 are public."""
    rows = [  # step, firm, public, state, mining, idle, converting, ai, ai_empty
        (0, 0, True, "active", 80, 0, 20, 0, 0), (0, 1, False, "active", 50, 0, 10, 0, 0),
        (0, 2, True, "active", 100, 0, 0, 0, 0), (0, 3, False, "active", 40, 0, 0, 0, 0),
        (6, 0, True, "active", 60, 10, 0, 20, 10), (6, 2, True, "active", 90, 10, 0, 0, 0),
        (6, 3, False, "taken_over", 0, 0, 0, 0, 0),
    ]
    cols = ["step", "firm_id", "is_public", "state", "mw_mining", "mw_idle", "mw_converting", "mw_ai", "mw_ai_empty"]
    return pd.DataFrame(rows, columns=cols)


def test_firm_outcomes_on_a_hand_worked_table():
    events = pd.DataFrame({"kind": ["bankruptcy", "acquisition"], "firm_id": [1, 3]})
    out = firm_outcomes(_firms(), events)
    assert out["converters"] == 2
    assert out["converter_survival_share"] == 0.5  # firm 0 of {0, 1}
    assert out["miner_survival_share"] == 0.5  # firm 2 of {2, 3}
    assert out["converter_survival_advantage"] == 0.0
    assert out["converter_bankruptcy_share"] == 0.5 and out["miner_bankruptcy_share"] == 0.0
    # public, active at the end: firm 0 (30 of 100 MW in AI) and firm 2 (0 of 100)
    assert out["mw_converted_share_public"] == pytest.approx(30 / 200)
    # without events the last snapshot decides: firm 1 never shows "bankrupt", so none did
    assert firm_outcomes(_firms())["converter_bankruptcy_share"] == 0.0
    # without a firms table (the sweep did not record firms): NaN, never a made-up 0
    assert all(np.isnan(v) for v in firm_outcomes(None).values())
    assert set(out) == set(FIRM_OUTCOMES) <= set(FINAL_OUTCOMES)


def test_miners_are_the_firms_in_business_when_the_first_firm_converted():
    # firm 0 converts from step 6 on and survives; firm 1 mines and fails before step 6 (before anyone
    # had the choice: not a miner in the comparison); firm 2 mines, in business at step 6, fails by 12;
    # firm 3 mines and survives
    rows = [  # step, firm, public, state, mining, ai
        (0, 0, True, "active", 50, 0), (0, 1, False, "active", 50, 0), (0, 2, False, "active", 50, 0),
        (0, 3, False, "active", 50, 0), (6, 0, True, "active", 30, 20), (6, 1, False, "bankrupt", 0, 0),
        (6, 2, False, "active", 50, 0), (6, 3, False, "active", 50, 0), (12, 0, True, "active", 30, 20),
        (12, 2, False, "bankrupt", 0, 0), (12, 3, False, "active", 50, 0),
    ]
    firms = pd.DataFrame(rows, columns=["step", "firm_id", "is_public", "state", "mw_mining", "mw_ai"]).assign(
        mw_idle=0.0, mw_converting=0.0, mw_ai_empty=0.0)
    events = pd.DataFrame({"kind": ["bankruptcy", "bankruptcy"], "firm_id": [1, 2]})
    out = firm_outcomes(firms, events)
    assert out["converters"] == 1 and out["converter_survival_share"] == 1.0
    assert out["miner_survival_share"] == 0.5  # firms 2 and 3; firm 1 left before the landmark
    assert out["miner_bankruptcy_share"] == 0.5 and out["converter_survival_advantage"] == 0.5
    # no firm converts (the world without conversion): no landmark, every firm is a miner
    off = firm_outcomes(firms.assign(mw_ai=0.0), events)
    assert off["miner_survival_share"] == 0.5 and off["miner_bankruptcy_share"] == 0.5  # firms 0 and 3 of 4
    assert np.isnan(off["converter_survival_share"])


def test_outcomes_at_a_date_take_the_last_step_on_or_before_it():
    dates = pd.to_datetime(["2029-11-01", "2029-12-01", "2030-01-01", "2030-02-01"])
    industry = pd.DataFrame({"date": dates, **{c: [1.0, 2.0, 3.0, 4.0] for c in AT_DATE_COLUMNS}})
    assert outcomes_at_date(industry, pd.Timestamp("2029-12-31"))["hhi_hashrate_at_date"] == 2.0
    assert outcomes_at_date(industry, pd.Timestamp("2030-01-01"))["top5_share_mw_at_date"] == 3.0
    assert outcomes_at_date(industry, None)["hhi_mw_at_date"] == 4.0  # no date: the end
    assert outcomes_at_date(industry, pd.Timestamp("2035-01-01"))["hhi_mw_at_date"] == 4.0  # run ends first
    for c in AT_DATE_COLUMNS:
        assert f"{c}_at_date" in OUTCOMES and f"{c}_at_date" in FINAL_OUTCOMES


# --- paired differences ----------------------------------------------------------------------------
def test_paired_differences_hand_worked():
    # point A (x = 1) and its pair under the switch; 5 replications: 3 clean pairs with differences
    # 1, 2, 3, one pair with a halted run, one with a failed run
    off = {"y": [10.0, 20.0, 30.0, 40.0, 50.0], "halted": [False] * 5, "status": ["ok"] * 5}
    on = {"y": [11.0, 22.0, 33.0, 99.0, np.nan], "halted": [False, False, False, True, False],
          "status": ["ok", "ok", "ok", "ok", "failed"]}
    frames = [pd.DataFrame({"replication": range(5), "x": 1.0, "switch": v, **d}) for v, d in ((False, off), (True, on))]
    runs = pd.concat(frames, ignore_index=True)
    table = paired_differences(runs, ["x", "switch"], "switch", ["y"]).iloc[0]
    assert (table["first"], table["second"]) == (False, True)
    assert (table["n_pairs"], table["n_halted"], table["n_failed"]) == (3, 1, 1)
    assert table["mean_diff"] == pytest.approx(2.0) and table["sd_diff"] == pytest.approx(1.0)
    half = 4.302652729749464 / np.sqrt(3)  # t(0.975, 2) x sd / sqrt(n)
    assert (table["ci_low"], table["ci_high"]) == (pytest.approx(2.0 - half), pytest.approx(2.0 + half))
    assert table["mean_first"] == pytest.approx(20.0) and table["mean_second"] == pytest.approx(22.0)
    with pytest.raises(ValueError, match="pairing needs two"):
        paired_differences(runs.assign(switch=runs["replication"]), ["x", "switch"], "switch", ["y"])


# --- sweep files: a sample crossed with the switch ------------------------------------------------
def _sweep(tmp_path: Path, extra: str = "", crn: str = "true", values: str = "[true, false]") -> Path:
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(f"""
        base = "baseline"
        months = 3
        replications = 2
        common_random_numbers = {crn}
        [set]
        n_firms = 10
        [design]
        method = "lhs"
        n = 3
        [parameters]
        power_price_multiplier = {{min = 0.8, max = 1.2}}
        ai_conversion_allowed = {values}
        [report]
        outcomes = ["converters"]
        paired = "ai_conversion_allowed"
        outcomes_at = 2023-02-15
        {extra}
    """))
    return path


def test_lhs_crossed_with_the_switch_pairs_points_on_the_same_seeds(tmp_path):
    plan = load_sweep(_sweep(tmp_path))
    assert plan.n_runs == 3 * 2 * 2
    assert [p["ai_conversion_allowed"] for p in plan.points] == [True, False] * 3
    for a, b in zip(plan.points[::2], plan.points[1::2]):
        assert a["power_price_multiplier"] == b["power_price_multiplier"]
    assert len({p["power_price_multiplier"] for p in plan.points}) == 3
    assert plan.seeds[:2] == plan.seeds[2:4]  # common random numbers: replication r, one seed
    assert [s.ai_conversion_allowed for s in plan.scenarios] == [True, False] * 3
    assert str(plan.spec(0).record["outcomes_at"]) == "2023-02-15"


@pytest.mark.parametrize("crn, param, values, message", [
    ("false", "ai_conversion_allowed", "[true, false]", "pairs need common_random_numbers = true"),
    ("true", "ai_lease_term_years", "[5.0, 10.0, 12.0]", "it takes 3 values; pairing needs exactly two"),
])
def test_paired_needs_two_values_under_common_random_numbers(tmp_path, crn, param, values, message):
    path = _sweep(tmp_path, crn=crn, values=values)
    path.write_text(path.read_text().replace("ai_conversion_allowed", param))
    with pytest.raises(ScenarioError, match=re.escape(message)):
        load_sweep(path)


# --- the reduced study, through the commands the README gives --------------------------------------
README_PAIRED_COLUMNS = ["outcome", "first", "second", "n_pairs", "n_halted", "n_failed", "mean_first",
                         "mean_second", "mean_diff", "ci_low", "ci_high", "sd_diff", "median_diff", "share_up"]
README_SURVIVAL_COLUMNS = ["parameter", "bin", "n_runs", "converter_survival", "miner_survival", "advantage",
                           "ci_low", "ci_high", "share_converters_ahead", "miner_survival_no_conversion"]
README_COUNT_COLUMNS = ["ai_conversion_allowed", "runs", "ok", "failed", "halted", "usable"]
README_FILES = ["paired.csv", "distribution.csv", "survival.csv", "runs_count.csv", "results-summary.md",
                "paired.png", "survival.png", "heatmap.png", "bands_ai_conversion_allowed.png"]


@pytest.mark.slow
def test_reduced_study_runs_through_sweep_and_report(tmp_path):
    readme = (STUDY / "README.md").read_text()
    quoted = README_PAIRED_COLUMNS + README_SURVIVAL_COLUMNS + README_COUNT_COLUMNS + README_FILES
    for name in quoted + FIRM_OUTCOMES + [f"{c}_at_date" for c in AT_DATE_COLUMNS]:
        assert f"`{name}`" in readme, f"README.md should quote {name}"
    out = tmp_path / "reduced"
    assert main(["sweep", str(STUDY / "reduced.toml"), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert main(["report", str(out)]) == 0
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 8 and set(runs["status"]) == {"ok"}, runs.loc[runs["status"] != "ok", "error"].tolist()
    assert set(FIRM_OUTCOMES) | {f"{c}_at_date" for c in AT_DATE_COLUMNS} | {"halted"} <= set(runs.columns)
    allowed = runs[runs["ai_conversion_allowed"]]
    assert (allowed["converters"] > 0).all()  # firms record: the firm outcomes are filled in
    paired = pd.read_csv(out / "report" / "paired.csv")
    assert list(paired.columns) == README_PAIRED_COLUMNS
    plan = load_sweep(STUDY / "reduced.toml")
    assert list(paired["outcome"]) == plan.sweep.report.outcomes
    assert (paired["n_pairs"] + paired["n_halted"] + paired["n_failed"] <= 4).all()
    summary = pd.read_csv(out / "report" / "summary.csv")
    for o in plan.sweep.report.outcomes:
        assert {f"{o}_mean", f"{o}_p05", f"{o}_p95"} <= set(summary.columns)
    report = (out / "report" / "report.md").read_text()
    assert "## Paired differences: ai_conversion_allowed" in report
    for name in README_FILES:
        assert (out / "report" / name).is_file(), name
    survival = pd.read_csv(out / "report" / "survival.csv")
    assert list(survival.columns) == README_SURVIVAL_COLUMNS and survival["parameter"].iloc[0] == "all"
    counts = pd.read_csv(out / "report" / "runs_count.csv")
    assert list(counts.columns) == README_COUNT_COLUMNS and counts["runs"].sum() == 8
    assert (counts["halted"] == runs.groupby("ai_conversion_allowed")["halted"].sum().to_numpy()).all()
    # the findings fragment quotes the same numbers as the tables
    fragment = (out / "report" / "results-summary.md").read_text()
    assert "- runs: 8 (8 planned)" in fragment and "- time: 8 runs in " in fragment  # runs/s from the manifest
    row = paired.set_index("outcome").loc["bankruptcies_cum_at_date"]
    assert f"| `bankruptcies_cum_at_date` |" in fragment and f"| {int(row['n_pairs'])} |" in fragment


def test_full_study_file_is_valid_and_large_enough():
    plan = load_sweep(STUDY / "sweep.toml")
    assert plan.n_runs >= 2000
    assert plan.base.n_firms == 200 and plan.sweep.common_random_numbers and plan.sweep.record.firms
    assert {p["ai_conversion_allowed"] for p in plan.points} == {True, False}
    caps = [p["conversion_capex_usd_per_mw"] for p in plan.points]
    assert 3e6 <= min(caps) and max(caps) <= 11e6
