"""Sweep reports: the summary equals a recomputation from runs.parquet, figures are real PNGs,
heatmaps appear only with two parameters, Sobol indices single out the parameter that drives an
outcome, PRIM boxes restrict it in the right direction, and bad input fails clearly."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

from marketsim.experiments import StoreError, sweep
from marketsim.experiments import report as report_mod
from marketsim.experiments.report import write_report

OUTCOMES = ["total_profit_usd", "hhi_hashrate", "mw_mining"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_sweep(factory, name: str, body: str) -> str:
    """A small sweep of the bear-consolidation base (power prices bite at once); its results dir."""
    folder = factory.mktemp(name)
    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(f"""\
        name = "{name}"
        description = "report test {name}"
        base = "bear-consolidation"
        master_seed = 7
        """) + textwrap.dedent(body) + textwrap.dedent(f"""
        [set]
        n_firms = 16

        [record]
        events = false

        [report]
        outcomes = {json.dumps(OUTCOMES)}
        conditions = []
        """))
    sweep(path, out=folder / "results", workers=1, progress=False)
    return str(folder / "results")


@pytest.fixture(scope="module")
def one_param(tmp_path_factory):
    return run_sweep(tmp_path_factory, "one", """
        months = 4
        replications = 3
        [design]
        method = "grid"
        [parameters]
        power_price_multiplier = [0.8, 2.0]
        """)


@pytest.fixture(scope="module")
def two_params(tmp_path_factory):
    return run_sweep(tmp_path_factory, "two", """
        months = 4
        replications = 1
        [design]
        method = "grid"
        [parameters]
        power_price_multiplier = [0.8, 2.0]
        ai_bust_years = [2.0, 6.0]
        """)


# ai_bust_years only matters to a boom-bust AI demand model; the base's is logistic, so with common
# random numbers it cannot change anything, while the power price moves every outcome.
SAMPLED = """
    months = 6
    replications = {reps}
    common_random_numbers = true
    [design]
    method = "{method}"
    n = {n}
    [parameters]
    power_price_multiplier = {{min = 0.5, max = 3.0}}
    ai_bust_years = {{min = 1.0, max = 10.0}}
    """


@pytest.fixture(scope="module")
def saltelli_sweep(tmp_path_factory):
    return run_sweep(tmp_path_factory, "salt", SAMPLED.format(reps=2, method="saltelli", n=8))


@pytest.fixture(scope="module")
def lhs_sweep(tmp_path_factory):
    return run_sweep(tmp_path_factory, "lhs", SAMPLED.format(reps=1, method="lhs", n=30))


@pytest.fixture(scope="module")
def one_report(one_param):
    return write_report(one_param)


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, path
    assert len(data) > 5_000, path


# --- summary, files, layout ------------------------------------------------------------------------
def test_summary_csv_equals_a_recomputation_from_runs(one_param, one_report):
    summary = pd.read_csv(one_report.out_dir / "summary.csv")
    runs = pd.read_parquet(f"{one_param}/runs.parquet")
    ok = runs[runs["status"] == "ok"].groupby("point_id")
    assert summary["point_id"].tolist() == [0, 1]
    assert summary["n_ok"].tolist() == ok.size().tolist() == [3, 3]
    for o in OUTCOMES:
        np.testing.assert_allclose(summary[f"{o}_mean"], ok[o].mean().to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(summary[f"{o}_p05"], ok[o].quantile(0.05).to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(summary[f"{o}_p95"], ok[o].quantile(0.95).to_numpy(), rtol=1e-12)
    # the power price does move the outcome the tests below rely on
    assert summary["total_profit_usd_mean"].iloc[1] < summary["total_profit_usd_mean"].iloc[0]


def test_report_writes_markdown_last_and_valid_pngs(one_param, one_report):
    out = one_report.out_dir
    assert str(out) == f"{one_param}/report"
    names = [p.name for p in one_report.paths]
    assert names[-1] == "report.md" and {"summary.csv", "summary.md"} <= set(names)
    assert all(p.exists() for p in one_report.paths)
    pngs = [p for p in one_report.paths if p.suffix == ".png"]
    assert [p.name for p in pngs] == ["bands_power_price_multiplier.png"]
    for png in pngs:
        assert_png(png)
    md = (out / "report.md").read_text()
    assert "# Sweep report: one" in md and "6 ok, 0 failed" in md
    assert "](bands_power_price_multiplier.png)" in md and "| point_id | power_price_multiplier |" in md
    assert "power_price_multiplier" in (out / "summary.md").read_text()


def test_one_parameter_has_no_heatmap_and_says_why(one_report):
    assert not (one_report.out_dir / "heatmap.png").exists()
    assert any("at least two swept parameters" in n for n in one_report.notes)
    assert any("Sobol" in n and "'grid'" in n for n in one_report.notes)
    assert "at least two swept parameters" in (one_report.out_dir / "report.md").read_text()


def test_two_parameter_grid_gets_a_heatmap(two_params, tmp_path):
    rep = write_report(two_params, tmp_path / "rep")
    assert_png(rep.out_dir / "heatmap.png")
    assert not any("heatmap" in n for n in rep.notes)  # a grid is drawn as it is, no bins
    assert {p.name for p in rep.paths} >= {"bands_power_price_multiplier.png", "bands_ai_bust_years.png"}
    assert "](heatmap.png)" in (rep.out_dir / "report.md").read_text()


def test_rewriting_replaces_the_report_and_leaves_no_temporaries(one_param, one_report, tmp_path):
    out = tmp_path / "rep"
    write_report(one_param, out, outcomes=["mw_mining"])
    rep = write_report(one_param, out, outcomes=["hhi_hashrate"])
    assert pd.read_csv(out / "summary.csv").filter(like="_mean").columns.tolist() == ["hhi_hashrate_mean"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
    assert sorted(p.name for p in out.iterdir()) == sorted([".marketsim-output"] + [p.name for p in rep.paths])


def test_a_failure_midway_keeps_the_previous_report(one_param, tmp_path, monkeypatch):
    out = tmp_path / "rep"
    write_report(one_param, out, outcomes=["mw_mining"])
    before = (out / "report.md").read_text()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_mod, "_heatmap", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(one_param, out, outcomes=["hhi_hashrate"])
    assert (out / "report.md").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]


# --- errors ----------------------------------------------------------------------------------------
def test_missing_or_corrupt_results_dir_raises_store_error(tmp_path):
    with pytest.raises(StoreError, match="no such sweep folder"):
        write_report(tmp_path / "nope")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    with pytest.raises(StoreError, match="corrupt"):
        write_report(tmp_path / "bad")


def test_unknown_names_raise_value_error_naming_them(two_params, tmp_path):
    with pytest.raises(ValueError, match=r"outcome 'no_such_outcome'.*available:.*hhi_hashrate"):
        write_report(two_params, tmp_path / "a", outcomes=["hhi_hashrate", "no_such_outcome"])
    with pytest.raises(ValueError, match=r"'nonsense'.*available:.*mw_mining"):
        write_report(two_params, tmp_path / "b", conditions=["nonsense > 1"])
    with pytest.raises(ValueError, match="expected 'outcome > number'"):
        write_report(two_params, tmp_path / "c", conditions=["hhi_hashrate is big"])
    with pytest.raises(ValueError, match=r"'n_firms'.*available: power_price_multiplier, ai_bust_years"):
        write_report(two_params, tmp_path / "d", heatmap=["power_price_multiplier", "n_firms"])
    assert not any(tmp_path.iterdir())  # nothing written for a bad request


def test_refuses_to_replace_a_folder_that_is_not_a_report(two_params):
    with pytest.raises(ValueError, match="holds a marketsim sweep output, not a report output"):
        write_report(two_params, two_params)
    assert (pd.read_parquet(f"{two_params}/runs.parquet")["status"] == "ok").all()


# --- Sobol -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sobol_total_index_singles_out_the_driving_parameter(saltelli_sweep, tmp_path):
    rep = write_report(saltelli_sweep, tmp_path / "rep")
    sobol = pd.read_csv(rep.out_dir / "sobol.csv")
    assert len(sobol) == 2 * len(OUTCOMES)
    assert set(zip(sobol["outcome"], sobol["parameter"])) == {
        (o, p) for o in OUTCOMES for p in ("power_price_multiplier", "ai_bust_years")}
    st = sobol.set_index(["outcome", "parameter"])["ST"]
    for o in OUTCOMES:
        assert st[o, "power_price_multiplier"] > 0.5, sobol
        assert abs(st[o, "ai_bust_years"]) < 0.05, sobol
    assert_png(rep.out_dir / "sobol.png")
    assert_png(rep.out_dir / "heatmap.png")  # sampled values, binned into a coarse grid
    assert any("quantile bins" in n for n in rep.notes)


@pytest.mark.slow
def test_sobol_without_salib_is_noted_not_written(saltelli_sweep, tmp_path, monkeypatch):
    monkeypatch.setattr(report_mod, "_available", lambda module: module != "SALib")
    rep = write_report(saltelli_sweep, tmp_path / "rep", outcomes=["mw_mining"])
    assert not (rep.out_dir / "sobol.csv").exists()
    assert any("SALib is not installed" in n for n in rep.notes)
    assert "SALib is not installed" in (rep.out_dir / "report.md").read_text()


# --- PRIM ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_prim_box_restricts_the_driving_parameter_upwards(lhs_sweep, tmp_path):
    runs = pd.read_parquet(f"{lhs_sweep}/runs.parquet")
    threshold = float(runs["total_profit_usd"].median())
    driven = f"total_profit_usd < {threshold:.6g}"  # low profit: high power prices
    rep = write_report(lhs_sweep, tmp_path / "rep", outcomes=["total_profit_usd"],
                       conditions=[driven, "total_profit_usd < -1e30", "total_profit_usd > -1e30"])
    box = pd.read_csv(next(p for p in rep.paths if p.name.startswith("prim_"))).set_index("parameter")
    power = box.loc["power_price_multiplier"]
    assert power["restricted"] and power["lower"] > 1.0 and power["lower"] > power["sampled_min"]
    assert power["upper"] == power["sampled_max"]
    assert box["density"].iloc[0] >= 0.8 and box["coverage"].iloc[0] > 0.5
    inside = runs["power_price_multiplier"].between(power["lower"], power["upper"])
    assert (runs.loc[inside, "total_profit_usd"] < threshold).mean() >= 0.8
    assert len([p for p in rep.paths if p.name.startswith("prim_")]) == 1
    assert any("-1e30`: no ok run meets it" in n for n in rep.notes)
    assert any("-1e30`: every ok run meets it" in n for n in rep.notes)
    assert "power_price_multiplier" in (rep.out_dir / "report.md").read_text().split("PRIM")[-1]


@pytest.mark.slow
def test_prim_degenerate_cases_are_notes(one_param, tmp_path, monkeypatch):
    means = pd.read_parquet(f"{one_param}/runs.parquet").groupby("point_id")["total_profit_usd"].mean()
    cond = f"total_profit_usd < {means.mean():.6g}"  # exactly the runs at the higher power price
    rep = write_report(one_param, tmp_path / "one", conditions=[cond])
    assert any("only one parameter" in n for n in rep.notes)
    box = pd.read_csv(next(p for p in rep.paths if p.name.startswith("prim_")))
    assert box["lower"].iloc[0] > 0.8 and box["upper"].iloc[0] == 2.0
    monkeypatch.setattr(report_mod, "PRIM_THRESHOLD", 1.01)
    rep = write_report(one_param, tmp_path / "none", conditions=[cond])
    assert any("PRIM found no box" in n for n in rep.notes)
    monkeypatch.setattr(report_mod, "_available", lambda module: module != "ema_workbench")
    rep = write_report(one_param, tmp_path / "noema", conditions=[cond])
    assert any("ema_workbench is not installed" in n for n in rep.notes)
    assert not any(p.name.startswith("prim_") for p in rep.paths)
