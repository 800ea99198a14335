"""Calibration and validation against the shipped data, and the AI-pivot accounting."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import marketsim
from marketsim import IndustryModel, load_scenario
from marketsim import data as mdata
from marketsim.calibration import error_measures, hashrate_fit, monthly_data_hashrate_ehs
from marketsim.cli import main
from marketsim.pivot import pivot_study


def test_ai_market_out_of_sample_by_hand():
    from marketsim.validation import ai_market_out_of_sample, deals_by
    nan = float("nan")
    oos = pd.DataFrame({
        "seed": [1, 1, 1, 1], "date": pd.to_datetime(["2024-11-01", "2024-12-01", "2025-01-01", "2025-02-01"]),
        "ai_signed_it_mw": [40.0, 0.0, 60.0, 50.0],
        "ai_signed_rate_min_usd_per_kw_month": [110.0, nan, 150.0, 140.0],
        "ai_signed_rate_max_usd_per_kw_month": [118.0, nan, 160.0, 145.0],
        "ai_contracted_it_mw": [40.0, 40.0, 100.0, 150.0], "ai_delivered_it_mw": [0.0, 0.0, 10.0, 30.0]})
    row = ai_market_out_of_sample(oos)[1]
    assert row["signed_it_mw_2024"] == 40.0 and row["signed_it_mw_2025"] == 110.0
    assert (row["rate_min_2024"], row["rate_max_2024"]) == (110.0, 118.0)
    assert (row["rate_min_2025"], row["rate_max_2025"]) == (140.0, 160.0)
    assert row["contracted_it_mw_end"] == 150.0 and row["delivered_share_end"] == pytest.approx(0.2)
    replay = load_scenario("halving-2024-replay")
    # as the model reads them: July (220) to October (580) 2024 is linear by days, 31 of 92 by 1 August
    assert deals_by(replay, "2024-08-01") == pytest.approx(220.0 + 360.0 * 31 / 92)
    assert deals_by(replay, "2025-11-01") == 2373.0
    assert np.isnan(deals_by(load_scenario("ai-boom-bust"), "2025-11-01"))  # no dated deals


def test_pivot_mean_case_averages_the_seeds_year_by_year():
    from marketsim.pivot import PivotCase, mean_case

    def case(noi, forgone, capex, mw):
        acc = pd.DataFrame({"ai_revenue_usd": [n / 0.8 for n in noi], "ai_noi_usd": noi,
                            "forgone_mining_margin_usd": forgone, "capex_usd": capex, "mw_ai_mean": mw,
                            "mw_ai_end": mw}, index=[2024, 2025], dtype=float)
        acc["ai_profit_usd"] = acc["ai_noi_usd"] - acc["forgone_mining_margin_usd"]
        return PivotCase("as projected", None, acc, float(sum(capex)), 1.3)

    a, b = case([10, 20], [1, 2], [50, 0], [13, 26]), case([30, 40], [3, 4], [10, 10], [26, 39])
    mean = mean_case([a, b])
    # profits 9 and 18 a year in one seed, 27 and 36 in the other: 13.5 and 31.5, mean 22.5
    assert mean.mean_profit_usd_per_year == pytest.approx(22.5)
    assert mean.npv_usd == pytest.approx((a.npv_usd + b.npv_usd) / 2)  # linear in the yearly flows
    assert mean.mean_it_mw == pytest.approx(26.0 / 1.3) and mean.conversion_capex_usd == 35.0


def test_error_measures_by_hand():
    e = error_measures([110.0, 90.0], [100.0, 100.0])
    assert e["mape"] == pytest.approx(0.10) and e["max_ape"] == pytest.approx(0.10) and e["bias"] == pytest.approx(0.0)


def test_calibrated_january_2023_start_is_the_storm_free_network_within_2_percent():
    model = IndustryModel(load_scenario("halving-2024-replay"), rng=1)
    data = monthly_data_hashrate_ehs()
    # installed: October 2022's capacity (December's mean includes the winter-storm outage)
    assert model.network_hashrate_ehs == pytest.approx(data.loc["2022-10-01"], rel=1e-3)
    # the public miners are the calibrated ones, a fifth to a quarter of the network
    public_share = (model.sites.hashrate_ehs[model.firms.is_public].sum()) / model.network_hashrate_ehs
    assert 0.2 <= public_share <= 0.3
    # what mines in January 2023 is what mined before the storm (November 2022), not December's dip
    model.step()
    assert model.network_hashrate_ehs == pytest.approx(data.loc["2022-11-01"], rel=0.02)
    assert model.network_hashrate_ehs > 1.01 * data.loc["2022-12-01"]


def test_in_sample_fit_tracks_the_data():
    result = marketsim.run("experiments/calibration/fit-2020-2022.toml", seed=1, n_firms=150)
    fit = hashrate_fit(result.industry)
    assert fit["mape"] < 0.2  # the fitted response follows 2020-2022 within a fifth on average
    ind = result.industry.set_index(pd.to_datetime(result.industry["date"]))
    # the China ban (exogenous outage) shows as a dip, and growth resumes after it
    assert ind.loc["2021-07-01", "network_hashrate_ehs"] < 0.8 * ind.loc["2021-04-01", "network_hashrate_ehs"]
    assert ind.loc["2022-10-01", "network_hashrate_ehs"] > 1.5 * ind.loc["2021-07-01", "network_hashrate_ehs"]


def test_halving_months_show_the_subsidy_cut_in_both_replays():
    fit = marketsim.run("experiments/calibration/fit-2020-2022.toml", seed=1, n_firms=40).industry
    fit = fit.set_index(pd.to_datetime(fit["date"]))
    assert fit.loc["2020-04-01", "subsidy_btc"] == 12.5 and fit.loc["2020-06-01", "subsidy_btc"] == 6.25
    daily = mdata.load_btc_daily().set_index("date")
    assert fit.loc["2020-06-01", "issuance_btc"] == pytest.approx(daily.loc["2020-06", "issuance_btc"].sum())


@pytest.mark.slow
def test_validate_writes_its_report_and_figures(tmp_path, capsys):
    out = tmp_path / "val"
    assert main(["validate", "--out", str(out), "--seeds", "1", "--firms", "60"]) == 0
    printed = capsys.readouterr().out
    for name in ("report.md", "metrics.json", "revenue_model_vs_data.png", "hashrate_model_vs_data.png",
                 "halving_response.png"):
        assert (out / name).stat().st_size > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["revenue"]["out-of-sample"]["max_ape"] < 1e-9
    assert metrics["hashrate_in_sample"]["mape"] < 0.25
    fleet = metrics["fleet_in_sample_end"]  # the second in-sample target, next to the MAPE
    assert fleet["survey_j_per_th"] == 45.0 and 20.0 < fleet["j_per_th"] < 80.0
    assert fleet["mw_machines"] >= fleet["mw_mining"] > 0
    report = (out / "report.md").read_text()
    assert "MAPE" in report and "J/TH mining (survey ~45)" in report and "13.9B" in report and "halving" in report.lower()
    # the replay's AI lease market against the deals: a row per seed, and the deals it feeds by November 2025
    assert "## AI lease market (out of sample, against the deals)" in report and "\n| 1 | " in report
    assert set(metrics["ai_market_out_of_sample"]["1"]) >= {"signed_it_mw_2024", "rate_max_2025", "delivered_share_end"}
    assert metrics["ai_deals_by_end_it_mw"] == pytest.approx(2373.0)
    # the one-line summary quotes each case's AI profit as the report's table does (NOI less forgone mining)
    for case, profit in re.findall(r"(as projected|model market) (\$-?[\d.]+B)/yr", printed):
        row = next(line for line in report.splitlines() if line.startswith(f"| {case} |"))
        assert row.split(" | ")[4] == profit, (case, profit, row)
    assert len(re.findall(r"(as projected|model market) \$", printed)) == 2


@pytest.mark.slow
def test_ai_pivot_figures_come_from_the_model_accounting(tmp_path):
    cases = pivot_study(seed=1, n_firms=60)
    for case in cases.values():
        case.result.save(tmp_path / case.name.replace(" ", "-"))
        firms = pd.read_parquet(tmp_path / case.name.replace(" ", "-") / "firms.parquet")
        public = firms[firms["is_public"]]
        years = pd.to_datetime(public["date"]).dt.year
        margin = case.result.scenario.ai_margin
        # recomputed from the saved firm table, one firm-month at a time (not through pivot.py);
        # public_ai_accounts itself is checked on a hand-made table in test_units_more.py
        noi, mw_end = {}, {}
        for row in public.itertuples():
            year = pd.Timestamp(row.date).year
            noi[year] = noi.get(year, 0.0) + row.revenue_ai_usd * margin
        last_step = public.groupby(years)["step"].max()
        for year, step in last_step.items():
            mw_end[year] = public.loc[public["step"] == step, "mw_ai"].sum()
        np.testing.assert_allclose(case.accounts["ai_noi_usd"].to_numpy(), [noi[y] for y in case.accounts.index],
                                   rtol=1e-12)
        np.testing.assert_allclose(case.accounts["mw_ai_end"].to_numpy(), [mw_end[y] for y in case.accounts.index],
                                   rtol=1e-12)
        # the public miners reach their 20% target share of MW in AI by 2028 (capped by AI-suitable MW)
        assert case.accounts.loc[2028, "mw_ai_end"] > 0
    projected, market = cases["as projected"], cases["model market"]
    assert projected.mean_noi_usd_per_year > market.mean_noi_usd_per_year  # GPU-cloud rates pay more
