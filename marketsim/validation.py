"""`marketsim validate`: the model side by side with what really happened.

Two replays with real price, fees and blocks found, both with hashrate produced by the agents:

- **in-sample** (``experiments/calibration/fit-2020-2022.toml``, Feb 2020 - Dec 2022): the
  window the hashrate response was fitted on; the data has network hashrate here, so the
  report shows model vs data and the error measures;
- **out-of-sample** (``experiments/halving-2024-replay.toml``, Jan 2023 - Nov 2025): the
  calibrated industry of end-2022 through the April 2024 halving. The data deliberately has no
  hashrate here; the report shows what the model produces (across seeds) for comparison with
  outside figures, and the revenue check (model revenue = the data's arithmetic, every month).

Written to ``DIR``: ``report.md``, ``metrics.json`` and PNG figures. Each replay runs over
several seeds (the tail of private miners is random); bands are the min-max over seeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from marketsim import data as mdata
from marketsim import figures, output
from marketsim.experiments import batch
from marketsim.calibration import (END_2022_FLEET_J_PER_TH, FIT_GRID, FIT_SCENARIO, HALVING_WINDOW_MONTHS,
                                  error_measures, halving_response, monthly_data_hashrate_ehs)
from marketsim.scenario import load_scenario
from marketsim.units import format_share

OUT_OF_SAMPLE = "halving-2024-replay"
DEFAULT_SEEDS = (1, 2, 3)
HALVING_DATES = ("2020-05-11", "2024-04-20")  # blocks 630,000 and 840,000 (marked on the hashrate figure)
FIGURE_DPI = 110


def monthly_data_revenue_usd() -> pd.Series:
    daily = mdata.load_btc_daily()
    revenue = (daily["issuance_btc"] + daily["fees_btc"]) * daily["price_usd"]
    return revenue.groupby(daily["date"].dt.to_period("M").dt.to_timestamp()).sum()


def _runs(scenario, seeds, n_firms, workers: int | None = 1):
    config = load_scenario(scenario, n_firms=n_firms)
    tables = batch.industry_tables([(config, seed) for seed in seeds], workers)
    out = pd.concat([ind.assign(seed=seed) for ind, seed in zip(tables, seeds)], ignore_index=True)
    out["date"] = pd.to_datetime(out["date"])
    return out


# What the listed miners reported as their cost of a bitcoin in 2023-24 (the comparison
# range, from their own reports; a comparison for the replay's output, never used to fit anything)
LISTED_MINERS_CASH_COST_USD_PER_BTC = (56_000, 82_000)


def out_of_sample_by_year(oos: pd.DataFrame) -> dict[int, dict[str, float]]:
    """Per year of the replay (mean over seeds): mean hashprice and cost to mine a BTC, and at
    the last month of the year the fleet's efficiency and the public miners' EH/s."""
    out = {}
    for year, g in oos.groupby(oos["date"].dt.year):
        last = g[g["date"] == g["date"].max()]
        out[int(year)] = {
            "hashprice_usd_per_ph_day": float(g["hashprice_usd_per_ph_day"].mean()),
            "cost_to_mine_btc_usd": float(g["cost_to_mine_btc_usd"].mean()),
            "efficiency_j_per_th_year_end": float(last["avg_efficiency_j_per_th"].mean()),
            "public_miners_ehs_year_end": float((last["public_share_hashrate"] * last["network_hashrate_ehs"]).mean()),
            "network_ehs_year_end": float(last["network_hashrate_ehs"].mean()),
        }
    return out


# The AI deals the replay's lease market is read against (docs/calibration.md sections 4, 6.4 and 7.1;
# AI-market facts, exogenous drivers, never hashrate): the deals' rates (contract value over MW and
# term, 2024-25), the IT MW signed at miners' sites by end-2023 and by end-2024, what of the deals by
# late 2025 was on interconnects public at end-2022, and the share delivered by late 2025
DEALS_RATE_RANGE_USD_PER_KW_MONTH = (100.0, 180.0)
DEALS_SIGNED_BY_YEAR_END_IT_MW = {2023: 20.0, 2024: 500.0}
DEALS_COMPARABLE_IT_MW = (1_400.0, 1_900.0)
DEALS_DELIVERED_SHARE = 0.25


def ai_market_out_of_sample(oos: pd.DataFrame) -> dict[int, dict[str, float]]:
    """Per seed of the replay: IT MW signed in each year, the range of rates signed in each year
    (NaN in a year with no signing), IT MW under lease at the end and the share of it delivered."""
    out = {}
    for seed, g in oos.groupby("seed"):
        g = g.sort_values("date")
        years = g["date"].dt.year
        row = {}
        for year, y in g.groupby(years):
            row[f"signed_it_mw_{year}"] = float(y["ai_signed_it_mw"].sum())
            row[f"rate_min_{year}"] = float(y["ai_signed_rate_min_usd_per_kw_month"].min())
            row[f"rate_max_{year}"] = float(y["ai_signed_rate_max_usd_per_kw_month"].max())
        last = g.iloc[-1]
        row["contracted_it_mw_end"] = float(last["ai_contracted_it_mw"])
        row["delivered_share_end"] = (float(last["ai_delivered_it_mw"] / last["ai_contracted_it_mw"])
                                      if last["ai_contracted_it_mw"] > 0 else float("nan"))
        out[int(seed)] = row
    return out


def deals_by(scenario, day) -> float:
    """IT MW of the scenario's dated deals (``ai_demand_path``) wanted on ``day``, read as the model
    reads them (linear between the points, by days); NaN without dated deals."""
    path = scenario.ai_demand_path
    if not path:
        return float("nan")
    days = [(p.date - path[0].date).days for p in path]
    return float(np.interp((pd.Timestamp(day).date() - path[0].date).days, days, [p.mw for p in path]))


def in_sample_fleet_end(runs: pd.DataFrame) -> dict[str, float]:
    """The in-sample window's second target: the fleet at its last month (December 2022), mean over
    seeds, against the Q4-2022 survey's network average (``calibration.END_2022_FLEET_J_PER_TH``)."""
    last = runs[runs["date"] == runs["date"].max()]
    return {"j_per_th": float(last["avg_efficiency_j_per_th"].mean()),
            "mw_machines": float((last["mw_mining"] + last["mw_idle"]).mean()),
            "mw_mining": float(last["mw_mining"].mean()),
            "survey_j_per_th": END_2022_FLEET_J_PER_TH}


