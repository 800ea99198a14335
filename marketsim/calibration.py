"""Fitting the hashrate response to the data up to 2022-12-31, and only to that.

The shipped data has network hashrate until the end of 2022 and none after, on purpose: the
model must produce it, and a replay of 2023-2025 is an out-of-sample test. So the parameters
that decide how fast the industry adds, upgrades and switches off machines are fitted on the
in-sample window (``experiments/calibration/fit-2020-2022.toml``: real price, fees and blocks
from February 2020, a synthetic industry sized to the data, China's 2021 ban and the December
2022 storm as exogenous outages), by a grid search minimising the mean absolute percentage
error (MAPE) of monthly network hashrate, averaged over seeds. The fitted values are the
defaults in ``scenario.py`` and are recorded, with the search, in ``docs/calibration.md``
(``python -m marketsim.calibration`` reruns the search and prints the table).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from marketsim import data as mdata
from marketsim.scenario import SCENARIO_DIR, Scenario, load_scenario
from marketsim.units import TH_PER_EH

FIT_SCENARIO = SCENARIO_DIR / "calibration" / "fit-2020-2022.toml"
# The MW refit (docs/calibration.md 12.9): the depth of the migration market for displaced machines,
# and the makers' capacity, scored on two in-sample targets, hashrate and the
# end-2022 fleet efficiency. The earlier grids (tail power, expansion share, payback, trend
# weight, scarcity elasticity, entry) are kept at their best points (40 $/MWh in the fit
# scenario, 0.6, 16, 1.0, 0.2, 12).
FIT_GRID: dict[str, list] = {
    "migration_prospects_per_lot": [0, 2, 4],
    "asic_supply_capacity_ehs_per_month": [12.0, 15.0, 18.0, 25.0],
    "scrap_after_unprofitable_months": [12],  # 36 scores a little better in sample (0.295 against 0.312)
    # but makes January 2023 mine 102.2% of November 2022's hashrate (the start-state moment, 12.5)
}
# Network-average efficiency of the mining fleet at the end of 2022, J/TH: derived from a Q4-2022
# industry-council survey (shared/calibration.md, "Industry context at the end of 2022"; public
# in Q4 2022). With the data's ~255-262 EH/s it means ~11.5-12 GW mining, against ~7.6 GW in
# February 2020: the MW the fleet grew by, which hashrate alone cannot identify.
END_2022_FLEET_J_PER_TH = 45.0
MAX_IN_SAMPLE_MAPE = 0.09  # issue 12's in-sample target
FIT_SEEDS = (1, 2)


def monthly_data_hashrate_ehs() -> pd.Series:
    """The data's monthly mean network hashrate (EH/s), where it exists (to 2022-12)."""
    daily = mdata.load_btc_daily().set_index("date")["hashrate_ths"].dropna()
    return daily.resample("MS").mean() / TH_PER_EH


def error_measures(model: Sequence[float], observed: Sequence[float]) -> dict[str, float]:
    """MAPE, maximum absolute percentage error and bias (mean signed error, %)."""
    m, o = np.asarray(model, dtype=float), np.asarray(observed, dtype=float)
    pct = (m - o) / o
    return {"mape": float(np.mean(np.abs(pct))), "max_ape": float(np.max(np.abs(pct))), "bias": float(np.mean(pct))}


def hashrate_fit(industry: pd.DataFrame) -> dict[str, float]:
    """Error measures of a run's monthly network hashrate against the data (where present)."""
    data = monthly_data_hashrate_ehs()
    dates = pd.to_datetime(industry["date"])
    have = dates.isin(data.index)
    return error_measures(industry.loc[have.values, "network_hashrate_ehs"], data.loc[dates[have]])


# The start is sized to the network's storm-free capacity: October 2022, the last month before
# the winter, mined 262.5 EH/s (data); November mined 255.3 at a hashprice of $61.6/PH/day, so
# 97.3% of that capacity mined at November's hashprice. December (248.4, storm Elliott took
# ~8% offline from 21 Dec) is an outage before the run starts, not economics.
CAPACITY_MONTH = "2022-10-01"
FIT_MONTH = "2022-11-01"
HALVING_WINDOW_MONTHS = 3  # a halving's response: the mean of the months after against the months before


def month_hashprice(month: str) -> float:
    """The data's mean hashprice of a month, USD/PH/day: reward value per day over hashrate."""
    daily = mdata.load_btc_daily().set_index("date")
    window = daily.loc[month: (pd.Timestamp(month) + pd.offsets.MonthEnd(0))]
    rate = monthly_data_hashrate_ehs().loc[month]
    return float(((window["issuance_btc"] + window["fees_btc"]) * window["price_usd"]).mean() / (rate * 1000))


def start_mining_target() -> float:
    """Share of the storm-free capacity that mined in ``FIT_MONTH`` (data)."""
    rate = monthly_data_hashrate_ehs()
    return float(rate.loc[FIT_MONTH] / rate.loc[CAPACITY_MONTH])


def start_mining_share(scenario: Scenario, hashprice_usd_per_ph_day: float, seed: int = 0) -> float:
    """Share of the starting population's hashrate that mines at a given hashprice."""
    from marketsim.firms import mining_margin
    from marketsim.model import IndustryModel

    model = IndustryModel(scenario, rng=seed)
    sites = model.sites
    month = pd.Timestamp(scenario.start_date).month
    from marketsim.market.power import power_price_usd_per_mwh

    power = power_price_usd_per_mwh(sites.power_base_usd_per_mwh, (month - 2) % 12 + 1, scenario.power_seasonal_amplitude,
                                    scenario.power_peak_month, scenario.power_price_multiplier)
    share, _ = mining_margin.cohort_shares(model, power, hashprice_usd_per_ph_day)
    hashrate = sites.cohort_mw / sites.cohort_efficiency_j_per_th
    return float((share * hashrate).sum() / hashrate.sum())


