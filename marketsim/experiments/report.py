"""Report: a sweep folder in, a folder someone can read out (``marketsim report DIR``).

A sweep of a few hundred runs is only useful once its answer is on one page: what the key
outcomes were at each parameter point, how they moved over time, which parameters mattered
(Sobol indices) and where in parameter space a condition of interest holds (PRIM boxes).
Every number comes from ``analysis.py``, so the report and the dashboard always agree; this
module only chooses, draws and writes.

Sampled designs (LHS, Sobol, Saltelli) have as many parameter values as points: for the bands
over time a parameter with more than ``MAX_LINES`` values is cut into ``BAND_BINS`` quantile bins,
and for the heatmap into ``HEAT_BINS``; each bin is labelled by the mean of its values.
Sobol indices need SALib and a ``saltelli`` design; PRIM needs ema_workbench. When either is
missing (or the design does not fit) the report says why instead of failing.

The report is built in a hidden sibling folder and renamed into place, so a failure leaves the
previous report (or nothing), never a half-written one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from marketsim import figures, output
from marketsim import outcomes as declared
from marketsim.experiments import findings
from marketsim.experiments.analysis import (
    HIGH, LOW, SURVIVAL, SweepResults, band_suffixes, bands_over_time, binned, condition_mask, final_heatmap,
    halted_mask, load_results, usable_mask, outcome_distribution, outcome_summary, paired_differences, paired_differences_by, run_counts,
    survival_by_condition,
)
from marketsim.experiments.sweepfile import CONDITION_RE, DEFAULT_OUTCOMES
from marketsim.units import format_number

MAX_PARAMS = 6  # bands figures for at most this many parameters
MAX_PANELS = 8  # outcomes per figure
MAX_LINES = 6  # parameters with more distinct values are binned
BAND_BINS, HEAT_BINS = 3, 4
MD_ROWS = 40  # summary rows shown in report.md (all of them are in summary.csv / summary.md)
PRIM_THRESHOLD = 0.8  # least share of runs inside a box that meet the condition
# question 3 of the study (issue 16): what happens when ~20% of public miners' MW leaves mining; the
# pairs are cut by that share in the world with conversion, the middle bin holding 20%
CONVERTED_SHARE, CONVERTED_SHARE_EDGES = "mw_converted_share_public", [0.0, 0.1, 0.3, 1.0]
SOBOL_SEED = 20240420  # bootstrap seed of the confidence intervals: the same report every time


@dataclass
class Report:
    """What ``write_report`` wrote: the folder, its files (report.md last) and notes for the reader."""

    out_dir: Path
    paths: list[Path]
    notes: list[str]


@dataclass
class _Page:
    """The folder being built and the markdown of the section being written."""

    dir: Path
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    md: list[str] = field(default_factory=list)
    found: dict = field(default_factory=dict)  # tables the findings fragment quotes (findings.py)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.md.append(f"_{text}_\n")

    def table(self, name: str, frame: pd.DataFrame) -> None:
        frame.to_csv(self.dir / name, index=False)
        self.files.append(name)

    def figure(self, name: str, fig: Figure, title: str) -> None:
        fig.savefig(self.dir / name, dpi=110)
        self.files.append(name)
        self.md.append(f"![{title}]({name})\n")


def write_report(results_dir, out_dir=None, *, outcomes=None, conditions=None, heatmap=None) -> Report:
    """Summary table, figures, Sobol indices and PRIM boxes of the sweep in ``results_dir``.

    ``outcomes``, ``conditions`` and ``heatmap`` default to the sweep file's ``[report]`` section;
    a name that does not exist raises ``ValueError`` listing what does. ``out_dir`` defaults to
    ``<results_dir>/report`` and is replaced as a whole.
    """
    res = load_results(results_dir)
    out = Path(out_dir) if out_dir is not None else res.root / "report"
    page = _Page(Path("."))
    outcomes, conditions, pair = _choose(res, outcomes, conditions, heatmap, page)
    output.check_destination(out, "report")  # before any figure is drawn (marketsim.output's rule)
    out.parent.mkdir(parents=True, exist_ok=True)
    page.dir = output.new_folder(out.parent, f".{out.name}.partial-")
    try:
        sections = [_header(res, outcomes)]
        summary = outcome_summary(res.runs, res.parameters, outcomes)
        for title, build in [("Runs: finished, failed, halted", lambda: _counts(res, page)),
                             ("Summary", lambda: _summary(summary, res.parameters, outcomes, page)),
                             *_paired_section(res, outcomes, page),
                             *_survival_section(res, page),
                             ("Outcomes over time", lambda: _bands(res, outcomes, page)),
                             ("Final outcomes over two parameters", lambda: _heatmap(res, outcomes, pair, page)),
                             ("Sensitivity: Sobol indices", lambda: _sobol(res, summary, outcomes, page)),
                             ("Scenario discovery: PRIM", lambda: _prim(res, conditions, page))]:
            page.md = []
            build()
            sections.append(f"## {title}\n\n" + "\n".join(page.md))
        if page.notes:
            sections.append("## Notes\n\n" + "\n".join(f"- {n}" for n in page.notes) + "\n")
        (page.dir / findings.FILE).write_text(findings.fragment(res, outcomes, page.found))
        page.files.append(findings.FILE)
        (page.dir / "report.md").write_text("\n".join(sections))
        page.files.append("report.md")
        _publish(page.dir, out)
    except BaseException:
        shutil.rmtree(page.dir, ignore_errors=True)
        raise
    return Report(out, [out / name for name in page.files], page.notes)


# --- choosing what to report ------------------------------------------------------------------
def _choose(res: SweepResults, outcomes, conditions, heatmap, page: _Page):
    """Outcomes, conditions and heatmap pair: as asked (checked), else the sweep's [report], filtered."""
    spec, available, params = res.manifest.get("report") or {}, res.outcomes(), res.parameters
    outcomes, conditions = ([x] if isinstance(x, str) else x for x in (outcomes, conditions))
    if outcomes is None:
        wanted = list(spec.get("outcomes") or DEFAULT_OUTCOMES)
        outcomes = [o for o in wanted if o in available] or available[:MAX_PANELS]
        _drop_note(page, "outcomes not in runs.parquet", [o for o in wanted if o not in available])
    _require(outcomes, available, "outcome")
    if conditions is None:
        wanted = list(spec.get("conditions") or [])
        conditions = [c for c in wanted if (m := CONDITION_RE.match(c)) and m.group(1) in available]
        _drop_note(page, "conditions on outcomes not in runs.parquet", [c for c in wanted if c not in conditions])
    for cond in conditions:
        if not (m := CONDITION_RE.match(cond)):
            raise ValueError(f"condition {cond!r}: expected 'outcome > number' (>, >=, <, <=)")
        _require([m.group(1)], available, f"condition {cond!r}: outcome")
    if heatmap is None:
        saved = spec.get("heatmap") or []
        heatmap = saved if len(saved) == 2 and set(saved) <= set(params) else params[:2] if len(params) > 1 else None
    elif len(heatmap) != 2 or heatmap[0] == heatmap[1]:
        raise ValueError(f"heatmap {list(heatmap)!r}: give two different swept parameters")
    _require(list(heatmap or []), params, "heatmap parameter")
    return list(outcomes), list(conditions), (list(heatmap) if heatmap else None)


