"""What the dashboard shows, computed from a live model: plain functions, tested without a browser.

Each view reads the model's current state (or the DataCollector's rows) and returns data or
markup; the Solara components in ``components.py`` only draw what these return. Nothing here
walks the whole history of firms: the per-firm views read the current books (once per step,
shared by every view through a small per-step cache), the event feed reads the newest events
only, and the time series read the industry table the model's DataCollector already keeps.

Before the first step a model has observed no market yet (no prices, no per-site power cost):
``has_data`` is False and the per-firm views are empty.
"""

from __future__ import annotations

import html
import itertools
import math
import weakref

import numpy as np
import pandas as pd

from marketsim.firms import economics as econ
from marketsim.records import firm_snapshot
from viz import svgcharts

STATE_COLUMNS = ["mw_mining", "mw_idle", "mw_converting", "mw_ai", "mw_ai_empty", "mw_shutdown"]
STATE_LABELS = {"mw_mining": "mining", "mw_idle": "idle", "mw_converting": "converting", "mw_ai": "AI-leased",
                "mw_ai_empty": "AI-empty", "mw_shutdown": "shut down"}
STATE_COLOURS = {"mw_mining": "#f2a900", "mw_idle": "#9e9e9e", "mw_converting": "#7e57c2",
                 "mw_ai": "#1e88e5", "mw_ai_empty": "#90caf9", "mw_shutdown": "#424242"}
LIVE_STATES = STATE_COLUMNS[:-1]  # what a firm's live MW is doing (shut-down MW is gone)
FIRM_TABLE_COLUMNS = ["name", "rule", "state", "mw", "hashrate_ehs", "power_usd_per_mwh", "efficiency_j_per_th",
                      "cash_usd", "debt_usd", "leverage", "mw_ai", "ai_mw", "profit_usd"]
# the sortable table in the browser: (column, header, scale, decimals)
TABLE_DISPLAY = [("name", "firm", None, None), ("rule", "rule", None, None), ("state", "mostly", None, None),
                 ("mw", "MW", 1, 0), ("hashrate_ehs", "EH/s", 1, 2), ("power_usd_per_mwh", "power $/MWh", 1, 1),
                 ("efficiency_j_per_th", "J/TH", 1, 1), ("cash_usd", "cash $M", 1e-6, 1),
                 ("debt_usd", "debt $M", 1e-6, 1), ("leverage", "debt/assets", 1, 2), ("mw_ai", "AI leased MW", 1, 0),
                 ("ai_mw", "AI MW (all)", 1, 0), ("profit_usd", "profit $M (step)", 1e-6, 2)]
MAP_MAX_RADIUS_PX = 22
IGNORED_EVENTS = ("curtailment", "resumption")  # every step, at many sites: noise in a feed

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _per_step(model, key: str, compute):
    """``compute(model)`` once per model and step: the map, the table and the histograms share it."""
    stamp = (model.steps, id(model.firms))
    entry = _cache.get(model)
    if entry is None or entry[0] != stamp:
        entry = (stamp, {})
        _cache[model] = entry
    if key not in entry[1]:
        entry[1][key] = compute(model)
    return entry[1][key]


def has_data(model) -> bool:
    """True once the model has taken a step (before that there is no market to show)."""
    return bool(getattr(model, "outcome", None))


def industry_history(model) -> pd.DataFrame:
    """The industry rows recorded so far (one per step): the DataCollector's table, built once
    per step for all the charts. Read-only: it is shared."""
    return _per_step(model, "history", lambda m: m.datacollector.get_model_vars_dataframe())


