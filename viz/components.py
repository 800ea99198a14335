"""Solara components of the dashboard: each draws one view from ``views.py`` and re-renders
after every step (it reads Mesa's ``update_counter``, which SolaraViz bumps after a step).

The first page's charts are SVG markup from ``views`` (a millisecond or two per chart, so a step
with 1,000 firms redraws in well under a second); the second page ("Page 1" in SolaraViz's tabs)
holds more industry series as Mesa's own ``make_plot_component`` matplotlib charts, which cost
more per step and redraw only while their tab is shown. Every component takes the model, as
SolaraViz expects.
"""

from __future__ import annotations

import ipyvuetify
import solara
from mesa.visualization import make_plot_component
from mesa.visualization.utils import update_counter

from viz import views

RECENT_EVENTS = 10
TABLE_ROWS = 8
MPL_FIGSIZE = (6.4, 3.9)
MPL_DPI = 80
CARD_STYLE = {"height": "100%", "overflow": "auto", "padding": "2px 6px"}


def _svg(markup: str, css_class: str = "") -> None:
    solara.HTML(tag="div", unsafe_innerHTML=markup, classes=["svg-chart", css_class] if css_class else ["svg-chart"])


def _mesa_style(title: str, ylabel: str, names: dict[str, str]):
    """A post_process for Mesa's plot components: title, labels, readable legend, smaller image."""
    def post_process(ax):
        ax.set_title(title, fontsize=11)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(handles, [names.get(label, label) for label in labels], fontsize=8, loc="upper left")
        ax.figure.set_size_inches(*MPL_FIGSIZE)
        ax.figure.set_dpi(MPL_DPI)
    return post_process


# Page 1 of the dashboard: more industry series as Mesa's own matplotlib charts (x: step).
# They redraw only while their tab is open (a matplotlib figure costs 150-250 ms a step).
MESA_PLOTS = [
    make_plot_component({"ai_demand_mw": "#1e88e5", "ai_contracted_it_mw": "#43a047"}, page=1,
                        post_process=_mesa_style("AI hosting: demand and contracted IT MW", "MW IT",
                                                 {"ai_demand_mw": "demand", "ai_contracted_it_mw": "contracted"})),
    make_plot_component("ai_lease_rate_usd_per_kw_month", page=1,
                        post_process=_mesa_style("AI lease rate", "USD per kW-month", {})),
    make_plot_component({"btc_price_usd": "#f2a900", "cost_to_mine_btc_usd": "#6d4c41"}, page=1,
                        post_process=_mesa_style("BTC price and the industry's cost to mine one", "USD",
                                                 {"btc_price_usd": "BTC price",
                                                  "cost_to_mine_btc_usd": "cost to mine"})),
    make_plot_component({"avg_efficiency_j_per_th": "#5d4037", "frontier_j_per_th": "#8e24aa"}, page=1,
                        post_process=_mesa_style("Fleet efficiency: average and best on sale", "J/TH",
                                                 {"avg_efficiency_j_per_th": "industry average",
                                                  "frontier_j_per_th": "frontier"})),
    make_plot_component({"hhi_mw": "#6d4c41", "top5_share_mw": "#8e24aa", "public_share_hashrate": "#00897b"},
                        page=1, post_process=_mesa_style("Concentration of MW; public miners' hashrate share", "0 to 1",
                                                         {"hhi_mw": "HHI of MW", "top5_share_mw": "top-5 share of MW",
                                                          "public_share_hashrate": "public share of hashrate"})),
    make_plot_component("machine_price_usd_per_th", page=1,
                        post_process=_mesa_style("ASIC price", "USD per TH/s", {})),
]


def _series_component(name: str):
    @solara.component
    def SeriesChart(model):
        update_counter.get()
        _svg(views.series_chart(model, name))
    SeriesChart.__name__ = SeriesChart.f.__name__ = f"Series_{name}"
    return SeriesChart


BTCPrice = _series_component("btc_price")
Hashprice = _series_component("hashprice")
Hashrate = _series_component("hashrate")
Revenue = _series_component("revenue")
Firms = _series_component("firms")
Concentration = _series_component("concentration")


@solara.component
def Headline(model):
    """What happens now, in one line (and the browser tab's title: 'marketsim · scenario · step N')."""
    update_counter.get()
    solara.Title(views.step_label(model))
    with solara.Div(style={"padding": "4px 16px 0 16px"}, classes=["marketsim-headline"]):
        solara.HTML(tag="div", unsafe_innerHTML=views.headline(model), style={"font-size": "15px"})
        solara.Text(views.scenario_line(model.config), style={"font-size": "12px", "color": "#666"})


@solara.component
def MWByState(model):
    update_counter.get()
    _svg(views.mw_by_state_chart(model))


@solara.component
def CostCurve(model):
    update_counter.get()
    _svg(views.cost_curve_chart(model))


@solara.component
def MarketMap(model):
    update_counter.get()
    _svg(views.market_map_svg(model))
    if not views.has_data(model):
        solara.Text("the firms appear after the first step (press Step or ▶)")


@solara.component
def PopulationHistograms(model):
    update_counter.get()
    with solara.Div(style=CARD_STYLE):
        solara.Markdown(f"**Firm population now** ({int(model.firms.active.sum())} active firms)")
        with solara.Div(style={"display": "grid", "grid-template-columns": "1fr 1fr", "gap": "4px"}):
            for markup in views.population_histograms(model):
                _svg(markup)


@solara.component
def FirmTable(model):
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
        solara.Markdown(f"**Firms** ({len(items)} active; click a column header to sort)")
        solara.Div(children=[table])


@solara.component
def EventFeed(model):
    update_counter.get()
    events = views.recent_events(model, RECENT_EVENTS)
    with solara.Div(style=CARD_STYLE):
        solara.Markdown("**Recent events** (newest first; curtailments left out)")
        if len(events):
            headers = [{"text": c, "value": c, "sortable": False} for c in events.columns]
            solara.v.DataTable(headers=headers, items=events.to_dict("records"), items_per_page=RECENT_EVENTS,
                               dense=True, hide_default_footer=True, class_="event-feed")
        else:
            solara.Text("no events yet")


# the order on the page (two per row); page 1 holds MESA_PLOTS
COMPONENTS = [
    BTCPrice, Hashprice,
    MWByState, MarketMap,
    Hashrate, Revenue,
    Firms, Concentration,
    CostCurve, PopulationHistograms,
    FirmTable, EventFeed,
    *MESA_PLOTS,
]