def data_halving_response(halving_month: str) -> dict[str, float]:
    """The same measure on the data (only where it has hashrate, i.e. up to 2022)."""
    month = pd.Timestamp(halving_month)
    rate = monthly_data_hashrate_ehs()
    rev = monthly_data_revenue_usd().reindex(rate.index)
    hp = figures.data_hashprice_usd_per_ph_day(rev, rate)
    before = (rate.index < month) & (rate.index >= month - pd.DateOffset(months=HALVING_WINDOW_MONTHS))
    after = (rate.index > month) & (rate.index <= month + pd.DateOffset(months=HALVING_WINDOW_MONTHS))
    if not before.any() or not after.any():
        return {}
    return {
        "hashrate_change": float(rate[after].mean() / rate[before].mean() - 1),
        "hashprice_change": float(hp[after].mean() / hp[before].mean() - 1),
        "revenue_change": float(rev[after].mean() / rev[before].mean() - 1),
    }


@dataclass
class ValidationReport:
    out_dir: Path
    metrics: dict = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)


def validate(out_dir: str | Path, seeds=DEFAULT_SEEDS, n_firms: int = 200, appendix=None,
             workers: int | None = 1) -> ValidationReport:
    """Write the validation report into ``out_dir``, atomically and only where `marketsim.output`
    allows; ``appendix()`` (optional) returns more Markdown for report.md (the CLI's pivot study);
    ``workers``: the replays' worker processes (1: in this process), as for a sweep."""
    with output.staged(out_dir, "validation") as staging:
        report = _validate_into(staging, seeds, n_firms, workers)
        if appendix is not None:
            with open(staging / "report.md", "a") as fh:
                fh.write(appendix())
    report.out_dir = Path(out_dir)
    return report


