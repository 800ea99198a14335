"""Sweep explorer: the second page of the dashboard (``/explorer``).

Open a sweep's result folder (the ``--out`` of ``marketsim sweep``), pick a series and a
parameter to see percentile bands over time, and a final outcome and two parameters to see a
heatmap of its mean over replications. The numbers come from
``marketsim.experiments.analysis`` (the same functions ``marketsim report`` uses); this module
only draws them. A missing or corrupt folder shows the ``StoreError`` message, nothing else.

The folder starts as ``$MARKETSIM_SWEEP_DIR`` (when set) and can be typed in the page.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import solara
from matplotlib.figure import Figure

from marketsim.experiments.analysis import SweepResults, bands_over_time, final_heatmap, load_results, outcome_summary
from marketsim.experiments.store import StoreError
from viz.svgcharts import fmt_number

ENV_VAR = "MARKETSIM_SWEEP_DIR"
ALL_RUNS = "(all runs together)"
FIGSIZE = (6.4, 4.2)
DPI = 90
PREFERRED_SERIES = ("mw_ai", "network_hashrate_ehs", "hhi_hashrate", "firms_active")


def default_dir() -> str:
    return os.environ.get(ENV_VAR, "")


def open_sweep(folder: str) -> tuple[SweepResults | None, str | None]:
    """(results, None) for a readable sweep folder; (None, message) for a missing, corrupt or
    unfinished one; (None, None) when no folder is given yet."""
    text = (folder or "").strip()
    if not text:
        return None, None
    try:
        return load_results(Path(text).expanduser()), None
    except StoreError as exc:
        return None, str(exc)
    except OSError as exc:  # e.g. a folder that cannot be read
        return None, f"{text}: cannot be read ({exc})"


def _pick(value, options: list, preferred=()) -> object:
    """``value`` if it is still an option, else the first preferred option present, else the first."""
    if value in options:
        return value
    for p in preferred:
        if p in options:
            return p
    return options[0] if options else None


def defaults(results: SweepResults) -> dict[str, object]:
    """What the explorer shows before the user picks: the sweep file's report outcomes and
    heatmap axes when it names them, else the first parameters."""
    report = results.manifest.get("report") or {}
    params = results.parameters
    outcomes = results.outcomes()
    heat = report.get("heatmap") or [None, None]  # the sweep file's [report] heatmap = [x, y]
    x = _pick(heat[0], params)
    y = _pick(heat[1], [p for p in params if p != x])
    return {
        "series": _pick(None, results.series(), [*(report.get("outcomes") or []), *PREFERRED_SERIES]),
        "by": params[0] if params else ALL_RUNS,
        "outcome": _pick(None, outcomes, list(report.get("outcomes") or [])),
        "x": x,
        "y": y,
    }


def _fmt(value) -> str:
    return fmt_number(float(value)) if isinstance(value, (int, float, np.number)) else str(value)


def bands_figure(results: SweepResults, series: str, by: str | None) -> Figure:
    """Mean and 5-95% band of ``series`` at every step, one colour per value of ``by``."""
    bands = bands_over_time(results.industry, results.runs, series, by)
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax = fig.subplots()
    groups = bands.groupby(by, sort=True) if by else [(None, bands)]
    time_col = "date" if "date" in bands else "step"
    for value, group in groups:
        label = f"{by} = {_fmt(value)}" if by else "all runs"
        line = ax.plot(group[time_col], group["mean"], label=f"{label} (n={int(group['n'].max())})")[0]
        ax.fill_between(group[time_col], group["low"], group["high"], color=line.get_color(), alpha=0.2)
    ax.set_title(f"{series}: mean and 5-95% band over replications", fontsize=10)
    ax.set_xlabel(time_col)
    ax.set_ylabel(series)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if time_col == "date":
        fig.autofmt_xdate()
    return fig


def heatmap_figure(results: SweepResults, outcome: str, x: str, y: str) -> Figure:
    """Mean final ``outcome`` over replications for each (x, y) pair of parameter values."""
    table = final_heatmap(results.runs, outcome, x, y)
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax = fig.subplots()
    values = table.to_numpy(float)
    image = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis")
    fig.colorbar(image, ax=ax, label=f"mean {outcome}")
    ax.set_xticks(range(table.shape[1]), [_fmt(v) for v in table.columns], fontsize=8)
    ax.set_yticks(range(table.shape[0]), [_fmt(v) for v in table.index], fontsize=8)
    if values.size <= 100:
        finite = values[np.isfinite(values)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8,
                        color="black" if v > middle else "white")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"final {outcome} (mean over replications)", fontsize=10)
    return fig


def outcome_line_figure(results: SweepResults, outcome: str, x: str) -> Figure:
    """For a one-parameter sweep: mean final ``outcome`` and its 5-95% band against ``x``."""
    summary = outcome_summary(results.runs, [x], [outcome]).sort_values(x)
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax = fig.subplots()
    ax.plot(summary[x], summary[f"{outcome}_mean"], marker="o", color="#1e88e5")
    ax.fill_between(summary[x], summary[f"{outcome}_p05"], summary[f"{outcome}_p95"], color="#1e88e5", alpha=0.2)
    ax.set_xlabel(x)
    ax.set_ylabel(outcome)
    ax.set_title(f"final {outcome}: mean and 5-95% band (one parameter: no heatmap)", fontsize=10)
    ax.grid(alpha=0.3)
    return fig


def sweep_line(results: SweepResults) -> str:
    runs = results.runs
    ok = int((runs["status"] == "ok").sum())
    name = results.manifest.get("name", results.root.name)
    params = ", ".join(results.parameters) or "none"
    return (f"**{name}**: {runs['point_id'].nunique()} parameter points, {ok} runs ok, {len(runs) - ok} failed · "
            f"parameters: {params} · status {results.manifest.get('status', '?')} · folder `{results.root}`")


@solara.component
def SweepExplorer(initial_dir: str | None = None):
    folder = solara.use_reactive(default_dir() if initial_dir is None else initial_dir)
    reloads = solara.use_reactive(0)
    results, error = solara.use_memo(lambda: open_sweep(folder.value), [folder.value, reloads.value])
    series = solara.use_reactive(None)
    by = solara.use_reactive(None)
    outcome = solara.use_reactive(None)
    x = solara.use_reactive(None)
    y = solara.use_reactive(None)

    solara.Title("marketsim · sweep explorer")
    with solara.Column(style={"padding": "12px"}, classes=["sweep-explorer"]):
        solara.Markdown("## Sweep explorer")
        with solara.Row(style={"align-items": "center"}):
            solara.InputText("Sweep folder (the --out of `marketsim sweep`); Enter to open", value=folder,
                             continuous_update=False, style={"min-width": "560px"})
            solara.Button("Reload", on_click=lambda: reloads.set(reloads.value + 1), outlined=True)
        if error:
            solara.Error(f"Cannot open this sweep: {error}", classes=["sweep-error"])
            return
        if results is None:
            solara.Info(f"Type the folder of a sweep above (or start the app with {ENV_VAR}=<folder>). "
                        "Make one with: marketsim sweep smoke --out /tmp/sweep")
            return
        solara.Markdown(sweep_line(results))
        d = defaults(results)
        params = results.parameters
        s_series = _pick(series.value, results.series(), [d["series"]])
        s_by = _pick(by.value, params + [ALL_RUNS], [d["by"]])
        s_outcome = _pick(outcome.value, results.outcomes(), [d["outcome"]])
        s_x = _pick(x.value, params, [d["x"]])
        s_y = _pick(y.value, [p for p in params if p != s_x], [d["y"]])
        with solara.Columns([1, 1]):
            with solara.Column(classes=["sweep-bands"]):
                with solara.Row():
                    solara.Select("Series over time", values=results.series(), value=s_series, on_value=series.set)
                    solara.Select("Bands by", values=params + [ALL_RUNS], value=s_by, on_value=by.set)
                _Figure(lambda: bands_figure(results, s_series, None if s_by == ALL_RUNS else s_by),
                        [folder.value, reloads.value, s_series, s_by])
            with solara.Column(classes=["sweep-heatmap"]):
                with solara.Row():
                    solara.Select("Final outcome", values=results.outcomes(), value=s_outcome, on_value=outcome.set)
                    if params:
                        solara.Select("x", values=params, value=s_x, on_value=x.set)
                    if len(params) > 1:
                        solara.Select("y", values=[p for p in params if p != s_x], value=s_y, on_value=y.set)
                if len(params) > 1:
                    _Figure(lambda: heatmap_figure(results, s_outcome, s_x, s_y),
                            [folder.value, reloads.value, s_outcome, s_x, s_y])
                elif params:
                    _Figure(lambda: outcome_line_figure(results, s_outcome, s_x),
                            [folder.value, reloads.value, s_outcome, s_x])
                else:
                    solara.Info("This sweep varies no parameter: nothing to map.")


@solara.component
def _Figure(make, dependencies):
    """A figure drawn only when its inputs change; a bad choice shows its message instead."""
    figure, problem = solara.use_memo(lambda: _try(make), dependencies)
    if problem:
        solara.Error(problem)
    else:
        solara.FigureMatplotlib(figure, format="png", dependencies=dependencies)


def _try(make):
    try:
        return make(), None
    except (KeyError, ValueError) as exc:
        return None, str(exc)
