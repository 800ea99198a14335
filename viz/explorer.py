"""Sweep explorer: the second page of the dashboard (``/explorer``).

Open a sweep's result folder (the ``--out`` of ``marketsim sweep``), pick a series and a
parameter to see percentile bands over time, and a final outcome and two parameters to see a
heatmap of its mean over replications, with the number of runs in each cell. Outcomes are listed
by their declared label and unit (``marketsim.outcomes``), the sweep file's ``[report]`` outcomes
first, in lists you can type into to search. A parameter of a sampled design (LHS, Sobol: a value
per point) is cut into quantile bins as ``marketsim report`` does (``analysis.binned``). The numbers
come from ``marketsim.experiments.analysis``; the charts are ``viz.charts`` (Plotly: hover, zoom,
PNG download) and the summary table downloads as CSV. A missing or corrupt folder shows the
``StoreError`` message, nothing else.

The folder starts as ``$MARKETSIM_SWEEP_DIR`` (when set) and can be typed in the page.
"""

from __future__ import annotations

import os
from pathlib import Path

import solara

from marketsim import outcomes
from marketsim.experiments.analysis import (
    SweepResults, band_suffixes, bands_over_time, binned, final_heatmap, load_results, outcome_summary,
)
from marketsim.experiments.store import StoreError

from . import charts
from .components import Held, PlotlyChart

ENV_VAR = "MARKETSIM_SWEEP_DIR"
ALL_RUNS = "(all runs together)"
PREFERRED_SERIES = ("mw_ai", "network_hashrate_ehs", "hhi_hashrate", "firms_active")
BAND_BINS, HEAT_BINS = 3, 4  # as marketsim report: quantile bins for sampled designs


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


def ordered(names: list[str], first: list[str]) -> list[str]:
    """``names`` with those in ``first`` (the sweep's [report] outcomes) in front, in their order."""
    front = [n for n in first if n in names]
    return front + [n for n in names if n not in front]


def choices(names: list[str], first: list[str] = ()) -> list[dict]:
    """Items for a searchable list: the declared title ('AI-leased MW (MW)') and the column name,
    the report's outcomes first (marked with a star)."""
    first = [n for n in first if n in names]
    return [{"text": f"{'★ ' if n in first else ''}{outcomes.title(n)} · {n}", "value": n}
            for n in ordered(names, list(first))]


def report_outcomes(results: SweepResults) -> list[str]:
    return list((results.manifest.get("report") or {}).get("outcomes") or [])


def bands_figure(results: SweepResults, series: str, by: str | None):
    """Mean and 5-95% band of ``series`` at every step, one colour per value (or bin) of ``by``."""
    runs, labels = binned(results.runs, by, BAND_BINS) if by else (results.runs, {})
    return charts.bands(bands_over_time(results.industry, runs, series, by), series, by, labels)


def heatmap_figure(results: SweepResults, outcome: str, x: str, y: str):
    """Mean final ``outcome`` over runs for each (x, y) cell (bins for sampled designs), with the
    number of runs in each cell."""
    runs, x_labels = binned(results.runs, x, HEAT_BINS)
    runs, y_labels = binned(runs, y, HEAT_BINS)
    table = final_heatmap(runs, outcome, x, y)
    counts = final_heatmap(runs, outcome, x, y, stat="count")
    return charts.heatmap(table, counts, outcome, x, y, x_labels, y_labels)


def outcome_line_figure(results: SweepResults, outcome: str, x: str):
    """For a one-parameter sweep: mean final ``outcome`` and its 5-95% band against ``x``."""
    summary = outcome_summary(results.runs, [x], [outcome]).sort_values(x)
    lo, hi = band_suffixes()
    return charts.outcome_line(summary, outcome, x, f"{outcome}_{lo}", f"{outcome}_{hi}")


def summary_csv(results: SweepResults) -> str:
    """Per parameter point: parameters, runs ok/failed, mean and 5-95% band of every outcome."""
    names = ordered(results.outcomes(), report_outcomes(results))
    return outcome_summary(results.runs, results.parameters, names).to_csv(index=False)