def headline(model) -> str:
    """One line: scenario, date, step and the numbers that matter now (HTML, escaped)."""
    out = model.outcome
    name = f"<b>{html.escape(model.config.name)}</b>"
    if not out:
        return f"{name} · step 0 of {model.n_steps} · press Step or ▶ to start"
    return f"{name} · " + html.escape(
        f"{out['date']:%Y-%m} · step {model.steps} of {model.n_steps} · "
        f"BTC ${out['btc_price_usd']:,.0f} · hashprice ${out['hashprice_usd_per_ph_day']:,.1f}/PH/day · "
        f"hashrate {out['network_hashrate_ehs']:,.0f} EH/s · firms {out['firms_active']} · "
        f"AI leased {out['mw_ai']:,.0f} MW · HHI {out['hhi_hashrate']:.3f} · top-5 {out['top5_share_hashrate']:.0%}"
    )


def step_label(model) -> str:
    """The browser tab's title: ``marketsim · <scenario> · step N``."""
    return f"marketsim · {model.config.name} · step {model.steps}"


def scenario_line(config) -> str:
    """The parameters in force (after the dashboard's controls), as one line of text."""
    parts = []
    if config.price_model == "replay":
        parts.append("BTC price replayed from data")
    else:
        parts.append(f"BTC drift {config.price_drift_per_year:+.2f}/yr, "
                     f"volatility {config.price_volatility_per_year:.2f}")
        if config.history_until is not None:
            parts[-1] += f" (after the replayed history to {config.history_until:%Y-%m})"
    if config.price_shocks:
        parts.append("shocks " + ", ".join(f"{s.change:+.0%} at step {s.step}" for s in config.price_shocks))
    parts += [
        f"AI demand to {config.ai_demand_max_mw:,.0f} MW IT ({config.ai_demand_model})",
        f"conversion ${config.conversion_capex_usd_per_mw / 1e6:,.2f}M/MW",
        f"lease ${config.ai_lease_rate_initial_usd_per_kw_month:,.0f}/kW-month",
        f"power ×{config.power_price_multiplier:.2f}",
        f"{config.n_firms} firms",
        "rules " + ", ".join(f"{k} {v:.0%}" for k, v in config.decision_rule_mix.items()),
        f"{config.months} months",
    ]
    return " · ".join(parts)


def _firm_table(model) -> pd.DataFrame:
    if not has_data(model):
        return pd.DataFrame(columns=FIRM_TABLE_COLUMNS)
    snap = firm_snapshot(model)
    snap = snap[snap["state"] == "active"].copy()
    snap["mw"] = snap[LIVE_STATES].sum(axis=1)
    assets = snap["mw"] * model.config.site_build_capex_usd_per_mw + snap["cash_usd"]
    snap["leverage"] = snap["debt_usd"] / assets.where(assets > 0, np.nan)
    snap["ai_mw"] = snap[["mw_converting", "mw_ai", "mw_ai_empty"]].sum(axis=1)
    # a firm's state: what most of its live MW is doing (the colours of the MW-by-state chart)
    states = snap[LIVE_STATES].to_numpy(float)
    snap["state"] = np.array([STATE_LABELS[c] for c in LIVE_STATES], dtype=object)[states.argmax(axis=1)] \
        if len(snap) else pd.Series(dtype=object)
    return snap.sort_values("mw", ascending=False)[FIRM_TABLE_COLUMNS].reset_index(drop=True)


def firm_table(model) -> pd.DataFrame:
    """Active firms now, largest first, with the columns a user sorts by. ``state`` is what most
    of the firm's live MW does (mining, idle, converting, AI-leased, AI-empty)."""
    return _per_step(model, "firm_table", _firm_table).copy()