def _drop_note(page: _Page, what: str, dropped: list[str]) -> None:
    if dropped:
        page.notes.append(f"{what}, left out: {', '.join(dropped)}")


def _require(names: list[str], available: list[str], what: str) -> None:
    for name in names:
        if name not in available:
            raise ValueError(f"{what} {name!r} does not exist (available: {', '.join(available) or 'none'})")


# --- sections ---------------------------------------------------------------------------------
def _header(res: SweepResults, outcomes: list[str]) -> str:
    m, runs, design = res.manifest, res.runs, res.manifest.get("design") or {}
    n_ok = int((runs["status"] == "ok").sum())
    lines = [f"# Sweep report: {m.get('name', res.root.name)}\n", f"{m.get('description', '')}\n",
             f"- results: `{res.root}` (status {m.get('status', '?')}, marketsim {m.get('package_version', '?')})",
             f"- base scenario: {m.get('base', '?')}; replications: {m.get('replications', '?')}",
             f"- design: {design.get('method', '?')}" + (f" (n = {design['n']})" if design.get("n") else ""),
             f"- runs: {n_ok} ok, {len(runs) - n_ok} failed, of {m.get('n_runs', len(runs))} planned; "
             f"{int(halted_mask(runs).sum())} of the ok runs halted (left out of every statistic)"]
    if (timing := findings.timing_text(m)):
        lines.append(f"- time: {timing}")
    for p in res.parameters:
        v = runs[p].drop_duplicates().sort_values()
        lines.append(f"- parameter `{p}`: {v.size} values, {format_number(v.iloc[0])} to {format_number(v.iloc[-1])}")
    lines.append(f"- outcomes: {', '.join(f'`{o}`' for o in outcomes)}")
    for err in runs.loc[runs["status"] != "ok", "error"].drop_duplicates().iloc[:3]:
        lines.append(f"- a failure: `{str(err)[:200]}`")
    return "\n".join(lines) + "\n"