def _validate_into(out: Path, seeds, n_firms: int, workers: int | None = 1) -> ValidationReport:
    report = ValidationReport(out)
    data_rate = monthly_data_hashrate_ehs()
    data_rev = monthly_data_revenue_usd()

    ins = _runs(FIT_SCENARIO, seeds, n_firms, workers)
    oos = _runs(OUT_OF_SAMPLE, seeds, n_firms, workers)
    both = pd.concat([ins.assign(window="in-sample"), oos.assign(window="out-of-sample")], ignore_index=True)

    # revenue: the model's industry revenue is the data's arithmetic in every replayed month
    rev = both.groupby(["window", "date"])["revenue_mining_usd"].mean().reset_index()
    rev["data_usd"] = data_rev.reindex(rev["date"]).to_numpy()
    report.metrics["revenue"] = {w: error_measures(g["revenue_mining_usd"], g["data_usd"])
                                 for w, g in rev.groupby("window")}

    # hashrate, in-sample only (the data has none after 2022)
    mean_rate = ins.groupby("date")["network_hashrate_ehs"].mean()
    report.metrics["hashrate_in_sample"] = error_measures(mean_rate, data_rate.reindex(mean_rate.index))
    report.metrics["hashrate_in_sample_by_seed"] = {
        int(seed): error_measures(g["network_hashrate_ehs"], data_rate.reindex(g["date"]))
        for seed, g in ins.groupby("seed")
    }
    report.metrics["fleet_in_sample_end"] = in_sample_fleet_end(ins)
    oos_year_end = oos[oos["date"].dt.month.isin([12, 11])].groupby(oos["date"].dt.year)["network_hashrate_ehs"]
    report.metrics["hashrate_out_of_sample_year_end_ehs"] = {
        int(y): {"mean": float(g.mean()), "min": float(g.min()), "max": float(g.max())} for y, g in oos_year_end
    }
    report.metrics["out_of_sample_by_year"] = out_of_sample_by_year(oos)
    report.metrics["halving_2020"] = {"model": halving_response(ins, "2020-05-01"), "data": data_halving_response("2020-05-01")}
    report.metrics["halving_2024"] = {"model": halving_response(oos, "2024-04-01")}
    report.metrics["ai_market_out_of_sample"] = ai_market_out_of_sample(oos)
    report.metrics["ai_deals_by_end_it_mw"] = deals_by(load_scenario(OUT_OF_SAMPLE), oos["date"].max())
    report.metrics["seeds"] = list(seeds)
    report.metrics["n_firms"] = n_firms

    # figures
    data_hp = figures.data_hashprice_usd_per_ph_day(data_rev, data_rate)
    drawn = {
        "revenue_model_vs_data.png": figures.revenue_figure(data_rev, rev),
        "hashrate_model_vs_data.png": figures.hashrate_figure(ins, oos, data_rate, list(HALVING_DATES)),
        "halving_response.png": figures.halving_figure([(ins, "2020-05-01", "May 2020 halving", data_hp),
                                                        (oos, "2024-04-01", "April 2024 halving", None)]),
    }
    for name, fig in drawn.items():
        fig.savefig(out / name, dpi=FIGURE_DPI)
        report.figures.append(name)

    (out / "metrics.json").write_text(json.dumps(report.metrics, indent=2))
    (out / "report.md").write_text(render_markdown(report))
    return report


def render_markdown(report: ValidationReport) -> str:
    m = report.metrics
    ins = m["hashrate_in_sample"]
    fleet = m["fleet_in_sample_end"]
    lines = [
        "# marketsim validation report",
        "",
        f"Seeds {m['seeds']}, {m['n_firms']} firms. In-sample: `{FIT_SCENARIO.name}` (Feb 2020 - Dec 2022, "
        f"where the data has hashrate; the hashrate response was fitted here). Out-of-sample: `{OUT_OF_SAMPLE}` "
        "(Jan 2023 - Nov 2025, no hashrate in the data on purpose).",
        "",
        "## Monthly industry revenue (model vs data)",
        "",
        "| window | MAPE | max error |",
        "|---|---|---|",
    ]
    for window, e in m["revenue"].items():
        lines.append(f"| {window} | {e['mape']:.2e} | {e['max_ape']:.2e} |")
    lines += [
        "",
        "In replay the price, fees and blocks found are the data's, so the revenue pie is exactly the data's "
        "(errors are floating-point rounding); the agents compete for it.",
        "",
        "![revenue](revenue_model_vs_data.png)",
        "",
        "## Network hashrate",
        "",
        f"In-sample (mean of seeds vs data's monthly mean): MAPE {ins['mape']:.1%}, max error {ins['max_ape']:.1%}, "
        f"bias {ins['bias']:+.1%}. Fleet at the end of 2022: {fleet['j_per_th']:.1f} J/TH mining "
        f"(survey ~{fleet['survey_j_per_th']:.0f}), {fleet['mw_mining'] / 1e3:.1f} GW mining, "
        f"{fleet['mw_machines'] / 1e3:.1f} GW carrying machines.",
        "",
        "| seed | MAPE | max error | bias |",
        "|---|---|---|---|",
    ]
    for seed, e in m["hashrate_in_sample_by_seed"].items():
        lines.append(f"| {seed} | {e['mape']:.1%} | {e['max_ape']:.1%} | {e['bias']:+.1%} |")
    lines += ["", "Out-of-sample, model network hashrate at the end of each year (EH/s, mean and range over seeds):", "",
              "| year | mean | min | max |", "|---|---|---|---|"]
    for year, v in m["hashrate_out_of_sample_year_end_ehs"].items():
        lines.append(f"| {year} | {v['mean']:.0f} | {v['min']:.0f} | {v['max']:.0f} |")
    lines += ["", "Out-of-sample by year (mean over seeds; year-end = last month of the year in the run):", "",
              "| year | network EH/s (year-end) | public miners EH/s (year-end) | fleet J/TH (year-end) | "
              "hashprice $/PH/day (mean) | cost to mine a BTC $ (mean) |", "|---|---|---|---|---|---|"]
    for year, v in m.get("out_of_sample_by_year", {}).items():
        lines.append(f"| {year} | {v['network_ehs_year_end']:.0f} | {v['public_miners_ehs_year_end']:.1f} | "
                     f"{v['efficiency_j_per_th_year_end']:.1f} | {v['hashprice_usd_per_ph_day']:.0f} | "
                     f"{v['cost_to_mine_btc_usd']:,.0f} |")
    low, high = LISTED_MINERS_CASH_COST_USD_PER_BTC
    lines += ["", f"For comparison, the listed miners reported a cost of ${low:,}-{high:,} per bitcoin in 2023-24 "
              "(their own reports; not used to fit anything).",
              "", "![hashrate](hashrate_model_vs_data.png)", "", "## Halving response",
              f"(mean of the {HALVING_WINDOW_MONTHS} months after vs the {HALVING_WINDOW_MONTHS} months before)", "",
              "| halving | source | hashrate | hashprice | revenue |", "|---|---|---|---|---|"]
    for key, label in (("halving_2020", "May 2020"), ("halving_2024", "April 2024")):
        for source, v in m[key].items():
            if v:
                changes = (format_share(v[k], signed=True) for k in ("hashrate_change", "hashprice_change", "revenue_change"))
                lines.append(f"| {label} | {source} | " + " | ".join(changes) + " |")
    lines += ["", "![halving](halving_response.png)", ""]
    lines += _ai_market_lines(m)
    lines += ["## Parameters", "",
              "The fitted hashrate-response parameters (grid searched on the in-sample window only; see "
              "`docs/calibration.md`):", ""]
    defaults = load_scenario(OUT_OF_SAMPLE)
    for name in FIT_GRID:
        lines.append(f"- `{name}` = {getattr(defaults, name)!r} (out-of-sample run)")
    lines += ["", "The scenario files themselves are `experiments/calibration/fit-2020-2022.toml` and "
              f"`experiments/{OUT_OF_SAMPLE}.toml`; `marketsim params` lists every other default.", ""]
    return "\n".join(lines)


