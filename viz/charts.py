"""Every chart of the dashboard and the sweep explorer, as Plotly figures (one chart layer).

Plotly's Python package ships its JavaScript (the widget bundle and plotly.js) and Solara shows
a figure with ``solara.FigurePlotly`` (through ``anywidget``), so hover, zoom, legend toggling
(click an entry) and the PNG download (the camera in the mode bar) come with every chart and
nothing is fetched from the internet. The functions here take plain pandas/numpy data and return
a ``go.Figure``: they know nothing of Solara or of the model, and are tested without a browser.

Speed: Plotly's stock templates (``plotly_white``) cost ~90 ms per figure to validate, so the
figures use ``template="none"`` with the few style settings below (~3 ms a figure); a step at
1,000 firms redraws every chart well within the dashboard's budget (benchmarks/bench_viz.py).

Axis titles and number formats come from ``marketsim.outcomes`` (label, unit, d3 format), so a
share reads 12.3% and an HHI 0.013 wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from marketsim import outcomes

FONT = dict(family="Roboto, Arial, sans-serif", size=12, color="#222")
GRID = "#e6e6e6"
GHOST = "#9e9e9e"
HEIGHT = 300
MARGIN = dict(l=60, r=20, t=36, b=80)
STATE_COLUMNS = ["mw_mining", "mw_idle", "mw_converting", "mw_ai", "mw_ai_empty"]
STATE_LABELS = {"mw_mining": "mining", "mw_idle": "idle", "mw_converting": "converting", "mw_ai": "AI leased",
                "mw_ai_empty": "AI empty", "mw_shutdown": "shut down"}
STATE_COLOURS = {"mw_mining": "#f2a900", "mw_idle": "#9e9e9e", "mw_converting": "#7e57c2",
                 "mw_ai": "#1e88e5", "mw_ai_empty": "#90caf9", "mw_shutdown": "#424242"}
# market map: a firm's AI share of live MW, from all mining (orange) to all AI (blue)
AI_SHARE_SCALE = [[0.0, "#f2a900"], [0.15, "#c9a86a"], [0.5, "#7e57c2"], [1.0, "#1e88e5"]]
MARK_COLOURS = {"halving": "#6d4c41", "shock": "#e53935", "history": "#00897b", "target": "#1e88e5"}
VALIDATE = False  # tests set True: every figure is then checked against Plotly's schema
CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
# Charts have a fixed width and the page lays panels of that width on a grid (two columns from
# ~1,250 px, one below): plotly.js sizes an autosized chart when it is first drawn, which in Solara
# is before the chart is in the page, so autosized charts took plotly's 700 px default and were cut.
WIDTH = 490
WIDE = 660  # the explorer's charts (two side by side from ~1,400 px)


def figure(data: list[dict], lay: dict) -> go.Figure:
    """A figure from plain trace and layout dicts. Not validated by default: plotly's property
    validation is most of the cost of a chart (~5x), and the dicts here are fixed code, checked by
    the tests (which set VALIDATE)."""
    fig = go.Figure(data=data, layout=lay, _validate=VALIDATE)
    fig._source_layout = lay  # lets the widget skip an unchanged layout (PlotlyChart)
    return fig


@dataclass(frozen=True)
class Mark:
    """A dated event drawn as a vertical line on time charts: a halving, a price shock, the end
    of replayed history. ``kind`` picks its colour (MARK_COLOURS)."""

    date: pd.Timestamp
    label: str
    kind: str


@dataclass(frozen=True, eq=False)
class Band:
    """The spread of other runs with the same settings and other seeds, at every date: the
    dashboard's "N seeds in the background" (``viz.seeds``). ``frame`` has ``date`` and, per
    industry column, ``<column>:low``, ``<column>:median`` and ``<column>:high`` (the ``low`` and
    ``high`` quantiles over the ``runs`` runs)."""

    frame: pd.DataFrame
    runs: int
    low: float = 0.1
    high: float = 0.9

    def has(self, column: str) -> bool:
        return f"{column}:median" in self.frame

    def columns(self, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(low, median, high) of ``column`` at every date."""
        f = self.frame
        return tuple(f[f"{column}:{q}"].to_numpy(float) for q in ("low", "median", "high"))

    @property
    def label(self) -> str:
        return f"{self.runs} seeds: {self.low:.0%}-{self.high:.0%} and median"