def table_items(table: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """Headers and rows for the browser's sortable table (numbers rounded, NaN as empty)."""
    headers = [{"text": label, "value": col, "align": "start" if scale is None else "end"}
               for col, label, scale, _ in TABLE_DISPLAY]
    columns = {}
    for col, _, scale, decimals in TABLE_DISPLAY:
        values = table[col]
        if scale is not None:
            values = (values.astype(float) * scale).round(decimals)
        columns[col] = [None if isinstance(v, float) and math.isnan(v) else v for v in values.tolist()]
    items = [dict(zip(columns, row)) for row in zip(*columns.values())] if len(table) else []
    return headers, items


STATE_COLOUR_BY_LABEL = {STATE_LABELS[c]: STATE_COLOURS[c] for c in LIVE_STATES}


def market_map_svg(model) -> str:
    """Every active firm as a circle: power cost (x) against size (y, MW, log scale), area ~ MW,
    colour = what most of its MW does; hovering a circle shows the firm's numbers (an SVG
    ``<title>``, so no script and no CDN is needed). Returns standalone SVG markup."""
    table = firm_table(model)
    x = table["power_usd_per_mwh"].to_numpy(float)
    mw = np.maximum(table["mw"].to_numpy(float), 0.1)
    x_range = (np.nanmin(x), np.nanmax(x)) if len(x) else (0.0, 1.0)
    y_range = (mw.min() / 1.6, mw.max() * 1.6) if len(mw) else (1.0, 1000.0)
    pad = max(x_range[1] - x_range[0], 1.0) * 0.05
    chart = svgcharts.Chart((x_range[0] - pad, x_range[1] + pad), y_range, logy=True, css_class="market-map",
                            title="Market map: firms by power cost and size", xlabel="power cost, $/MWh",
                            ylabel="size, MW (log)", height=390, pad_y=0.0,
                            legend=list(STATE_COLOUR_BY_LABEL.items()), legend_columns=5)
    chart.y_axis().x_axis(grid=True)
    radius = 2.5 + (MAP_MAX_RADIUS_PX - 2.5) * np.sqrt(mw / mw.max()) if len(mw) else mw
    # the table is largest first, so small firms are drawn last: on top, visible and hoverable
    for row, px, py, r in zip(table.to_dict("records"), chart.sx(x), chart.sy(mw), radius):
        tip = (f"{row['name']} ({row['rule']} rule), mostly {row['state']}: {row['mw']:,.0f} MW, "
               f"{row['hashrate_ehs']:.2f} EH/s, {row['power_usd_per_mwh']:.0f} $/MWh, "
               f"{row['efficiency_j_per_th']:.1f} J/TH, cash ${row['cash_usd'] / 1e6:,.1f}M, "
               f"debt ${row['debt_usd'] / 1e6:,.1f}M, AI leased {row['mw_ai']:,.0f} MW")
        chart.parts.append(f'<circle class="firm" cx="{px:.1f}" cy="{py:.1f}" r="{r:.1f}" '
                           f'fill="{STATE_COLOUR_BY_LABEL[row["state"]]}" fill-opacity="0.65" stroke="#333" '
                           f'stroke-width="0.5"><title>{html.escape(tip)}</title></circle>')
    return chart.svg()


# --- time series (from the DataCollector's industry rows) -----------------------------------------
SERIES_CHARTS = {
    "btc_price": ("BTC price", "USD", {"btc_price_usd": ("BTC price", "#f2a900")}, svgcharts.fmt_money),
    "hashprice": ("Hashprice", "USD per PH/s per day",
                  {"hashprice_usd_per_ph_day": ("hashprice", "#e65100")}, svgcharts.fmt_money),
    "hashrate": ("Network hashrate", "EH/s", {"network_hashrate_ehs": ("network hashrate", "#5d4037")},
                 svgcharts.fmt_number),
    "revenue": ("Industry revenue per step: mining vs AI", "USD",
                {"revenue_mining_usd": ("mining", "#f2a900"), "revenue_ai_usd": ("AI hosting", "#1e88e5")},
                svgcharts.fmt_money),
    "firms": ("Firms active; bankruptcies and acquisitions so far", "firms",
              {"firms_active": ("active", "#455a64"), "bankruptcies_cum": ("bankruptcies", "#e53935"),
               "acquisitions_cum": ("acquisitions", "#43a047")}, svgcharts.fmt_number),
    "concentration": ("Concentration of hashrate: HHI and top-5 share", "0 to 1",
                      {"hhi_hashrate": ("HHI", "#6d4c41"), "top5_share_hashrate": ("top-5 share", "#8e24aa")},
                      svgcharts.fmt_number),
}


def _dates(hist: pd.DataFrame) -> list:
    return list(hist["date"]) if len(hist) else []


def series_chart(model, name: str) -> str:
    """One of ``SERIES_CHARTS`` over the steps so far; hover a step for its values."""
    title, ylabel, columns, fmt = SERIES_CHARTS[name]
    hist = industry_history(model)
    steps = np.arange(1, len(hist) + 1)
    values = {c: hist[c].to_numpy(float) if len(hist) else np.array([]) for c in columns}
    finite = np.concatenate([v[np.isfinite(v)] for v in values.values()])
    lo = finite.min() if len(finite) else 0.0
    if len(columns) > 1:
        lo = min(lo, 0.0)
    chart = svgcharts.Chart((1, max(len(hist), 2)), (lo, finite.max() if len(finite) else 1.0), title=title,
                            ylabel=ylabel, xlabel="date", css_class=f"series series-{name}",
                            legend=[(label, colour) for label, colour in columns.values()] if len(columns) > 1 else ())
    dates = _dates(hist)
    ticks, tick_fmt = svgcharts.time_ticks(dates)
    chart.y_axis(fmt).x_axis(ticks, tick_fmt)
    for col, (label, colour) in columns.items():
        chart.line(steps, values[col], colour, label=label)
    tips = [f"{dates[i]:%Y-%m} (step {i + 1}): "
            + ", ".join(f"{label} {fmt(values[c][i])}" for c, (label, _) in columns.items()) for i in range(len(hist))]
    chart.hover_columns(steps, tips)
    return chart.svg()


def mw_by_state_chart(model) -> str:
    """Stacked MW by state (mining, idle, converting, AI-leased, AI-empty, shut down) over time."""
    hist = industry_history(model)
    steps = np.arange(1, len(hist) + 1)
    if len(hist):
        layers = np.vstack([hist[c].clip(lower=0).to_numpy(float) for c in STATE_COLUMNS])
    else:
        layers = np.zeros((len(STATE_COLUMNS), 0))
    tops = np.cumsum(layers, axis=0)
    chart = svgcharts.Chart((1, max(len(hist), 2)), (0, tops[-1].max() if len(hist) else 1.0), title="MW by state",
                            ylabel="MW", xlabel="date", css_class="series mw-by-state",
                            legend=[(STATE_LABELS[c], STATE_COLOURS[c]) for c in STATE_COLUMNS])
    dates = _dates(hist)
    ticks, tick_fmt = svgcharts.time_ticks(dates)
    chart.y_axis().x_axis(ticks, tick_fmt)
    for i, col in enumerate(STATE_COLUMNS):
        low = tops[i - 1] if i else np.zeros(len(hist))
        chart.area(steps, low, tops[i], STATE_COLOURS[col], label=STATE_LABELS[col])
    tips = [f"{dates[j]:%Y-%m} (step {j + 1}): "
            + ", ".join(f"{STATE_LABELS[c]} {layers[i, j]:,.0f}" for i, c in enumerate(STATE_COLUMNS)) + " MW"
            for j in range(len(hist))]
    chart.hover_columns(steps, tips)
    return chart.svg()


def _cost_curve(model) -> pd.DataFrame:
    if not has_data(model):
        return pd.DataFrame(columns=["breakeven_usd_per_ph_day", "mw", "cumulative_mw"])
    sites, s = model.sites, model.config
    mw = sites.mw_machines
    keep = mw > 0
    breakeven = econ.breakeven_hashprice(sites.efficiency_j_per_th[keep], model.site_power_usd_per_mwh[keep],
                                         s.mining_opex_usd_per_mwh)
    curve = pd.DataFrame({"breakeven_usd_per_ph_day": breakeven, "mw": mw[keep]})
    curve = curve.sort_values("breakeven_usd_per_ph_day", kind="stable")
    curve["cumulative_mw"] = curve["mw"].cumsum()
    return curve.reset_index(drop=True)


def cost_curve(model) -> pd.DataFrame:
    """The industry's machine MW (mining and idle) sorted by breakeven hashprice, the cash cost
    to mine a PH/s for a day at each site's power price: the supply curve of hashing."""
    return _per_step(model, "cost_curve", _cost_curve)


def mw_in_the_money(model) -> float:
    """Machine MW whose breakeven is at or below the hashprice now."""
    curve = cost_curve(model)
    if not len(curve):
        return 0.0
    return float(curve.loc[curve["breakeven_usd_per_ph_day"] <= model.hashprice_observed, "mw"].sum())


POPULATION_COLUMNS = {"power_usd_per_mwh": "power cost, $/MWh", "efficiency_j_per_th": "fleet efficiency, J/TH",
                      "cash_usd": "cash, $M", "leverage": "debt / assets"}


def population(model) -> pd.DataFrame:
    """Per active firm: power cost, fleet efficiency, cash and leverage (for histograms)."""
    return firm_table(model)[list(POPULATION_COLUMNS)]


def cost_curve_chart(model) -> str:
    """The cost curve as a step line (x: cumulative machine MW, y: breakeven hashprice), with the
    hashprice now as a dashed line: the MW left of where they cross is in the money."""
    curve = cost_curve(model)
    hashprice = float(model.hashprice_observed) if has_data(model) else float("nan")
    be = curve["breakeven_usd_per_ph_day"].to_numpy(float)
    cum = curve["cumulative_mw"].to_numpy(float)
    top = max(float(np.quantile(be, 0.98)) if len(be) else 1.0, hashprice if np.isfinite(hashprice) else 0.0) * 1.25
    chart = svgcharts.Chart((0, cum[-1] if len(cum) else 1.0), (0, top), title="Industry cost curve",
                            xlabel="machine MW, cheapest to mine first", ylabel="breakeven, USD per PH/s per day",
                            css_class="cost-curve", pad_y=0.0)
    chart.y_axis(svgcharts.fmt_money).x_axis()
    if len(curve):
        x = np.repeat(np.r_[0.0, cum], 2)[1:-1]  # each site's MW as a flat step at its breakeven
        y = np.repeat(np.minimum(be, top), 2)
        chart.line(x, y, "#f2a900", width=2, label="breakeven (cash cost at mean power price)")
        in_money = mw_in_the_money(model)
        chart.hline(hashprice, label=f"hashprice now {svgcharts.fmt_money(hashprice)}")
        chart.text(chart.width - chart.right - 4, chart.height - chart.bottom - 8,
                   f"{in_money:,.0f} of {cum[-1]:,.0f} machine MW at or below the hashprice", anchor="end")
    return chart.svg()


def population_histograms(model) -> list[str]:
    """Four histograms of the active firms now: power cost, fleet efficiency, cash, leverage."""
    pop = population(model)
    out = []
    for col, label in POPULATION_COLUMNS.items():
        values = pop[col].astype(float)
        if col == "cash_usd":
            values = values / 1e6
        out.append(svgcharts.histogram(values, label, css_class=f"histogram histogram-{col}"))
    return out


def recent_events(model, n: int = 12) -> pd.DataFrame:
    """The latest ``n`` events, newest first, with firm names (curtailment noise left out).
    Reads back from the newest event and stops after ``n``: cost does not grow with history."""
    newest = (r for r in reversed(model.events.rows) if r[2] not in IGNORED_EVENTS)
    rows = list(itertools.islice(newest, n))
    names = model.firms.name
    return pd.DataFrame([
        {"date": pd.Timestamp(r[1]).strftime("%Y-%m"), "event": r[2].replace("_", " "),
         "firm": names[r[3]] if 0 <= r[3] < len(names) else "",
         "counterparty": names[r[4]] if 0 <= r[4] < len(names) else "",
         "MW": round(r[6], 1), "USD M": round(r[8] / 1e6, 2)}
        for r in rows
    ], columns=["date", "event", "firm", "counterparty", "MW", "USD M"])