def sweep_line(results: SweepResults) -> str:
    runs = results.runs
    ok = int((runs["status"] == "ok").sum())
    name = results.manifest.get("name", results.root.name)
    params = ", ".join(results.parameters) or "none"
    return (f"**{name}**: {runs['point_id'].nunique()} parameter points, {ok} runs ok, {len(runs) - ok} failed · "
            f"parameters: {params} · status {results.manifest.get('status', '?')} · folder `{results.root}`")


def _Pick(label: str, items: list[dict], value, on_value, css: str):
    """A list the user can type into to search (Vuetify autocomplete)."""
    return solara.v.Autocomplete(label=label, items=items, v_model=value, on_v_model=on_value, dense=True,
                                 outlined=True, hide_details=True, class_=f"pick-{css}",
                                 style_="min-width: 260px; max-width: 100%; margin: 4px")


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
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
            solara.InputText("Sweep folder (the --out of `marketsim sweep`); Enter to open", value=folder,
                             continuous_update=False, style={"min-width": "420px", "flex-grow": "1"})
            solara.Button("Reload", on_click=lambda: reloads.set(reloads.value + 1), outlined=True)
        if error:
            solara.Error(f"Cannot open this sweep: {error}", classes=["sweep-error"])
            return
        if results is None:
            solara.Info(f"Type the folder of a sweep above (or start the app with {ENV_VAR}=<folder>). "
                        "Make one with: marketsim sweep smoke --out /tmp/sweep")
            return
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
            solara.Markdown(sweep_line(results))
            solara.FileDownload(lambda: summary_csv(results), f"{results.root.name}-summary.csv",
                                label="Summary per point (CSV)", mime_type="text/csv")
        d = defaults(results)
        params = results.parameters
        first = report_outcomes(results)
        s_series = _pick(series.value, results.series(), [d["series"]])
        s_by = _pick(by.value, params + [ALL_RUNS], [d["by"]])
        s_outcome = _pick(outcome.value, results.outcomes(), [d["outcome"]])
        s_x = _pick(x.value, params, [d["x"]])
        s_y = _pick(y.value, [p for p in params if p != s_x], [d["y"]])
        param_items = [{"text": p, "value": p} for p in params]
        with solara.Div(style={"display": "grid", "grid-template-columns": f"repeat(auto-fill, {charts.WIDE + 10}px)",
                               "gap": "8px"}):
            with solara.Column(classes=["sweep-bands"], style={"min-width": "0"}):
                with solara.Row(style={"flex-wrap": "wrap"}):
                    _Pick("Series over time (type to search)", choices(results.series(), first), s_series,
                          series.set, "series")
                    _Pick("Bands by", param_items + [{"text": ALL_RUNS, "value": ALL_RUNS}], s_by, by.set, "by")
                _Chart(lambda: bands_figure(results, s_series, None if s_by == ALL_RUNS else s_by),
                       (folder.value, reloads.value, s_series, s_by), "bands")
            with solara.Column(classes=["sweep-heatmap"], style={"min-width": "0"}):
                with solara.Row(style={"flex-wrap": "wrap"}):
                    _Pick("Final outcome (type to search)", choices(results.outcomes(), first), s_outcome,
                          outcome.set, "outcome")
                    if params:
                        _Pick("x", param_items, s_x, x.set, "x")
                    if len(params) > 1:
                        _Pick("y", [i for i in param_items if i["value"] != s_x], s_y, y.set, "y")
                if len(params) > 1:
                    _Chart(lambda: heatmap_figure(results, s_outcome, s_x, s_y),
                           (folder.value, reloads.value, s_outcome, s_x, s_y), "heatmap")
                elif params:
                    _Chart(lambda: outcome_line_figure(results, s_outcome, s_x),
                           (folder.value, reloads.value, s_outcome, s_x), "outcome-line")
                else:
                    solara.Info("This sweep varies no parameter: nothing to map.")


@solara.component
def _Chart(make, key: tuple, name: str):
    """A figure built only when its inputs change; a bad choice shows its message instead."""
    figure, problem = solara.use_memo(lambda: _try(make), list(key))
    if problem:
        solara.Error(problem)
    else:
        with solara.Div(classes=["plotly-chart", f"chart-explorer-{name}"], style={"min-width": "0"}):
            PlotlyChart(Held(figure), key, f"explorer-{name}")


def _try(make):
    try:
        return make(), None
    except (KeyError, ValueError) as exc:
        return None, str(exc)