def value_axis(o) -> dict:
    """Tick settings for an axis showing outcome ``o``: its declared d3 format, except money,
    where d3's SI prefixes write a billion as "G": there plotly's own "B" exponent format with a
    "$" prefix ($1.5B, $300M, $40k)."""
    if o.fmt == "usd":
        return dict(tickformat="", tickprefix="$", exponentformat="B")
    return dict(tickformat=o.tickformat)


def value_hover(o, values) -> tuple[dict, str]:
    """(trace fields, hover template piece) that show ``values`` in ``o``'s format: money as text
    made here ($1.52B, the ``units.format_money`` of tables), anything else by the d3 format."""
    if o.fmt == "usd":
        return {"text": [o.format(v) for v in np.asarray(values, float)]}, "%{text}"
    return {}, f"%{{y:{o.tickformat}}}"


def band_traces(band: Band | None, column: str, colour: str, label: str, yaxis: str = "y",
                xaxis: str = "x", legend: bool = False) -> list[dict]:
    """The band of ``column`` over the seeds run in the background, drawn behind the live run: a
    light fill from the low to the high quantile and a thin dashed median (empty without a band).
    All bands of a figure share one legend entry (``legend``: this one shows it), which toggles them."""
    if band is None or not band.has(column) or not len(band.frame):
        return []
    low, median, high = band.columns(column)
    x = list(band.frame["date"])
    return [dict(type="scatter", x=x + x[::-1], y=np.r_[high, low[::-1]], fill="toself", mode="lines",
                 fillcolor=_rgba(colour, 0.16), line=dict(width=0, color=_rgba(colour, 0.16)), hoverinfo="skip",
                 showlegend=False, legendgroup="band", name=f"{label}, {band.label}", xaxis=xaxis, yaxis=yaxis),
            dict(type="scatter", x=x, y=median, mode="lines", line=dict(color=colour, width=1, dash="dash"),
                 name=f"band of {band.label}" if legend else f"{label}, {band.label}", legendgroup="band",
                 showlegend=legend, xaxis=xaxis, yaxis=yaxis, opacity=0.7, hoverinfo="skip")]


def layout(title: str, height: int = HEIGHT, width: int = WIDTH, **extra) -> dict:
    """The common look: white, light grid, title top left, legend on top, hover for all series."""
    axis = dict(gridcolor=GRID, zeroline=False, linecolor="#999", ticks="outside", automargin=True)
    base = dict(template="none", title=dict(text=title, x=0.01, xanchor="left", font=dict(size=14)),
                height=height, width=width, margin=MARGIN, font=FONT, paper_bgcolor="white", plot_bgcolor="white",
                hovermode="x unified", xaxis=axis, yaxis=dict(axis),
                legend=dict(orientation="h", x=0, y=-0.14, yanchor="top", font=dict(size=11)))
    return {**base, **extra}


def _date_axis(axis: dict, dates) -> dict:
    """Dates as ticks, about six to a chart (plotly picks month or year steps and their format)."""
    axis.update(type="date", nticks=6, hoverformat="%Y-%m")
    return axis


def mark_parts(marks: list[Mark], xrefs=("x",)) -> tuple[list[dict], list[dict]]:
    """(shapes, annotations) for vertical dashed lines at each mark's date, on every x axis in
    ``xrefs``, labelled at the top of the first. Plain dicts, put in the layout when the figure is
    made (adding them to a built figure re-validates every shape: ~300 ms for eight panels)."""
    shapes, notes = [], []
    for ref in xrefs:
        for mark in marks:
            colour = MARK_COLOURS.get(mark.kind, "#555")
            shapes.append(dict(type="line", xref=ref, yref=f"{ref.replace('x', 'y')} domain", x0=mark.date,
                               x1=mark.date, y0=0, y1=1, line=dict(color=colour, width=1, dash="dot")))
            if ref == xrefs[0]:
                notes.append(dict(x=mark.date, xref=ref, y=1, yref=f"{ref.replace('x', 'y')} domain",
                                  text=mark.label, showarrow=False, font=dict(size=10, color=colour),
                                  xanchor="right", yanchor="top", textangle=-90))
    return shapes, notes