def _summary(summary: pd.DataFrame, params: list[str], outcomes: list[str], page: _Page) -> None:
    page.table("summary.csv", summary)
    lo, hi = band_suffixes()
    compact = summary[["point_id", *params, "n_ok", "n_failed"]].copy()
    for o in outcomes:
        compact[o] = [f"{format_number(m)} [{format_number(a)}, {format_number(b)}]" for m, a, b in
                      zip(summary[f"{o}_mean"], summary[f"{o}_{lo}"], summary[f"{o}_{hi}"])]
    intro = f"Mean [{lo}, {hi}] over the ok replications of each parameter point.\n"
    (page.dir / "summary.md").write_text(intro + "\n" + _md_table(compact) + "\n")
    page.files.append("summary.md")
    page.md += [intro, _md_table(compact.head(MD_ROWS))]
    if len(compact) > MD_ROWS:
        page.md.append(f"_First {MD_ROWS} of {len(compact)} points; all of them in summary.md._\n")
    page.md.append("Tables: [summary.csv](summary.csv), [summary.md](summary.md)\n")


def _paired_section(res: SweepResults, outcomes: list[str], page: _Page) -> list:
    """The "Paired differences" section when the sweep's ``[report] paired`` names a parameter:
    paired.csv (``analysis.paired_differences``) and its table in report.md."""
    paired = (res.manifest.get("report") or {}).get("paired")
    if not paired:
        return []

    def build() -> None:
        if paired not in res.runs:
            return page.note(f"no paired differences: `{paired}` is not a column of runs.parquet")
        table = paired_differences(res.runs, res.parameters, paired, outcomes)
        page.table("paired.csv", table)
        first, second = table["first"].iloc[0], table["second"].iloc[0]
        dist = outcome_distribution(res.runs, outcomes, by=paired)
        page.found.update(paired=table, paired_name=paired, distribution=dist)
        page.table("distribution.csv", dist)
        page.md += [f"Runs paired by replication (the same seed: the same price and fee paths) and every other "
                    f"parameter; difference = outcome at `{paired} = {second}` minus at `{paired} = {first}`, "
                    f"mean over pairs with its 95% t-interval. Pairs with a halted or failed run are left out "
                    f"and counted (n_halted, n_failed).\n",
                    _md_table(table.drop(columns=["first", "second"])), "Table: [paired.csv](paired.csv)\n",
                    f"Median and {LOW:.0%}-{HIGH:.0%} range of each outcome over all usable runs of each world "
                    "(every design point and seed):\n", _md_table(dist), "Table: [distribution.csv](distribution.csv)\n"]
        if CONVERTED_SHARE in res.runs:
            at_date = [o for o in outcomes if o.endswith("_at_date")]
            by = paired_differences_by(res.runs, res.parameters, paired, at_date, CONVERTED_SHARE,
                                       CONVERTED_SHARE_EDGES)
            page.found["paired_by_share"] = by
            page.table("paired_by_converted_share.csv", by)
            page.md += [f"The same differences for the pairs cut by `{CONVERTED_SHARE}` in the world with "
                        f"`{paired} = {second}` (share of public miners' live MW in AI at the end); `rel_diff` "
                        "is the mean difference over the mean without:\n",
                        _md_table(by[["bin", "outcome", "n_pairs", "mean_first", "mean_diff", "ci_low", "ci_high",
                                      "rel_diff"]]),
                        "Table: [paired_by_converted_share.csv](paired_by_converted_share.csv)\n"]
        diffs = _paired_diffs(res, paired, table["outcome"].tolist())
        page.figure("paired.png", _paired_figure(table, diffs, first, second, paired), "paired differences")

    return [(f"Paired differences: {paired}", build)]


