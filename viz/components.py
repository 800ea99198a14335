"""Solara components of the dashboard: each shows views from ``views.py`` and re-renders after
every step (it reads Mesa's ``update_counter``, which Mesa's ModelController bumps after a step).

Charts are Plotly figures (``viz.charts``) shown by ``PlotlyChart``; each figure is built once
per step (``views``' per-step cache) and sent to the browser only when it changed. Every panel
takes the model, as Mesa's visualisation components do.
"""

from __future__ import annotations

import html

import ipyvuetify
import solara
import solara.lab
from mesa.visualization.utils import force_update, update_counter
from plotly.graph_objs._figurewidget import FigureWidget

from . import charts, seeds, views

RECENT_EVENTS = 10
TABLE_ROWS = 10
CARD_STYLE = {"padding": "4px 8px", "min-width": "0"}


class ChartWidget(FigureWidget):
    """Plotly's FigureWidget with charts.CONFIG (responsive, no logo, PNG button) in the state the
    browser first draws it with: plotly.js reads its config only then, and a chart that is not
    ``responsive`` keeps the 700 px default width it got before its panel was laid out (cut off).
    FigureWidget sets its config from ``plotly.offline.offline._get_jconfig`` while it is built;
    that function is swapped for the duration so the config is there from the first message (set
    afterwards, it raced the first drawing)."""

    def __init__(self, *args, **kwargs):
        from plotly.offline import offline

        real = offline._get_jconfig
        offline._get_jconfig = lambda config=None: {**real(config), **charts.CONFIG}
        try:
            super().__init__(*args, **kwargs)
        finally:
            offline._get_jconfig = real


class Held:
    """A figure passed to a component by reference: reacton compares a component's arguments on
    every render, and a plotly Figure's ``==`` serialises both figures (~50 ms each at 1,000 firms)."""

    __slots__ = ("fig",)

    def __init__(self, fig):
        self.fig = fig


@solara.component
def PlotlyChart(held: Held, key: tuple, name: str = "chart"):
    """A Plotly figure as a live widget (hover, zoom, legend toggling, PNG download in the mode
    bar). Like ``solara.FigurePlotly``, with the mode bar's settings and redrawn only when ``key``
    changes (a figure per model and step). ``name`` names the chart's panel (CSS class)."""
    fig = held.fig

    def update():
        widget: ChartWidget = solara.get_widget(element)
        with widget.batch_update():
            # the layout is rebuilt (and re-validated) only when it changed: on a time chart it
            # changes when a mark appears, not every step
            source = getattr(fig, "_source_layout", None)
            if source is None or getattr(widget, "_sent_layout", None) != source:
                widget.layout = fig.layout
                widget._sent_layout = source
            old = len(widget.data)
            widget.add_traces(fig.data)
            widget.data = widget.data[old:]

    element = ChartWidget.element(_validate=False)  # the figure was validated when it was built
    solara.use_effect(update, [key])
    return element


def _chart(model, name: str) -> None:
    fig = views.FIGURES[name](model)
    with solara.Div(classes=["plotly-chart", f"chart-{name}"], style={"min-width": "0"}):
        PlotlyChart(Held(fig), (id(model), name, *views.version(model)), name)


def _chart_component(name: str, doc: str):
    @solara.component
    def Chart(model):
        update_counter.get()
        _chart(model, name)
    Chart.__name__ = Chart.f.__name__ = f"Chart_{name}"
    Chart.__doc__ = doc
    return Chart


PriceChart = _chart_component("price", "BTC price and hashprice")
HashrateChart = _chart_component("hashrate", "Network hashrate")
PivotChart = _chart_component("pivot", "Share of live MW by state, with the scenario's AI target")
AIChart = _chart_component("ai", "AI MW demanded, signed, delivered, converting; lease rate")
RevenueChart = _chart_component("revenue", "Mining and AI revenue, each on its own axis")
MarketMap = _chart_component("map", "Firms by power cost and size, coloured by AI share")
CostCurve = _chart_component("cost", "The industry's cost curve against the hashprice")
PopulationHistograms = _chart_component("population", "Histograms of the firm population")
ConsolidationPanel = _chart_component("consolidation", "HHI, top-5, firms, bankruptcies, sales, takeovers")


@solara.component
def Headline(model):
    """What happens now, in one line (and the browser tab's title: 'marketsim · scenario · step N'),
    the scenario's own description, and the states a user must not miss (finished, halted)."""
    update_counter.get()
    solara.Title(views.step_label(model))
    with solara.Div(style={"padding": "4px 8px 0 8px"}, classes=["marketsim-headline"]):
        solara.HTML(tag="div", unsafe_innerHTML=views.headline(model), style={"font-size": "15px"})
        if model.config.description:
            solara.HTML(tag="div", unsafe_innerHTML=html.escape(model.config.description),
                        classes=["scenario-description"], style={"font-size": "13px", "font-style": "italic"})
        solara.HTML(tag="div", unsafe_innerHTML=html.escape(views.scenario_line(model.config)),
                    style={"font-size": "12px", "color": "#555"})
    for kind, sentence in views.status(model):
        solara.Warning(sentence, classes=[f"status-{kind}"], dense=True) if kind == "halted" else \
            solara.Success(sentence, classes=[f"status-{kind}"], dense=True)