def fit_start_parameter(field: str, low: float, high: float, scenario_name: str = "halving-2024-replay",
                        target: float | None = None, seeds: Sequence[int] = (0, 1, 2), digits: int = 2) -> float:
    """The value of ``field`` at which the start population (sized to the storm-free capacity)
    mines ``target`` (default ``start_mining_target``) of its hashrate at the data's
    ``FIT_MONTH`` hashprice (bisection; the share must move monotonically with the field)."""
    base = load_scenario(scenario_name)
    target = start_mining_target() if target is None else target
    hashprice = month_hashprice(FIT_MONTH)

    def share(value: float) -> float:
        return float(np.mean([start_mining_share(base.with_overrides(**{field: value}), hashprice, s) for s in seeds]))

    rising = share(high) > share(low)
    for _ in range(20):
        mid = (low + high) / 2
        below = share(mid) < target
        low, high = (mid, high) if below == rising else (low, mid)
    return round((low + high) / 2, digits)


def fit_take_or_pay_share(**kwargs) -> float:
    """The tail's mean take-or-pay share that makes the start mine its target share (the
    default: tail power stays at the bottom of the sourced 35-90 $/MWh range)."""
    return fit_start_parameter("tail_take_or_pay_share_mean", 0.0, 0.95, **kwargs)


def end_of_window_efficiency(industry: pd.DataFrame) -> float:
    """The run's fleet efficiency of the MW mining at its last month (December 2022 in sample), J/TH."""
    return float(industry["avg_efficiency_j_per_th"].iloc[-1])


def fit_score(mape: float, end_j_per_th: float, halving_change: float) -> float:
    """The grid's objective: hashrate MAPE plus the relative miss of the end-2022 fleet efficiency
    (equal weights: both are relative errors); infinite when the point misses the MAPE target or
    the 2020 halving response has the wrong sign (issue 12's conditions)."""
    if mape > MAX_IN_SAMPLE_MAPE or halving_change <= 0:
        return float("inf")
    return float(mape + abs(end_j_per_th / END_2022_FLEET_J_PER_TH - 1.0))


def fit_scenario(**overrides) -> Scenario:
    return load_scenario(FIT_SCENARIO, **overrides)


def grid_search(grid: Mapping[str, Sequence] = FIT_GRID, seeds: Sequence[int] = FIT_SEEDS,
                n_firms: int = 200, workers: int | None = 1) -> pd.DataFrame:
    """Every grid point's mean in-sample MAPE, end-2022 J/TH and MW and 2020 halving response
    over ``seeds``, best ``fit_score`` first; the runs go through the sweep engine's executors
    (``workers`` processes, 1: in this process)."""
    from marketsim.experiments import batch

    names = list(grid)
    points = [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]
    jobs = [(fit_scenario(n_firms=n_firms, **point), seed) for point in points for seed in seeds]
    tables = batch.industry_tables(jobs, workers)
    rows = []
    for i, point in enumerate(points):
        runs = tables[i * len(seeds):(i + 1) * len(seeds)]
        fits = [hashrate_fit(ind) for ind in runs]
        row = {**point, **{k: float(np.mean([f[k] for f in fits])) for k in ("mape", "max_ape", "bias")}}
        row["end_j_per_th"] = float(np.mean([end_of_window_efficiency(ind) for ind in runs]))
        row["end_mw"] = float(np.mean([ind["mw_mining"].iloc[-1] + ind["mw_idle"].iloc[-1] for ind in runs]))
        both = pd.concat([ind.assign(seed=seed, date=pd.to_datetime(ind["date"])) for ind, seed in zip(runs, seeds)])
        row["halving_2020"] = halving_response(both, "2020-05-01")["hashrate_change"]
        row["score"] = fit_score(row["mape"], row["end_j_per_th"], row["halving_2020"])
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["score", "mape"]).reset_index(drop=True)


def main() -> None:  # pragma: no cover - a maintenance command, run by hand
    table = grid_search(workers=os.cpu_count())
    print(table.head(10).round(3).to_string(index=False))
    out = Path("calibration-grid.csv")
    table.to_csv(out, index=False)
    print(f"\nwrote {out}")


if __name__ == "__main__":  # pragma: no cover
    main()


def halving_response(runs: pd.DataFrame, halving_month: str) -> dict[str, float]:
    """Mean change of hashrate and hashprice from the months before to the months after."""
    month = pd.Timestamp(halving_month)
    before = runs[(runs["date"] < month) & (runs["date"] >= month - pd.DateOffset(months=HALVING_WINDOW_MONTHS))]
    after = runs[(runs["date"] > month) & (runs["date"] <= month + pd.DateOffset(months=HALVING_WINDOW_MONTHS))]
    if before.empty or after.empty:
        return {}
    return {
        "hashrate_change": float(after["network_hashrate_ehs"].mean() / before["network_hashrate_ehs"].mean() - 1),
        "hashprice_change": float(after["hashprice_usd_per_ph_day"].mean() / before["hashprice_usd_per_ph_day"].mean() - 1),
        "revenue_change": float(after["revenue_mining_usd"].mean() / before["revenue_mining_usd"].mean() - 1),
    }