def _counts(res: SweepResults, page: _Page) -> None:
    """Runs planned, ok, failed and halted, per value of the paired parameter when there is one:
    halted runs are counted here and left out of every statistic below (analysis.usable_mask)."""
    paired = (res.manifest.get("report") or {}).get("paired")
    by = paired if paired in res.runs else None
    table = run_counts(res.runs, by)
    page.found["counts"] = table
    page.table("runs_count.csv", table)
    page.md += ["Halted: the network had no hashrate at some step (HHI, hashprice undefined there). Halted and "
                "failed runs are counted here and left out of every table and figure below; `usable` runs "
                "(ok, never halted) are what the statistics are taken over.\n", _md_table(table),
                "Table: [runs_count.csv](runs_count.csv)\n"]


def _survival_section(res: SweepResults, page: _Page) -> list:
    """Converters against the firms that kept mining, by condition (when the runs have the
    firm-level outcomes of ``runs.firm_outcomes``): survival.csv, its table and survival.png."""
    if not set(SURVIVAL) <= set(res.runs.columns):
        return []

    def build() -> None:
        paired = (res.manifest.get("report") or {}).get("paired")
        paired = paired if paired in res.parameters else None
        table = survival_by_condition(res.runs, res.parameters, paired)
        if table["n_runs"].iloc[0] == 0:
            return page.note("no survival comparison: no usable run had converters (or firms were not recorded)")
        page.found["survival"] = table
        page.table("survival.csv", table)
        page.md += ["Runs with converters (firms that ever had AI MW), each cut into the low and high half of "
                    "every parameter: survival share (active at the end) of converters and of the firms that "
                    "kept mining in the same run, their mean difference (`advantage`) with its 95% t-interval "
                    "over runs, the share of runs where converters did better, and the survival share of all "
                    "firms in the same bins' runs of the world without conversion.\n", _md_table(table),
                    "Table: [survival.csv](survival.csv)\n"]
        page.figure("survival.png", _survival_figure(table), "converter survival advantage by condition")

    return [("Converters against miners: survival by condition", build)]