def small_multiples(titles: list[str], cols: int, title: str, height: int, gap_x: float = 0.07,
                    gap_y: float = 0.2) -> dict:
    """A layout with one small chart per title on a grid (axes x, x2, ... / y, y2, ...), each on
    its own axes. Written out by hand: plotly's make_subplots costs ~100 ms for eight."""
    rows = -(-len(titles) // cols)
    w = (1 - gap_x * (cols - 1)) / cols
    h = (1 - gap_y * (rows - 1)) / rows
    axes, notes = {}, []
    for i, text in enumerate(titles):
        r, c = divmod(i, cols)
        x0, y1 = c * (w + gap_x), 1 - r * (h + gap_y)
        suffix = str(i + 1) if i else ""
        axes[f"xaxis{suffix}"] = dict(domain=[x0, min(x0 + w, 1.0)], anchor=f"y{suffix}", gridcolor=GRID,
                                      linecolor="#999", ticks="outside", zeroline=False)
        axes[f"yaxis{suffix}"] = dict(domain=[max(y1 - h, 0.0), y1], anchor=f"x{suffix}", gridcolor=GRID,
                                      linecolor="#999", ticks="outside", zeroline=False, rangemode="tozero")
        notes.append(dict(text=text, x=x0 + w / 2, y=y1, xref="paper", yref="paper", xanchor="center",
                          yanchor="bottom", showarrow=False, font=dict(size=11)))
    base = layout(title, height, hovermode="closest")
    base.pop("xaxis"), base.pop("yaxis")
    return {**base, **axes, "annotations": notes, "showlegend": False}


def time_series(hist: pd.DataFrame, columns: dict[str, str], title: str, *, marks=(), ghost: pd.DataFrame | None = None,
                secondary: dict[str, str] | None = None, height: int = HEIGHT, y_title: str | None = None,
                log_y: bool = False, secondary_points: dict[str, str] | None = None,
                band: Band | None = None) -> go.Figure:
    """Lines of ``columns`` ({column: colour}) against date; ``secondary`` columns on a right
    axis of their own (so a small series is not flattened beside a large one); ``ghost`` draws
    the same columns of a previous run as grey dotted lines; ``secondary_points`` are drawn as
    markers on the right axis (values that exist only in some steps, such as the range of lease
    rates signed in a step); ``band`` draws each column's spread over other seeds behind it.
    Axis titles and hover formats come from the columns' declared outcomes."""
    secondary = secondary or {}
    lay = layout(title, height)
    dates = list(hist["date"]) if "date" in hist else []
    traces = []
    for group, axis in ((columns, "y"), (secondary, "y2")):  # bands first: behind every line
        for col, colour in group.items():
            traces += band_traces(band, col, colour, outcomes.outcome(col).label, axis, legend=not traces)
    for group, axis in ((columns, "y"), (secondary, "y2")):
        for col, colour in group.items():
            o = outcomes.outcome(col)
            if col in hist:
                y = hist[col].to_numpy(float)
                fields, shown = value_hover(o, y)
                traces.append(dict(type="scatter", x=dates, y=y, name=o.label, yaxis=axis, mode="lines",
                                   line=dict(color=colour, width=2), hovertemplate=f"{shown}<extra>{o.label}</extra>",
                                   **fields))
            if ghost is not None and len(ghost) and col in ghost:
                y = ghost[col].to_numpy(float)
                fields, shown = value_hover(o, y)
                traces.append(dict(type="scatter", x=list(ghost["date"]), y=y,
                                   name=f"{o.label}, previous run", yaxis=axis, mode="lines",
                                   line=dict(color=GHOST, width=1.5, dash="dot"), legendgroup="ghost",
                                   hovertemplate=f"{shown}<extra>previous run</extra>", **fields))
    for col, colour in (secondary_points or {}).items():
        if col in hist:
            o = outcomes.outcome(col)
            y = hist[col].to_numpy(float)
            fields, shown = value_hover(o, y)
            traces.append(dict(type="scatter", x=dates, y=y, name=o.label, yaxis="y2",
                               mode="markers", marker=dict(color=colour, size=5),
                               hovertemplate=f"{shown}<extra>{o.label}</extra>", **fields))
    first = outcomes.outcome(next(iter(columns)))
    lay["yaxis"].update(title=dict(text=y_title or first.title), **value_axis(first))
    if log_y:
        lay["yaxis"]["type"] = "log"
    if secondary:
        second = outcomes.outcome(next(iter(secondary)))
        lay["yaxis2"] = dict(title=dict(text=second.title), overlaying="y", **value_axis(second),
                             side="right", showgrid=False, automargin=True, rangemode="tozero")
        lay["margin"] = {**MARGIN, "r": 70}
    if dates:
        _date_axis(lay["xaxis"], dates)
    lay["shapes"], lay["annotations"] = mark_parts(list(marks))
    return figure(traces, lay)


AI_SHARE = "ai_share_of_live_mw"  # a band's column: (converting + AI leased + AI empty) / live MW


def ai_share_of_live_mw(hist: pd.DataFrame) -> np.ndarray:
    """The share of live MW converting or converted to AI hosting, at every row of ``hist``."""
    live = sum(hist[c].clip(lower=0).to_numpy(float) for c in STATE_COLUMNS if c in hist)
    ai = sum(hist[c].clip(lower=0).to_numpy(float) for c in STATE_COLUMNS[2:] if c in hist)
    return np.divide(ai, live, out=np.zeros(len(hist)), where=np.asarray(live) > 0)


def mw_shares(hist: pd.DataFrame, *, marks=(), target: tuple[float, pd.Timestamp] | None = None,
              band: Band | None = None) -> go.Figure:
    """The pivot: share of live MW by state (mining, idle, converting, AI leased, AI empty), as %
    stacked to 100%, with the MW in the hover; ``target`` = (share, date) draws the scenario's
    AI target (its share of MW by its date) as a dashed line and a diamond; ``band`` the AI
    share's spread over other seeds."""
    lay = layout("Share of live MW by state (the pivot)", HEIGHT)
    dates = list(hist["date"]) if len(hist) else []
    mw = np.vstack([hist[c].clip(lower=0).to_numpy(float) if c in hist else np.zeros(len(hist))
                    for c in STATE_COLUMNS]) if len(hist) else np.zeros((len(STATE_COLUMNS), 0))
    total = mw.sum(axis=0)
    share = np.divide(mw, total, out=np.zeros_like(mw), where=total > 0)
    traces = [dict(type="scatter", x=dates, y=share[i], customdata=mw[i], name=STATE_LABELS[col], stackgroup="mw",
                   mode="lines", line=dict(width=0.5, color=STATE_COLOURS[col]), fillcolor=STATE_COLOURS[col],
                   hovertemplate=f"%{{y:.1%}} (%{{customdata:,.0f}} MW)<extra>{STATE_LABELS[col]}</extra>")
              for i, col in enumerate(STATE_COLUMNS)]
    lay["yaxis"].update(title=dict(text="share of live MW (%)"), tickformat=".0%", range=[0, 1])
    # the AI share (converting + leased + empty) again as a line on a right axis of its own scale:
    # a 2% pivot is a sliver on the 0-100% stack
    ai = share[2:5].sum(axis=0) if len(hist) else np.zeros(0)
    traces += band_traces(band, AI_SHARE, "#0d47a1", "AI share", "y2", legend=True)
    traces.append(dict(type="scatter", x=dates, y=ai, yaxis="y2", mode="lines", name="AI share (right axis)",
                       line=dict(color="#0d47a1", width=2.5),
                       hovertemplate="%{y:.1%}<extra>AI share of live MW</extra>"))
    band_top = float(np.nanmax(band.columns(AI_SHARE)[2])) if band is not None and band.has(AI_SHARE) else 0.0
    top = max(float(ai.max()) if len(ai) else 0.0, target[0] if target is not None else 0.0, band_top, 0.01) * 1.15
    lay["yaxis2"] = dict(title=dict(text="AI share of live MW (%)"), tickformat=".1%" if top < 0.05 else ".0%",
                         overlaying="y", side="right", showgrid=False, range=[0, top], automargin=True)
    lay["margin"] = {**MARGIN, "r": 70}
    if target is not None and dates:
        share_target, date = target
        traces.append(dict(type="scatter", x=[dates[0], date], y=[share_target, share_target], mode="lines+markers",
                           yaxis="y2", name=f"scenario target: {share_target:.0%} AI by {date:%Y-%m} (public miners)",
                           line=dict(color="#0d47a1", dash="dash", width=2),
                           marker=dict(symbol=["line-ew", "diamond"], size=[1, 11], color="#0d47a1"),
                           hovertemplate=f"target {share_target:.0%} by {date:%Y-%m}<extra></extra>"))
    if dates:
        _date_axis(lay["xaxis"], dates + ([target[1]] if target is not None else []))
    lay["shapes"], lay["annotations"] = mark_parts(list(marks))
    return figure(traces, lay)


def json_safe(values: np.ndarray) -> np.ndarray:
    """An object array with NaN and infinities as None (JSON null): JSON has neither, and one of
    them in a trace's data makes the browser drop the whole trace."""
    flat = values.ravel()
    bad = np.fromiter((isinstance(v, (float, np.floating)) and not np.isfinite(v) for v in flat), bool, len(flat))
    return np.where(bad.reshape(values.shape), None, values)


def market_map(table: pd.DataFrame) -> go.Figure:
    """Every active firm as a circle: power cost (x) against size (y, MW, log), area ~ MW, colour
    = the firm's AI share of its live MW (colour bar); converters (any AI MW) drawn as diamonds
    with a dark rim, in a legend entry of their own so they can be shown alone."""
    lay = layout("Market map: firms by power cost and size, coloured by AI share", 420, hovermode="closest")
    lay["margin"] = {**MARGIN, "r": 70}
    lay["xaxis"]["title"] = dict(text="power cost ($/MWh)")
    lay["yaxis"].update(title=dict(text="size (MW, log)"), type="log", dtick=1)  # 1, 10, 100 MW
    traces = []
    if len(table):
        mw = np.maximum(table["mw"].to_numpy(float), 0.1)
        size = 5 + 25 * np.sqrt(mw / mw.max())
        converters = table["ai_share"].to_numpy(float) > 0
        for mask, name, symbol, rim in ((~converters, "miners (no AI MW)", "circle", 0.5),
                                        (converters, "converters (AI MW)", "diamond", 1.5)):
            part = table[mask]
            custom = np.column_stack([part["name"], part["rule"], part["mw"], part["hashrate_ehs"], part["ai_mw"],
                                      part["mw_ai"], part["cash_usd"] / 1e6, part["debt_usd"] / 1e6,
                                      part["efficiency_j_per_th"], part["ai_share"]])
            # JSON has no NaN: a firm whose MW all left mining has no fleet efficiency, and one
            # NaN in an object array would make the browser drop the whole trace
            custom = json_safe(custom)
            traces.append(dict(
                type="scatter", x=part["power_usd_per_mwh"].to_numpy(float), y=mw[mask], mode="markers",
                name=f"{name}: {mask.sum()}", customdata=custom,
                marker=dict(size=size[mask], color=part["ai_share"].to_numpy(float), cmin=0, cmax=1,
                            colorscale=AI_SHARE_SCALE, symbol=symbol, opacity=0.8, line=dict(color="#222", width=rim),
                            showscale=symbol == "circle",
                            colorbar=dict(title=dict(text="AI share"), tickformat=".0%", len=0.7, thickness=10,
                                          x=1.0, xanchor="left")),
                hovertemplate=("<b>%{customdata[0]}</b> (%{customdata[1]} rule)<br>%{customdata[2]:,.0f} MW, "
                               "%{customdata[3]:.2f} EH/s, %{x:.0f} $/MWh, %{customdata[8]:.1f} J/TH<br>"
                               "AI share %{customdata[9]:.0%}: %{customdata[4]:,.0f} MW (%{customdata[5]:,.0f} leased)<br>"
                               "cash $%{customdata[6]:,.1f}M, debt $%{customdata[7]:,.1f}M<extra></extra>")))
    return figure(traces, lay)


def cost_curve(curve: pd.DataFrame, hashprice: float, in_money_mw: float) -> go.Figure:
    """Machine MW sorted by breakeven hashprice (a step line) and the hashprice now (dashed):
    the MW left of the crossing is in the money."""
    lay = layout("Industry cost curve", HEIGHT, hovermode="closest")
    lay["xaxis"]["title"] = dict(text="machine MW, cheapest to mine first")
    lay["yaxis"].update(title=dict(text="breakeven (USD/PH/day)"), tickformat="$,.0f")
    be = curve["breakeven_usd_per_ph_day"].to_numpy(float)
    cum = curve["cumulative_mw"].to_numpy(float)
    traces = []
    if len(curve):
        top = max(float(np.quantile(be, 0.98)), hashprice if np.isfinite(hashprice) else 0.0) * 1.25
        traces.append(dict(type="scatter", x=np.r_[0.0, cum], y=np.minimum(np.r_[be[:1], be], top), mode="lines",
                           line=dict(shape="vh", color="#f2a900", width=2), name="breakeven hashprice",
                           hovertemplate="%{x:,.0f} MW at or below $%{y:,.1f}/PH/day<extra></extra>"))
        lay["yaxis"]["range"] = [0, top]
        lay["shapes"] = [dict(type="line", xref="paper", x0=0, x1=1, y0=hashprice, y1=hashprice,
                              line=dict(color="#e65100", dash="dash"))]
        lay["annotations"] = [dict(xref="paper", x=0.01, y=hashprice, yanchor="bottom", xanchor="left",
                                   showarrow=False, font=dict(size=11, color="#e65100"),
                                   text=f"hashprice now ${hashprice:,.1f}: {in_money_mw:,.0f} of {cum[-1]:,.0f} "
                                        "machine MW in the money")]
    return figure(traces, lay)


def histograms(pop: pd.DataFrame, columns: dict[str, str]) -> go.Figure:
    """One small histogram per column of the firm population ({column: title})."""
    lay = small_multiples(list(columns.values()), 2, f"Firm population now ({len(pop)} active firms)", 380,
                          gap_x=0.1, gap_y=0.22)
    traces = []
    for i, col in enumerate(columns):
        suffix = str(i + 1) if i else ""
        traces.append(dict(type="histogram", x=pop[col].astype(float).dropna().to_numpy(), nbinsx=20,
                           marker=dict(color="#5c6bc0"), xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                           hovertemplate="%{x}: %{y} firms<extra></extra>"))
    return figure(traces, {**lay, "bargap": 0.05})


CONSOLIDATION_PANELS = [  # (column, title, colour); *_cum made from per-step columns when needed
    ("hhi_hashrate", "HHI of hashrate (0-1)", "#6d4c41"),
    ("top5_share_hashrate", "top-5 share of hashrate", "#8e24aa"),
    ("firms_active", "firms active", "#455a64"),
    ("bankruptcies_cum", "bankruptcies so far", "#e53935"),
    ("voluntary_sales_cum", "voluntary sales so far", "#43a047"),
    ("takeovers_cum", "takeovers so far", "#fb8c00"),
    ("wind_downs_cum", "wind-downs so far", "#757575"),
    ("acquisitions_usd_cum", "deal value so far", "#00897b"),
]


def consolidation(hist: pd.DataFrame, *, marks=(), ghost: pd.DataFrame | None = None,
                  band: Band | None = None) -> go.Figure:
    """Consolidation at a glance: small charts each on its own axis (an HHI of 0.013 is not
    flattened beside a 40% top-5 share, nor 12 bankruptcies beside 800 active firms); ``band``
    draws each measure's spread over other seeds behind it."""
    lay = small_multiples([t for _, t, _ in CONSOLIDATION_PANELS], 2, "Consolidation (grey dotted: the previous run)",
                          760, gap_x=0.14, gap_y=0.1)
    traces = []
    # a tick a year, or every other year when the charts span more than six (a band covers the run)
    spans = [f["date"] for f in (hist, ghost, band.frame if band is not None else None) if f is not None and len(f)]
    years = max(((s.iloc[-1] - s.iloc[0]).days / 365.25 for s in spans), default=0.0)
    year_step = "M12" if years <= 6 else "M24"
    for i, (col, title, colour) in enumerate(CONSOLIDATION_PANELS):
        suffix = str(i + 1) if i else ""
        o = outcomes.outcome(col if col in outcomes.OUTCOMES else col.removesuffix("_cum"))
        traces += band_traces(band, col, colour, title, f"y{suffix}", f"x{suffix}")  # no legend here
        for frame, name, line in ((ghost, "previous run", dict(color=GHOST, dash="dot", width=1.5)),
                                  (hist, "this run", dict(color=colour, width=2))):
            values = cumulative(frame, col) if frame is not None and len(frame) else None
            if values is None:
                continue
            fields, shown = value_hover(o, values)
            traces.append(dict(type="scatter", x=list(frame["date"]), y=values, mode="lines", line=line, name=name,
                               xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                               hovertemplate=f"%{{x|%Y-%m}}: {shown}<extra>{title} ({name})</extra>", **fields))
        # counts: no "1, 1" ticks at 0.5 steps (",d" rounds them); hover keeps the declared format
        lay[f"yaxis{suffix}"].update(dict(tickformat=",~r") if o.fmt == "int" else value_axis(o))
        lay[f"xaxis{suffix}"].update(type="date", tickformat="%Y", dtick=year_step)
    shapes, notes = mark_parts(list(marks), ["x"] + [f"x{i + 1}" for i in range(1, len(CONSOLIDATION_PANELS))])
    lay["shapes"], lay["annotations"] = shapes, lay["annotations"] + notes
    return figure(traces, lay)


def cumulative(hist: pd.DataFrame, col: str):
    """``col`` of the industry rows, or the running total of its per-step column (``takeovers_cum``
    from ``takeovers``); None when neither is recorded."""
    if col in hist:
        return hist[col].to_numpy(float)
    base = col.removesuffix("_cum")
    if col.endswith("_cum") and base in hist:
        return np.cumsum(hist[base].fillna(0).to_numpy(float))
    return None


# --- sweep explorer ------------------------------------------------------------------------------------
PALETTE = ["#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41", "#3949ab", "#c0ca33"]


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def bands(frame: pd.DataFrame, series: str, by: str | None, labels: dict | None = None) -> go.Figure:
    """Mean and 5-95% band of ``series`` at every step, one colour per value of ``by`` (the
    output of ``analysis.bands_over_time``: columns mean, low, high, n)."""
    o = outcomes.outcome(series)
    fig = go.Figure(layout=layout(f"{o.label}: mean and 5-95% band over runs", 380, WIDE, hovermode="x"))
    time_col = "date" if "date" in frame else "step"
    groups = frame.groupby(by, sort=True) if by else [(None, frame)]
    for i, (value, group) in enumerate(groups):
        colour = PALETTE[i % len(PALETTE)]
        shown = (labels or {}).get(value, _short(value))
        name = f"{by} = {shown}" if by else "all runs"
        name += f" (n={int(group['n'].max())})"
        x = list(group[time_col])
        fig.add_trace(go.Scatter(x=x + x[::-1], y=np.r_[group["high"].to_numpy(float), group["low"].to_numpy(float)[::-1]],
                                 fill="toself", fillcolor=_rgba(colour, 0.18), line=dict(width=0), legendgroup=name,
                                 showlegend=False, hoverinfo="skip", name=name))
        # the hover's numbers as text in the outcome's format (money as $1.52B, not d3's "G")
        said = np.column_stack([[o.format(v) for v in group[c].to_numpy(float)] for c in ("mean", "low", "high")]
                               + [group["n"].astype(int).astype(str).to_numpy()])
        fig.add_trace(go.Scatter(x=x, y=group["mean"], mode="lines", line=dict(color=colour, width=2), name=name,
                                 legendgroup=name, customdata=said,
                                 hovertemplate=("%{customdata[0]} (5-95%: %{customdata[1]} to %{customdata[2]}, "
                                                f"%{{customdata[3]}} runs)<extra>{name}</extra>")))
    fig.update_yaxes(title_text=o.title, **value_axis(o))
    if time_col == "step":
        fig.update_xaxes(title_text="step")
    return fig


def heatmap(table: pd.DataFrame, counts: pd.DataFrame, outcome_name: str, x: str, y: str,
            x_labels: dict | None = None, y_labels: dict | None = None) -> go.Figure:
    """Mean final ``outcome`` for each (x, y) cell (``table``: index y, columns x), the value
    and the number of runs written in each cell."""
    o = outcomes.outcome(outcome_name)
    xs = [(x_labels or {}).get(v, _short(v)) for v in table.columns]
    ys = [(y_labels or {}).get(v, _short(v)) for v in table.index]
    values = table.to_numpy(float)
    n = counts.reindex(index=table.index, columns=table.columns).fillna(0).to_numpy(int)
    text = [[f"{o.format(v)}<br>n={c}" for v, c in zip(rv, rc)] for rv, rc in zip(values, n)]
    fig = go.Figure(go.Heatmap(z=values, x=xs, y=ys, text=text, texttemplate="%{text}" if values.size <= 100 else None,
                               customdata=n, colorscale="Viridis",
                               colorbar=dict(title=dict(text=o.unit or ""), **value_axis(o)),
                               hovertemplate=(f"{x} %{{x}}<br>{y} %{{y}}<br>mean {o.label} %{{text}}"
                                              "<extra></extra>")),
                    layout=layout(f"final {o.title}: mean over runs", 380, WIDE, hovermode="closest"))
    fig.update_xaxes(title_text=x, type="category")
    fig.update_yaxes(title_text=y, type="category")
    return fig


def outcome_line(summary: pd.DataFrame, outcome_name: str, x: str, low: str, high: str) -> go.Figure:
    """For a one-parameter sweep: the mean final outcome and its band against the parameter."""
    o = outcomes.outcome(outcome_name)
    fig = go.Figure(layout=layout(f"final {o.title}: mean and 5-95% band (one parameter)", 380, WIDE))
    xs = summary[x].to_numpy(float)
    fig.add_trace(go.Scatter(x=np.r_[xs, xs[::-1]], y=np.r_[summary[high], summary[low][::-1]], fill="toself",
                             fillcolor=_rgba(PALETTE[0], 0.18), line=dict(width=0), showlegend=False, hoverinfo="skip"))
    mean = summary[f"{outcome_name}_mean"].to_numpy(float)
    fields, shown = value_hover(o, mean)
    fig.add_trace(go.Scatter(x=xs, y=mean, mode="lines+markers", name="mean", line=dict(color=PALETTE[0], width=2),
                             hovertemplate=f"{shown}<extra>mean</extra>", **fields))
    fig.update_xaxes(title_text=x)
    fig.update_yaxes(title_text=o.title, **value_axis(o))
    return fig


def _short(value) -> str:
    if isinstance(value, (float, np.floating)):
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    return str(value)
