"""Analysis: plain table functions over a sweep's results, shared by ``marketsim report`` and the
dashboard's sweep explorer, so the two always show the same numbers.

Everything here takes and returns DataFrames; nothing draws and nothing writes. The bands are
empirical percentiles over the replications of a parameter point (5% and 95% by default):
with few replications they are wide and coarse, which is the honest answer. Failed runs are
left out of every statistic and counted in ``n_failed``; runs whose network halted at some step
(``halted`` in runs.parquet: HHI and hashprice are undefined there) are left out too and
counted in ``n_halted``: counted and reported apart, never averaged in (issue 10, item 4).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marketsim.experiments.store import ResultStore, StoreError
from marketsim.experiments.sweepfile import CONDITION_RE

LOW, HIGH = 0.05, 0.95
OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass
class SweepResults:
    """A finished (or partly finished) sweep read back from its folder."""

    root: Path
    manifest: dict[str, Any]
    runs: pd.DataFrame
    industry: pd.DataFrame

    @property
    def parameters(self) -> list[str]:
        return list(self.manifest.get("parameters", []))

    @property
    def ok_runs(self) -> pd.DataFrame:
        return self.runs[self.runs["status"] == "ok"]

    @property
    def usable_runs(self) -> pd.DataFrame:
        """Ok runs whose network never halted: the runs every statistic is taken over."""
        return self.runs[usable_mask(self.runs)]

    def outcomes(self) -> list[str]:
        """Numeric final-outcome columns of ``runs.parquet`` (what can be summarised)."""
        skip = {"run_id", "point_id", "replication", "seed", "status", "error", "halted", *self.parameters}
        return [c for c in self.runs.columns if c not in skip and pd.api.types.is_numeric_dtype(self.runs[c])]

    def series(self) -> list[str]:
        """Numeric industry columns that vary over time (what bands can show)."""
        skip = {"run_id", "step", "date"}
        return [c for c in self.industry.columns if c not in skip and pd.api.types.is_numeric_dtype(self.industry[c])]


def load_results(root: str | Path) -> SweepResults:
    """Read a sweep folder; a `StoreError` naming the problem if it is missing, corrupt or empty."""
    store = ResultStore.open(root)
    runs = store.read("runs")
    industry = store.read("industry")
    for col in ("run_id", "point_id", "status"):
        if col not in runs.columns:
            raise StoreError(f"{store.root / 'runs.parquet'}: no {col!r} column; not a marketsim sweep table")
    if runs.empty:
        raise StoreError(f"{store.root}: the sweep has no finished runs yet (run `marketsim sweep ... --resume`)")
    return SweepResults(store.root, store.manifest(), runs, industry)


def halted_mask(runs: pd.DataFrame) -> pd.Series:
    """Ok runs whose network halted at some step (False everywhere when runs.parquet has no
    ``halted`` column: sweeps written before it existed)."""
    if "halted" not in runs:
        return pd.Series(False, index=runs.index)
    return (runs["status"] == "ok") & runs["halted"].astype("boolean").fillna(False).astype(bool)


def usable_mask(runs: pd.DataFrame) -> pd.Series:
    """Runs every statistic is taken over: finished ok and never halted."""
    return (runs["status"] == "ok") & ~halted_mask(runs)


def run_counts(runs: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """How many runs there are, finished ok, failed and halted (ok but the network stopped at
    some step), and are usable (ok and never halted), per value of parameter ``by`` (one row
    ``all`` without it). Columns: ``by`` (or ``group``), runs, ok, failed, halted, usable."""
    key = by or "group"
    frame = runs.assign(**({} if by else {key: "all"}), _ok=runs["status"] == "ok",
                        _halted=halted_mask(runs), _usable=usable_mask(runs))
    g = frame.groupby(key, sort=True)
    out = pd.DataFrame({"runs": g.size(), "ok": g["_ok"].sum(), "halted": g["_halted"].sum(),
                        "usable": g["_usable"].sum()})
    out.insert(2, "failed", out["runs"] - out["ok"])
    return out.astype(int).reset_index()


def _check_columns(frame: pd.DataFrame, names: list[str], what: str) -> None:
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise KeyError(f"{what}: no column {', '.join(map(repr, missing))} "
                       f"(available: {', '.join(map(str, frame.columns))})")


def band_suffixes(low: float = LOW, high: float = HIGH) -> tuple[str, str]:
    """The column suffixes of a band in ``outcome_summary``: ``("p05", "p95")`` for 5%-95%."""
    return f"p{round(low * 100):02d}", f"p{round(high * 100):02d}"


def outcome_summary(runs: pd.DataFrame, parameters: list[str], outcomes: list[str],
                    low: float = LOW, high: float = HIGH) -> pd.DataFrame:
    """One row per parameter point: its parameters, runs ok, failed and halted, and per outcome the
    mean and the ``low``-``high`` percentile band over its usable replications (ok and never halted;
    columns ``<outcome>_mean/_p05/_p95``). ``n_ok`` counts every ok run, halted ones included;
    ``n_halted`` says how many of them were left out."""
    _check_columns(runs, ["point_id", "status", *parameters], "outcome_summary")
    ok = runs[runs["status"] == "ok"]
    if not ok.empty:  # a sweep of failures only has no outcome columns at all
        _check_columns(ok, outcomes, "outcome_summary")
    lo, hi = band_suffixes(low, high)
    rows = []
    for point_id, group in runs.groupby("point_id", sort=True):
        row: dict[str, Any] = {"point_id": int(point_id)}
        row.update({p: group[p].iloc[0] for p in parameters})
        n_ok = int((group["status"] == "ok").sum())
        good = group[usable_mask(group)]
        row["n_ok"], row["n_failed"], row["n_halted"] = n_ok, int(len(group) - n_ok), int(n_ok - len(good))
        for name in outcomes:
            values = good[name].astype(float) if name in good else pd.Series(dtype=float)
            row[f"{name}_mean"] = float(values.mean()) if len(values) else np.nan
            row[f"{name}_{lo}"] = float(values.quantile(low)) if len(values) else np.nan
            row[f"{name}_{hi}"] = float(values.quantile(high)) if len(values) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def bands_over_time(industry: pd.DataFrame, runs: pd.DataFrame, series: str, by: str | None = None,
                    low: float = LOW, high: float = HIGH) -> pd.DataFrame:
    """Mean, median and percentile band of an industry column at every step, over the ok runs of
    each value of parameter ``by`` (all ok runs together when ``by`` is None).

    Columns: ``by`` (when given), ``step``, ``date``, ``mean``, ``p50``, ``low``, ``high``, ``n``.
    A sweep that recorded only final values gives one step per run. Halted runs are left out.
    """
    _check_columns(industry, ["run_id", "step", series], "bands_over_time")
    ok = runs.loc[usable_mask(runs), ["run_id"] + ([by] if by else [])]
    if by:
        _check_columns(runs, [by], "bands_over_time")
    frame = industry[["run_id", "step"] + (["date"] if "date" in industry else []) + [series]].merge(ok, on="run_id")
    keys = ([by] if by else []) + ["step"]
    grouped = frame.groupby(keys, sort=True)[series]
    out = pd.DataFrame({
        "mean": grouped.mean(), "p50": grouped.median(), "low": grouped.quantile(low),
        "high": grouped.quantile(high), "n": grouped.count(),
    }).reset_index()
    if "date" in frame:
        dates = frame.groupby("step")["date"].first()
        out.insert(len(keys), "date", out["step"].map(dates))
    return out


MAX_VALUES = 6  # a parameter with more distinct values is binned for bands and heatmaps


def binned(runs: pd.DataFrame, p: str, bins: int, max_values: int = MAX_VALUES) -> tuple[pd.DataFrame, dict]:
    """Runs with ``p`` replaced by the mean of its quantile bin when it has over ``max_values``
    values (sampled designs: LHS, Sobol), and {bin mean: "lo to hi"} labels; unchanged otherwise."""
    if not pd.api.types.is_numeric_dtype(runs[p]) or runs[p].nunique() <= max_values:
        return runs, {}
    values = runs[p].astype(float)
    groups = values.groupby(pd.qcut(values, bins, labels=False, duplicates="drop"))
    labels = {float(m): f"{lo:.3g} to {hi:.3g}" for m, lo, hi in zip(groups.mean(), groups.min(), groups.max())}
    return runs.assign(**{p: groups.transform("mean")}), labels


def final_heatmap(runs: pd.DataFrame, outcome: str, x: str, y: str, stat: str = "mean") -> pd.DataFrame:
    """The ``stat`` (mean, median, min, max, std) of a final outcome over usable runs, with the values of
    parameter ``y`` as rows and of ``x`` as columns (both sorted). Sampled designs (LHS, Sobol) have
    as many values as points; bin them first, or use the grid designs for heatmaps."""
    _check_columns(runs, [outcome, x, y, "status"], "final_heatmap")
    if x == y:
        raise ValueError(f"final_heatmap: x and y are both {x!r}; choose two different parameters")
    ok = runs[usable_mask(runs)]
    return ok.pivot_table(index=y, columns=x, values=outcome, aggfunc=stat).sort_index().sort_index(axis=1)


def condition_mask(runs: pd.DataFrame, condition: str) -> pd.Series:
    """Which runs meet ``'outcome > number'`` (``>``, ``>=``, ``<``, ``<=``); failed and halted runs never do."""
    m = CONDITION_RE.match(condition)
    if not m:
        raise ValueError(f"condition {condition!r}: expected 'outcome > number' (>, >=, <, <=)")
    name, op, value = m.group(1), m.group(2), float(m.group(3))
    _check_columns(runs, [name], f"condition {condition!r}")
    return usable_mask(runs) & OPERATORS[op](runs[name].astype(float), value)


def paired_differences(runs: pd.DataFrame, parameters: list[str], paired: str, outcomes: list[str],
                       level: float = 0.95) -> pd.DataFrame:
    """Paired differences of each outcome between the two values of parameter ``paired``.

    Runs pair up when they share their replication (under ``common_random_numbers`` the same seed,
    so the same price and fee paths) and every other parameter; the difference is ``outcome at the
    second value - outcome at the first`` (values sorted: ``False`` before ``True``, low before
    high). A pair counts only when both runs finished ok and neither halted (an HHI of a halted
    network is undefined, so halted pairs are counted apart in ``n_halted``, never averaged in);
    pairs with a NaN outcome (no converters, say) are left out of that outcome's mean. The
    interval is the Student-t interval of the mean difference over pairs: mean +- t(level, n-1) x
    sd / sqrt(n). ``median_diff`` is the median difference and ``share_up`` the share of pairs
    whose outcome is higher at the second value (a mean can hide that most pairs move the other
    way). Columns: outcome, first, second, n_pairs, n_halted, n_failed, mean_first, mean_second,
    mean_diff, ci_low, ci_high, sd_diff, median_diff, share_up.
    """
    from scipy import stats

    _check_columns(runs, ["replication", "status", paired, *parameters], "paired_differences")
    values = sorted(runs[paired].dropna().unique().tolist())
    if len(values) != 2:
        raise ValueError(f"paired_differences: {paired!r} takes {len(values)} values ({values}); pairing needs two")
    first, second = values
    others = [p for p in parameters if p != paired]
    keys = ["replication", *others]
    a, b = (runs[runs[paired] == v].set_index(keys) for v in (first, second))
    both = a.merge(b, how="inner", left_index=True, right_index=True, suffixes=("__a", "__b"))
    ok = (both["status__a"] == "ok") & (both["status__b"] == "ok")
    halted_cols = [c for c in ("halted__a", "halted__b") if c in both]
    halted = ok & both[halted_cols].fillna(False).astype(bool).any(axis=1) if halted_cols else ok & False
    good = both[ok & ~halted]
    rows = []
    for o in outcomes:
        if f"{o}__a" not in good:
            _check_columns(runs, [o], "paired_differences")
        x, y = good[f"{o}__a"].astype(float), good[f"{o}__b"].astype(float)
        keep = x.notna() & y.notna()
        d = (y - x)[keep]
        n = int(len(d))
        mean = float(d.mean()) if n else np.nan
        sd = float(d.std(ddof=1)) if n > 1 else np.nan
        half = float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else np.nan
        rows.append({"outcome": o, "first": first, "second": second, "n_pairs": n, "n_halted": int(halted.sum()),
                     "n_failed": int((~ok).sum()), "mean_first": float(x[keep].mean()) if n else np.nan,
                     "mean_second": float(y[keep].mean()) if n else np.nan, "mean_diff": mean,
                     "ci_low": mean - half, "ci_high": mean + half, "sd_diff": sd,
                     "median_diff": float(d.median()) if n else np.nan,
                     "share_up": float((d > 0).mean()) if n else np.nan})
    return pd.DataFrame(rows)


def outcome_distribution(runs: pd.DataFrame, outcomes: list[str], by: str | None = None,
                         low: float = LOW, high: float = HIGH) -> pd.DataFrame:
    """Median and ``low``-``high`` percentiles of each outcome over all usable runs (ok, never
    halted), per value of parameter ``by``: the spread over the whole design and its seeds, where
    ``outcome_summary`` gives it per point. Runs with a NaN outcome (no converters, say) are left
    out of that outcome. Columns: ``by`` (when given), outcome, n, median, p05, p95, mean."""
    _check_columns(runs, ["status", *outcomes, *([by] if by else [])], "outcome_distribution")
    lo, hi = band_suffixes(low, high)
    good = runs[usable_mask(runs)]
    groups = good.groupby(by, sort=True) if by else [(None, good)]
    rows = []
    for value, group in groups:
        for o in outcomes:
            x = group[o].astype(float).dropna()
            stats = {"n": int(len(x)), "median": float(x.median()) if len(x) else np.nan,
                     lo: float(x.quantile(low)) if len(x) else np.nan, hi: float(x.quantile(high)) if len(x) else np.nan,
                     "mean": float(x.mean()) if len(x) else np.nan}
            rows.append(({by: value} if by else {}) | {"outcome": o} | stats)
    return pd.DataFrame(rows)


SURVIVAL = ("converter_survival_share", "miner_survival_share", "converter_survival_advantage")


def survival_by_condition(runs: pd.DataFrame, parameters: list[str], paired: str | None = None,
                          bins: int = 2, level: float = 0.95) -> pd.DataFrame:
    """Do converters outlive the firms that kept mining, and under which conditions?

    For each parameter (but ``paired``), its runs are cut into ``bins`` quantile bins (a parameter
    with few values: one row per value), and in each bin, over the usable runs that had converters
    (``converter_survival_share`` defined): the mean survival share of converters and of miners,
    their mean difference (``converter_survival_advantage``, a within-run comparison: the same
    prices, power and AI market) with its Student-t interval over runs, and the share of runs where
    converters did better. ``miner_survival_no_conversion`` is the mean survival share of all
    firms in the bin's runs of the world without conversion (``paired`` at its first value), the
    baseline both groups are drawn from. One row ``all`` per design covers every run.
    Columns: parameter, bin, n_runs, converter_survival, miner_survival, advantage, ci_low, ci_high,
    share_converters_ahead, miner_survival_no_conversion.
    """
    from scipy import stats

    _check_columns(runs, ["status", *SURVIVAL, *parameters], "survival_by_condition")
    good = runs[usable_mask(runs)]
    counterfactual = pd.Series(False, index=good.index)
    if paired:
        values = sorted(good[paired].dropna().unique().tolist())
        counterfactual = good[paired] == values[0] if len(values) == 2 else counterfactual
    rows = []

    def add(parameter: str, label: str, group: pd.DataFrame) -> None:
        conv = group[~counterfactual.reindex(group.index, fill_value=False) &
                     group["converter_survival_share"].notna()]
        base = group[counterfactual.reindex(group.index, fill_value=False)]["miner_survival_share"].astype(float)
        d = conv["converter_survival_advantage"].astype(float)
        n = int(len(d))
        sd = float(d.std(ddof=1)) if n > 1 else np.nan
        half = float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)) if n > 1 else np.nan
        mean = float(d.mean()) if n else np.nan
        rows.append({"parameter": parameter, "bin": label, "n_runs": n,
                     "converter_survival": float(conv["converter_survival_share"].mean()) if n else np.nan,
                     "miner_survival": float(conv["miner_survival_share"].mean()) if n else np.nan,
                     "advantage": mean, "ci_low": mean - half, "ci_high": mean + half,
                     "share_converters_ahead": float((d > 0).mean()) if n else np.nan,
                     "miner_survival_no_conversion": float(base.mean()) if len(base) else np.nan})

    add("all", "all runs", good)
    for p in parameters:
        if p == paired:
            continue
        x = good[p]
        if not pd.api.types.is_numeric_dtype(x) or x.nunique() <= bins or pd.api.types.is_bool_dtype(x):
            for value, group in good.groupby(p, sort=True):
                add(p, str(value), group)
            continue
        cut = pd.qcut(x.astype(float), bins, duplicates="drop")
        for interval, group in good.groupby(cut, sort=True, observed=True):
            lo_v, hi_v = group[p].min(), group[p].max()
            add(p, f"{lo_v:.3g} to {hi_v:.3g}", group)
    return pd.DataFrame(rows)


def paired_differences_by(runs: pd.DataFrame, parameters: list[str], paired: str, outcomes: list[str],
                          by: str, edges: list[float], level: float = 0.95) -> pd.DataFrame:
    """``paired_differences`` within bins of an outcome ``by`` measured in the pair's *second*
    world: e.g. the network's hashrate with conversion minus without, for the pairs where public
    miners ended with under 10%, 10-30% or over 30% of their MW in AI (issue 16, question 3).

    ``edges`` are the bin edges (``[0, 0.1, 0.3, 1]``: bins [0, 0.1), [0.1, 0.3), [0.3, 1]); pairs
    whose ``by`` is NaN or outside them are left out. Adds ``bin``, ``bin_low``, ``bin_high`` and
    ``rel_diff`` (mean_diff / mean_first: the change as a share of the level without) to
    ``paired_differences``'s columns; a bin without pairs has n_pairs 0 and NaN statistics.
    """
    _check_columns(runs, ["replication", paired, by, *parameters], "paired_differences_by")
    values = sorted(runs[paired].dropna().unique().tolist())
    if len(values) != 2:
        raise ValueError(f"paired_differences_by: {paired!r} takes {len(values)} values; pairing needs two")
    keys = ["replication", *[p for p in parameters if p != paired]]
    second = runs[runs[paired] == values[1]][keys + [by]].rename(columns={by: "__by"})
    tagged = runs.merge(second, on=keys, how="left")
    frames = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        last = hi == edges[-1]
        inside = (tagged["__by"] >= lo) & ((tagged["__by"] <= hi) if last else (tagged["__by"] < hi))
        table = paired_differences(tagged[inside], parameters, paired, outcomes, level) if inside.any() else \
            pd.DataFrame({"outcome": outcomes, "n_pairs": 0})
        label = f"{lo:g} to {hi:g}" if last else f"{lo:g} to <{hi:g}"
        frames.append(table.assign(bin=label, bin_low=lo, bin_high=hi))
    out = pd.concat(frames, ignore_index=True)
    for col in ("mean_first", "mean_diff"):
        out[col] = out[col] if col in out else np.nan
    out["rel_diff"] = out["mean_diff"] / out["mean_first"].where(out["mean_first"] != 0)
    return out[["bin", "bin_low", "bin_high", *[c for c in out.columns if c not in ("bin", "bin_low", "bin_high")]]]