def _ai_market_lines(m: dict) -> list[str]:
    """The out-of-sample AI lease market against the deals (skipped for metrics without it)."""
    ai = m.get("ai_market_out_of_sample")
    if not ai:
        return []
    low, high = DEALS_RATE_RANGE_USD_PER_KW_MONTH
    comparable = DEALS_COMPARABLE_IT_MW
    years = sorted({int(k.rsplit("_", 1)[1]) for row in ai.values() for k in row if k.startswith("signed_it_mw_")})

    def rates(row, year):
        lo, hi = row.get(f"rate_min_{year}", float("nan")), row.get(f"rate_max_{year}", float("nan"))
        return "-" if pd.isna(lo) else f"{lo:.0f}-{hi:.0f}"

    lines = ["## AI lease market (out of sample, against the deals)", "",
             "IT MW signed at miners' sites each year, the range of the starting rates signed ($/kW-month; new "
             "halls, conversions and empty halls re-let after a tenant default), IT MW under lease at the end of "
             "the replay and the share of it delivered:", "",
             "| seed | " + " | ".join(f"signed {y}" for y in years) + " | " + " | ".join(f"rates {y}" for y in years)
             + " | under lease at the end | delivered |",
             "|---|" + "---|" * (2 * len(years) + 2)]
    for seed, row in ai.items():
        lines.append(f"| {seed} | " + " | ".join(f"{row.get(f'signed_it_mw_{y}', 0.0):,.0f}" for y in years) + " | "
                     + " | ".join(rates(row, y) for y in years) + f" | {row['contracted_it_mw_end']:,.0f} | "
                     + format_share(row["delivered_share_end"]) + " |")
    signed_2023, signed_2024 = DEALS_SIGNED_BY_YEAR_END_IT_MW[2023], DEALS_SIGNED_BY_YEAR_END_IT_MW[2024]
    lines += ["", f"The deals (docs/calibration.md sections 4, 6.4 and 7.1): ~{signed_2023:.0f} MW signed by end-2023, "
              f"~{signed_2024:.0f} MW by end-2024, {m.get('ai_deals_by_end_it_mw', float('nan')):,.0f} MW by the "
              f"replay's last month (the dated deals it feeds as tenants' demand), of which ~{comparable[0] / 1e3:.1f}-"
              f"{comparable[1] / 1e3:.1f} GW on interconnects public at end-2022 (the ones the model holds); rates "
              f"${low:.0f}-{high:.0f}/kW-month (most are contract value over MW and term, an average over the term, "
              f"where the model's are starting rates that escalate); ~{DEALS_DELIVERED_SHARE:.0%} delivered by "
              "late 2025. Not used to fit hashrate.", ""]
    return lines