def _survival_figure(table: pd.DataFrame) -> Figure:
    """The survival advantage of converters (mean, 95% interval) in every bin, one row each."""
    rows = table.iloc[::-1].reset_index(drop=True)
    fig = Figure(figsize=(7.5, 0.28 * len(rows) + 1.2), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(rows))
    ax.errorbar(rows["advantage"], y, xerr=[rows["advantage"] - rows["ci_low"], rows["ci_high"] - rows["advantage"]],
                fmt="o", ms=3, capsize=2)
    ax.axvline(0.0, color="grey", lw=0.8)
    ax.set_yticks(y, [f"{p}: {b}" for p, b in zip(rows["parameter"], rows["bin"])], fontsize=7)
    ax.set_xlabel("converter survival share - miner survival share (mean, 95% CI over runs)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    return fig


def _paired_figure(table: pd.DataFrame, diffs: dict[str, pd.Series], first, second, paired: str) -> Figure:
    """One panel per outcome: the paired differences over seeds and points (histogram), their
    mean (line) and its 95% interval (shade)."""
    shown = [o for o in table["outcome"] if len(diffs.get(o, ())) > 0][:MAX_PANELS * 2]
    fig, axes = figures.panels(max(len(shown), 1))
    rows = table.set_index("outcome")
    for ax, o in zip(axes, shown):
        ax.hist(diffs[o], bins=30, color="lightsteelblue")
        ax.axvline(rows.loc[o, "mean_diff"], color="black", lw=1)
        ax.axvspan(rows.loc[o, "ci_low"], rows.loc[o, "ci_high"], color="black", alpha=0.2, lw=0)
        ax.axvline(0.0, color="red", lw=0.8, ls="--")
        ax.set_title(f"{declared.title(o)}", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"paired difference: {paired} = {second} minus {paired} = {first}", fontsize=9)
    return fig


def _paired_diffs(res: SweepResults, paired: str, outcomes: list[str]) -> dict[str, pd.Series]:
    """Every usable pair's difference of each outcome (the values behind paired.csv's means)."""
    runs = res.runs[usable_mask(res.runs)]
    first, second = sorted(runs[paired].dropna().unique().tolist())
    keys = ["replication", *[p for p in res.parameters if p != paired]]
    a, b = (runs[runs[paired] == v].set_index(keys) for v in (first, second))
    both = a[outcomes].merge(b[outcomes], left_index=True, right_index=True, suffixes=("__a", "__b"))
    return {o: (both[f"{o}__b"].astype(float) - both[f"{o}__a"].astype(float)).dropna() for o in outcomes}


def _bands(res: SweepResults, outcomes: list[str], page: _Page) -> None:
    series = [o for o in outcomes if o in res.series()][:MAX_PANELS]
    if not series or "step" not in res.industry or res.industry["step"].nunique() < 2:
        return page.note("no bands over time: no chosen outcome was recorded at every step")
    if len(res.parameters) > MAX_PARAMS:
        page.note(f"bands drawn for the first {MAX_PARAMS} of {len(res.parameters)} parameters")
    page.md.append(f"Mean (line) and {LOW:.0%}-{HIGH:.0%} band (shade) of the ok runs at every step.\n")
    for p in res.parameters[:MAX_PARAMS] or [None]:
        runs, labels = _binned(res.runs, p, BAND_BINS, page, "bands") if p else (res.runs, {})
        fig = figures.bands_figure({o: bands_over_time(res.industry, runs, o, by=p) for o in series}, p, labels)
        page.figure(f"bands_{_slug(p or 'all')}.png", fig, f"outcomes over time by {p or 'run'}")


def _heatmap(res: SweepResults, outcomes: list[str], pair: list[str] | None, page: _Page) -> None:
    if pair is None or not outcomes:
        return page.note("no heatmap: " + ("it needs at least two swept parameters" if pair is None else "no outcomes"))
    (x, y), runs = pair, res.runs
    for p in pair:
        runs, _ = _binned(runs, p, HEAT_BINS, page, "heatmap")
    shown = outcomes[:MAX_PANELS]
    fig = figures.heatmap_figure({o: final_heatmap(runs, o, x, y) for o in shown}, x, y)
    page.figure("heatmap.png", fig, f"final outcomes over {x} and {y}")


def _sobol(res: SweepResults, summary: pd.DataFrame, outcomes: list[str], page: _Page) -> None:
    method = (res.manifest.get("design") or {}).get("method")
    params, n_points = res.parameters, len(res.manifest.get("points") or [])
    if method != "saltelli":
        return page.note(f"no Sobol indices: the design is {method!r}; they need design.method = 'saltelli'")
    if not _available("SALib"):
        return page.note("no Sobol indices: SALib is not installed (pip install 'marketsim[analysis]')")
    if summary["point_id"].tolist() != list(range(n_points)) or n_points % (len(params) + 2):
        return page.note(f"no Sobol indices: {len(summary)} of {n_points} design points have runs (resume the sweep)")
    from SALib.analyze import sobol

    problem = {"num_vars": len(params), "names": params,
               "bounds": [[float(summary[p].min()), float(summary[p].max())] for p in params]}
    rows = []
    for o in outcomes:
        y = summary[f"{o}_mean"].to_numpy(dtype=float)
        if np.isnan(y).any() or np.ptp(y) == 0:
            why = "some points have no ok run" if np.isnan(y).any() else "it is the same at every point"
            page.note(f"no Sobol indices for `{o}`: {why}")
            continue
        with warnings.catch_warnings(action="ignore"):
            si = sobol.analyze(problem, y, calc_second_order=False, seed=SOBOL_SEED)
        rows += [{"outcome": o, "parameter": p, **{k: float(si[k][j]) for k in ("S1", "S1_conf", "ST", "ST_conf")}}
                 for j, p in enumerate(params)]
    if not rows:
        return None
    table = pd.DataFrame(rows)
    page.table("sobol.csv", table)
    page.md += ["First-order (S1) and total (ST) indices of each outcome's mean over replications, "
                "with 95% bootstrap half-widths.\n", _md_table(table), "Table: [sobol.csv](sobol.csv)\n"]
    shown = list(dict.fromkeys(table["outcome"]))[:MAX_PANELS]
    fig = figures.sobol_figure(table, params, shown)
    page.figure("sobol.png", fig, "Sobol indices")


def _prim(res: SweepResults, conditions: list[str], page: _Page) -> None:
    """PRIM boxes over the usable runs (ok, never halted). A condition on an outcome that is NaN in
    some runs (converter outcomes in the world without conversion) is searched over the runs where
    it is defined, and parameters constant there (the switch itself) are left out: otherwise the
    box would only rediscover "conversion allowed"."""
    params, ok = res.parameters, res.usable_runs.reset_index(drop=True)
    if not conditions:
        return page.note("no scenario discovery: no conditions (set [report] conditions in the sweep file)")
    if not _available("ema_workbench"):
        return page.note("no scenario discovery: ema_workbench is not installed (pip install 'marketsim[analysis]')")
    if not params or ok.empty:
        return page.note("no scenario discovery: " + ("nothing was swept" if not params else "no usable run"))
    if len(params) == 1:
        page.note(f"only one parameter swept: each PRIM box is an interval of `{params[0]}`")
    page.md.append(f"Boxes of parameter space where at least {PRIM_THRESHOLD:.0%} of the usable runs meet the "
                   "condition (density), holding as many of those runs as possible (coverage).\n")
    page.found.setdefault("prim", [])
    for cond in conditions:
        name = CONDITION_RE.match(cond).group(1)
        runs = ok[ok[name].notna()].reset_index(drop=True)
        left = len(ok) - len(runs)
        varied = [p for p in params if runs[p].nunique() > 1]
        y = condition_mask(runs, cond).to_numpy()
        where = f"{int(y.sum())} of {len(y)} usable runs" + (f" where `{name}` is defined" if left else "")
        if not y.any() or y.all() or not varied:
            why = "no parameter varies among them" if not varied else f"{'no' if not y.any() else 'every'} ok run meets it"
            page.found["prim"].append({"condition": cond, "runs": where, "box": None, "why": why})
            page.note(f"`{cond}`: {why} ({where}); no box to find")
            continue
        box = _prim_box(runs[varied], y)
        if isinstance(box, str):
            page.found["prim"].append({"condition": cond, "runs": where, "box": None, "why": box})
            page.note(f"`{cond}`: {box} ({where})")
            continue
        file = f"prim_{_slug(cond)}.csv"
        page.table(file, box)
        held = box[box["restricted"]]
        limits = "; ".join(f"{format_number(r.lower)} <= `{r.parameter}` <= {format_number(r.upper)}" for r in held.itertuples())
        b = box.iloc[0]
        page.found["prim"].append({"condition": cond, "runs": where, "box": box, "limits": limits})
        page.md.append(f"- `{cond}` ({where}): {limits} "
                       f"(coverage {b.coverage:.2f}, density {b.density:.2f}, {int(b.runs_in_box)} runs in the box) "
                       f"[{file}]({file})\n")


def _prim_box(x: pd.DataFrame, y: np.ndarray) -> pd.DataFrame | str:
    """The densest box of largest coverage with density >= PRIM_THRESHOLD, or why there is none."""
    with _quiet():
        from ema_workbench.analysis import prim

        found = prim.Prim(x, y).find_box()
    traj = found.peeling_trajectory[["coverage", "density", "mass", "n", "k"]].astype(float)
    good = traj[traj["density"] >= PRIM_THRESHOLD].sort_values(["coverage", "density"], ascending=False)
    if good.empty:
        return f"PRIM found no box with density >= {PRIM_THRESHOLD} (best {traj['density'].max():.2f})"
    i = good.index[0]
    lims, init = found.box_lims[i], found.prim.box_init
    table = pd.DataFrame({"parameter": list(x.columns), "lower": lims.iloc[0].to_numpy(),
                          "upper": lims.iloc[1].to_numpy(), "sampled_min": init.iloc[0].to_numpy(),
                          "sampled_max": init.iloc[1].to_numpy()})
    table["restricted"] = (table["lower"] != table["sampled_min"]) | (table["upper"] != table["sampled_max"])
    if not table["restricted"].any():
        return f"the condition holds in {traj.loc[i, 'density']:.0%} of all runs; no box narrows it"
    stats = traj.loc[i].rename({"n": "runs_in_box", "k": "runs_meeting"})
    return table.assign(**stats.to_dict())


# --- helpers ----------------------------------------------------------------------------------
def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@contextlib.contextmanager
def _quiet():
    """ema_workbench warns on import (optional extras) and logs every box: silence both."""
    logger, level = logging.getLogger("EMA"), logging.getLogger("EMA").level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(action="ignore"):
            yield
    finally:
        logger.setLevel(level)


def _binned(runs: pd.DataFrame, p: str, bins: int, page: _Page, where: str) -> tuple[pd.DataFrame, dict]:
    """``analysis.binned`` (quantile bins labelled by their mean), with a note on the page."""
    out, labels = binned(runs, p, bins, MAX_LINES)
    if labels:
        page.note(f"{where}: `{p}` has {runs[p].nunique()} values, cut into {bins} quantile bins (labelled by their mean)")
    return out, labels


def _publish(tmp: Path, out: Path) -> None:
    """Swap the finished folder in (marker, then `marketsim.output.publish`: the old report goes
    only once the new one is in place)."""
    output.write_marker(tmp, "report")
    output.publish(tmp, out, "report")


def _slug(text: str) -> str:
    for op, word in ((">=", "ge"), ("<=", "le"), (">", "gt"), ("<", "lt")):
        text = text.replace(op, f"_{word}_")
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9.\-]+", "_", text)).strip("_")


def _md_table(frame: pd.DataFrame) -> str:
    cells = [[format_number(v).replace("|", "\\|") for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * frame.shape[1]]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells]) + "\n"
