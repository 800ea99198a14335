"""Analysis: plain table functions over a sweep's results, shared by ``marketsim report`` and the
dashboard's sweep explorer, so the two always show the same numbers.

Everything here takes and returns DataFrames; nothing draws and nothing writes. The bands are
empirical percentiles over the replications of a parameter point (5% and 95% by default):
with few replications they are wide and coarse, which is the honest answer. Failed runs are
left out of every statistic and counted in ``n_failed``.
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

    def outcomes(self) -> list[str]:
        """Numeric final-outcome columns of ``runs.parquet`` (what can be summarised)."""
        skip = {"run_id", "point_id", "replication", "seed", "status", "error", *self.parameters}
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
    """One row per parameter point: its parameters, runs ok and failed, and per outcome the mean and
    the ``low``-``high`` percentile band over replications (columns ``<outcome>_mean/_p05/_p95``)."""
    _check_columns(runs, ["point_id", "status", *parameters], "outcome_summary")
    ok = runs[runs["status"] == "ok"]
    if not ok.empty:  # a sweep of failures only has no outcome columns at all
        _check_columns(ok, outcomes, "outcome_summary")
    lo, hi = band_suffixes(low, high)
    rows = []
    for point_id, group in runs.groupby("point_id", sort=True):
        row: dict[str, Any] = {"point_id": int(point_id)}
        row.update({p: group[p].iloc[0] for p in parameters})
        good = group[group["status"] == "ok"]
        row["n_ok"], row["n_failed"] = int(len(good)), int(len(group) - len(good))
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
    A sweep that recorded only final values gives one step per run.
    """
    _check_columns(industry, ["run_id", "step", series], "bands_over_time")
    ok = runs.loc[runs["status"] == "ok", ["run_id"] + ([by] if by else [])]
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
    """The ``stat`` (mean, median, min, max, std) of a final outcome over ok runs, with the values of
    parameter ``y`` as rows and of ``x`` as columns (both sorted). Sampled designs (LHS, Sobol) have
    as many values as points; bin them first, or use the grid designs for heatmaps."""
    _check_columns(runs, [outcome, x, y, "status"], "final_heatmap")
    if x == y:
        raise ValueError(f"final_heatmap: x and y are both {x!r}; choose two different parameters")
    ok = runs[runs["status"] == "ok"]
    return ok.pivot_table(index=y, columns=x, values=outcome, aggfunc=stat).sort_index().sort_index(axis=1)


def condition_mask(runs: pd.DataFrame, condition: str) -> pd.Series:
    """Which runs meet ``'outcome > number'`` (``>``, ``>=``, ``<``, ``<=``); failed runs never do."""
    m = CONDITION_RE.match(condition)
    if not m:
        raise ValueError(f"condition {condition!r}: expected 'outcome > number' (>, >=, <, <=)")
    name, op, value = m.group(1), m.group(2), float(m.group(3))
    _check_columns(runs, [name], f"condition {condition!r}")
    return (runs["status"] == "ok") & OPERATORS[op](runs[name].astype(float), value)


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
    sd / sqrt(n). Columns: outcome, first, second, n_pairs, n_halted, n_failed, mean_first,
    mean_second, mean_diff, ci_low, ci_high, sd_diff.
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
                     "ci_low": mean - half, "ci_high": mean + half, "sd_diff": sd})
    return pd.DataFrame(rows)