@solara.component
def FirmTable(model):
    """Active firms, the name pinned at the left and the AI columns next to it (CSS in app.py)."""
    update_counter.get()
    headers, items = views.table_items(views.firm_table(model))
    # The table widget is made once and its rows are set on it directly: passed as an element's
    # argument, 1,000 firms' rows would be walked by reacton on every render (half a second).
    table = solara.use_memo(lambda: ipyvuetify.DataTable(
        headers=headers, items=[], items_per_page=TABLE_ROWS, dense=True, sort_by=["mw"], sort_desc=[True],
        class_="firm-table", footer_props={"items-per-page-options": [TABLE_ROWS, 25, 100]}), [])

    def send_rows():
        table.items = items

    solara.use_effect(send_rows, [model, model.steps])
    with solara.Div(style=CARD_STYLE):
        converters = sum(1 for row in items if (row.get("ai_mw") or 0) > 0)
        solara.Markdown(f"**Firms** ({len(items)} active, {converters} with AI MW; click a header to sort)")
        solara.Div(children=[table])


def _small_table(frame, css_class: str, empty: str) -> None:
    if len(frame):
        headers = [{"text": c, "value": c, "sortable": False} for c in frame.columns]
        solara.v.DataTable(headers=headers, items=frame.to_dict("records"), items_per_page=len(frame),
                           dense=True, hide_default_footer=True, class_=css_class)
    else:
        solara.Text(empty)


@solara.component
def EventFeed(model):
    update_counter.get()
    with solara.Div(style=CARD_STYLE):
        solara.Markdown("**Recent events** (newest first; curtailments left out)")
        _small_table(views.recent_events(model, RECENT_EVENTS), "event-feed", "no events yet")


@solara.component
def LargestDeals(model):
    update_counter.get()
    with solara.Div(style=CARD_STYLE):
        solara.Markdown("**Largest deals of the run** (sites at auction, firms bought)")
        _small_table(views.largest_deals(model), "largest-deals", "no deals yet")


@solara.component
def Downloads(model):
    """The run's tables as CSV (built when clicked); every chart has its own PNG button."""
    update_counter.get()
    stem = f"marketsim-{model.config.name}-step{model.steps}"
    with solara.Column(gap="2px", classes=["downloads"]):
        solara.FileDownload(lambda: views.industry_csv(model), f"{stem}-industry.csv", label="Industry table (CSV)",
                            mime_type="text/csv")
        solara.FileDownload(lambda: views.firms_csv(model), f"{stem}-firms.csv", label="Firms now (CSV)",
                            mime_type="text/csv")
        solara.FileDownload(lambda: views.events_csv(model), f"{stem}-events.csv", label="Events (CSV)",
                            mime_type="text/csv")
        solara.Text("Charts: the camera icon above each chart saves a PNG.", style={"font-size": "12px"})


@solara.component
def SeedBand(model):
    """"Run N seeds of these settings": the live model's scenario run with N other seeds in worker
    processes (``viz.seeds``) while the page stays live; when they are done the time charts draw
    their 10-90% band and median behind the live run (``model.seed_band``). A Reset to the same
    settings keeps the band; other settings need a new one."""
    update_counter.get()
    n_seeds = solara.use_reactive(seeds.DEFAULT_SEEDS)
    progress = solara.use_reactive("")
    latest = solara.use_ref(model)
    latest.current = model
    stop = solara.use_ref(False)

    def run(config, seed, n):
        stop.current = False
        progress.set(f"0 of {n} runs done")
        band = seeds.run_band(config, seeds.band_seeds(seed, n), on_done=lambda d, t: progress.set(f"{d} of {t} runs done"),
                              cancelled=lambda: stop.current)
        if band is not None and latest.current.config == config:
            latest.current.seed_band = band
            force_update()  # the charts redraw with the band
        progress.set("" if band is not None else "stopped" if stop.current else "no run finished")
        return band

    task = solara.lab.use_task(run, dependencies=None, raise_error=False)
    band = views.seed_band(model)
    with solara.Column(gap="2px", classes=["seed-band"]):
        solara.SliderInt("Seeds to run", value=n_seeds, min=2, max=seeds.MAX_SEEDS, step=1, disabled=task.pending)
        if task.pending:
            solara.ProgressLinear(True)
            solara.Text(f"Running {n_seeds.value} seeds in the background: {progress.value}",
                        classes=["seed-band-progress"])
            solara.Button("Stop", on_click=lambda: setattr(stop, "current", True), text=True, color="primary")
        else:
            solara.Button(f"Run {n_seeds.value} seeds of these settings", color="primary", outlined=True,
                          on_click=lambda: task(model.config, getattr(model, "_seed", None), n_seeds.value),
                          classes=["run-seeds"])
        if task.error:
            solara.Error(f"seeds failed: {task.exception}", dense=True)
        if band is not None:
            solara.Success(f"Band shown: {band.label}, behind the live lines.",
                           dense=True, classes=["seed-band-shown"])
        elif not task.pending:
            solara.Text("Runs the live scenario with other seeds and draws their 10-90% band behind the time "
                        "charts.", style={"font-size": "12px"})


# The tabs of the dashboard: (name, panels in order). Only the open tab is drawn.
TABS = {
    "Pivot to AI": [PivotChart, AIChart, MarketMap, FirmTable],
    "Consolidation": [ConsolidationPanel, LargestDeals, EventFeed],
    "Market": [PriceChart, HashrateChart, RevenueChart, CostCurve, PopulationHistograms],
}
COMPONENTS = [c for panels in TABS.values() for c in panels]


@solara.component
def Panels(model, tab: str):
    """The panels of one tab on a grid of chart-wide columns (two from ~1,250 px of window)."""
    panels = TABS[tab]
    with solara.Div(style={"display": "grid", "grid-template-columns": f"repeat(auto-fill, {charts.WIDTH + 2}px)",
                           "gap": "8px", "padding": "4px"}, classes=["panels", f"tab-{tab.split()[0].lower()}"]):
        for panel in panels:
            with solara.Div(style={"min-width": "0", "overflow-x": "auto", "border": "1px solid #e0e0e0",
                                   "border-radius": "4px"}):
                panel(model)
