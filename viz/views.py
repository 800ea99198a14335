"""What the dashboard shows, computed from a live model: plain functions, tested without a browser.

Each view reads the model's current state (or the DataCollector's rows) and returns data or a
Plotly figure (built by ``viz.charts``); the Solara components in ``components.py`` only show what
these return. Nothing here walks the whole history of firms: the per-firm views read the current
books (once per step, shared by every view through a small per-step cache), the event feed reads
the newest events only, and the time series read the industry table the model's DataCollector
already keeps.

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

from marketsim import outcomes
from marketsim.inert import inert_parameters
from marketsim.firms import economics as econ
from marketsim.records import EVENT_COLUMNS, firm_snapshot

from . import charts
from .charts import Band, Mark

STATE_COLUMNS = ["mw_mining", "mw_idle", "mw_converting", "mw_ai", "mw_ai_empty", "mw_shutdown"]
STATE_LABELS = charts.STATE_LABELS
LIVE_STATES = STATE_COLUMNS[:-1]  # what a firm's live MW is doing (shut-down MW is gone)
AI_STATES = ["mw_converting", "mw_ai", "mw_ai_empty"]
FIRM_TABLE_COLUMNS = ["name", "ai_share", "ai_mw", "mw_ai", "mw", "state", "rule", "hashrate_ehs",
                      "power_usd_per_mwh", "efficiency_j_per_th", "cash_usd", "debt_usd", "leverage", "profit_usd"]
# the sortable table in the browser: (column, header, scale, decimals); the name is pinned at the
# left and the AI columns come right after it, so they show without scrolling
TABLE_DISPLAY = [("name", "firm", None, None), ("ai_share", "AI %", 100, 0), ("ai_mw", "AI MW", 1, 0),
                 ("mw_ai", "leased MW", 1, 0), ("mw", "MW", 1, 0), ("state", "mostly", None, None),
                 ("rule", "rule", None, None), ("hashrate_ehs", "EH/s", 1, 2), ("power_usd_per_mwh", "$/MWh", 1, 0),
                 ("efficiency_j_per_th", "J/TH", 1, 1), ("cash_usd", "cash $M", 1e-6, 1),
                 ("debt_usd", "debt $M", 1e-6, 1), ("leverage", "debt/assets", 1, 2),
                 ("profit_usd", "profit $M", 1e-6, 2)]
IGNORED_EVENTS = ("curtailment", "resumption")  # every step, at many sites: noise in a feed
DEAL_KINDS = ("acquisition",)

_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _per_step(model, key: str, compute):
    """``compute(model)`` once per model and ``stamp``: the map, the table and the histograms
    share it."""
    stamp = version(model)
    entry = _cache.get(model)
    if entry is None or entry[0] != stamp:
        entry = (stamp, {})
        _cache[model] = entry
    if key not in entry[1]:
        entry[1][key] = compute(model)
    return entry[1][key]


def version(model) -> tuple:
    """What the charts of a model show changes with: its step, and the previous run and the
    seeds' band the dashboard attaches to it."""
    return (model.steps, id(model.firms), id(seed_band(model)), id(ghost_history(model)))


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
    o = outcomes.outcome
    hist = industry_history(model)
    ai_share = float(outcomes.ai_share_mw(hist.tail(1))[0]) if len(hist) else 0.0
    return f"{name} · " + html.escape(
        f"{out['date']:%Y-%m} · step {model.steps} of {model.n_steps} · "
        f"BTC {o('btc_price_usd').format(out['btc_price_usd'])} · "
        f"hashprice ${out['hashprice_usd_per_ph_day']:,.1f}/PH/day · "
        f"hashrate {out['network_hashrate_ehs']:,.0f} EH/s · firms {out['firms_active']} · "
        f"AI {ai_share:.1%} of live MW ({out['mw_ai']:,.0f} MW leased) · "
        f"HHI {out['hhi_hashrate']:.3f} · top-5 {out['top5_share_hashrate']:.0%}"
    )


def status(model) -> list[tuple[str, str]]:
    """States a user must not miss, as (kind, sentence): the run has finished; the network has
    halted (no MW mines, hashrate 0: no blocks, no subsidy, no fees)."""
    out = []
    if model.steps >= model.n_steps or not getattr(model, "running", True):
        out.append(("finished", f"Run finished: all {model.n_steps} steps done. Press Reset for a new run "
                                "(it keeps this one as the grey dotted line)."))
    if has_data(model) and float(model.outcome.get("network_hashrate_ehs", 1.0)) <= 0:
        out.append(("halted", "Network halted: hashrate is 0 EH/s (no firm mines), so no blocks are found and "
                              "no subsidy or fees are paid."))
    return out


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
        _ai_demand_text(config),
        f"conversion ${config.conversion_capex_usd_per_mw / 1e6:,.2f}M/MW",
        f"lease ${config.ai_lease_rate_initial_usd_per_kw_month:,.0f}/kW-month",
        f"power ×{config.power_price_multiplier:.2f}",
        f"{config.n_firms} firms",
        "rules " + ", ".join(f"{k} {v:.0%}" for k, v in config.decision_rule_mix.items()),
        f"{config.months} months",
    ]
    return " · ".join(parts)


def _ai_demand_text(config) -> str:
    """The demand the run reads: the dated deals (up to their last date), then the curve."""
    curve = f"AI demand to {config.ai_demand_max_mw:,.0f} MW IT ({config.ai_demand_model})"
    if not config.ai_demand_path:
        return curve
    last = config.ai_demand_path[-1]
    dated = f"AI demand dated to {last.date:%Y-%m} ({last.mw:,.0f} MW IT)"
    if inert_parameters(config, ["ai_demand_model"]):  # the dates cover the whole run
        return dated
    return f"{dated}, then the {config.ai_demand_model} curve to {config.ai_demand_max_mw:,.0f} MW IT"


def _firm_table(model) -> pd.DataFrame:
    if not has_data(model):
        return pd.DataFrame(columns=FIRM_TABLE_COLUMNS)
    snap = firm_snapshot(model)
    snap = snap[snap["state"] == "active"].copy()
    snap["mw"] = snap[LIVE_STATES].sum(axis=1)
    assets = snap["mw"] * model.config.site_build_capex_usd_per_mw + snap["cash_usd"]
    snap["leverage"] = snap["debt_usd"] / assets.where(assets > 0, np.nan)
    snap["ai_mw"] = snap[AI_STATES].sum(axis=1)
    snap["ai_share"] = (snap["ai_mw"] / snap["mw"].where(snap["mw"] > 0, np.nan)).fillna(0.0).clip(0, 1)
    # a firm's state: what most of its live MW is doing (the colours of the MW-by-state chart)
    states = snap[LIVE_STATES].to_numpy(float)
    snap["state"] = np.array([STATE_LABELS[c] for c in LIVE_STATES], dtype=object)[states.argmax(axis=1)] \
        if len(snap) else pd.Series(dtype=object)
    return snap.sort_values("mw", ascending=False)[FIRM_TABLE_COLUMNS].reset_index(drop=True)


def firm_table(model) -> pd.DataFrame:
    """Active firms now, largest first, with the columns a user sorts by. ``ai_share`` is the
    share of the firm's live MW converting or converted to AI (``ai_mw``); ``state`` is what most
    of its live MW does (mining, idle, converting, AI leased, AI empty)."""
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


def _cost_curve(model) -> pd.DataFrame:
    if not has_data(model):
        return pd.DataFrame(columns=["breakeven_usd_per_ph_day", "mw", "cumulative_mw"])
    sites, s = model.sites, model.config
    mw = sites.mw_machines
    keep = mw > 0
    breakeven = econ.breakeven_hashprice(sites.efficiency_j_per_th[keep], model.seen.site_power_usd_per_mwh[keep],
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
    return float(curve.loc[curve["breakeven_usd_per_ph_day"] <= model.seen.hashprice_observed, "mw"].sum())


POPULATION_COLUMNS = {"power_usd_per_mwh": "power cost, $/MWh", "efficiency_j_per_th": "fleet efficiency, J/TH",
                      "cash_usd": "cash, $M", "leverage": "debt / assets"}


def population(model) -> pd.DataFrame:
    """Per active firm: power cost, fleet efficiency, cash and leverage (for histograms)."""
    return firm_table(model)[list(POPULATION_COLUMNS)]


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


def largest_deals(model, n: int = 8) -> pd.DataFrame:
    """The run's ``n`` largest deals by price (sites bought at auction, firms bought), largest first
    (ties in the order they happened). Found on the log's kind and value columns: building a tuple
    for each of a long run's events cost ~300 ms a redraw at 1,000 firms."""
    events = model.events
    every = events.rows  # flushes the pending events into the columns
    kinds, values = events.buffer.column("kind"), events.buffer.column("value_usd")
    deals = np.flatnonzero(np.isin(kinds, DEAL_KINDS))
    rows = [every[i] for i in deals[np.argsort(-values[deals], kind="stable")[:n]]]
    names = model.firms.name
    return pd.DataFrame([
        {"date": pd.Timestamp(r[1]).strftime("%Y-%m"), "buyer": names[r[3]] if 0 <= r[3] < len(names) else "",
         "seller": names[r[4]] if 0 <= r[4] < len(names) else "", "what": r[9] or ("site" if r[5] >= 0 else "firm"),
         "MW": round(r[6], 1), "USD M": round(r[8] / 1e6, 1)}
        for r in rows
    ], columns=["date", "buyer", "seller", "what", "MW", "USD M"])


# --- marks, target, ghost -------------------------------------------------------------------------------
def time_marks(model) -> list[Mark]:
    """Halvings (the step whose subsidy fell), price shocks (the step each applies to) and the
    end of replayed history, dated like the rows they belong to."""
    hist = industry_history(model)
    marks: list[Mark] = []
    if len(hist) and "subsidy_btc" in hist:
        sub = hist["subsidy_btc"].to_numpy(float)
        for i in np.flatnonzero(sub[1:] < sub[:-1]) + 1:
            marks.append(Mark(pd.Timestamp(hist["date"].iloc[i]), "halving", "halving"))
    if len(hist) and "step" in hist:
        by_step = dict(zip(hist["step"].astype(int), hist["date"]))
        for shock in model.config.price_shocks:
            if shock.step in by_step:
                marks.append(Mark(pd.Timestamp(by_step[shock.step]), f"price shock {shock.change:+.0%}", "shock"))
    until = model.config.history_until
    if until is not None and len(hist) and hist["date"].iloc[0] <= pd.Timestamp(until) <= hist["date"].iloc[-1]:
        marks.append(Mark(pd.Timestamp(until), "end of replayed history", "history"))
    return marks


def ai_target(model) -> tuple[float, pd.Timestamp] | None:
    """The scenario's AI target (share of public miners' MW converted, by a date), if it has one."""
    share = getattr(model.config, "ai_target_share", None)
    if share is None:
        return None
    return float(share), pd.Timestamp(model.config.ai_target_date)


def seed_band(model) -> Band | None:
    """The band of N seeds of this model's settings, once the dashboard has run them
    (``viz.seeds``), drawn behind the live run on the time charts."""
    return getattr(model, "seed_band", None)


def ghost_history(model) -> pd.DataFrame | None:
    """The previous run's industry rows (kept by the dashboard on Reset), for grey dotted lines."""
    return getattr(model, "ghost_history", None)


# --- figures (Plotly, built once per step) ------------------------------------------------------------
def _figure(model, key: str, build):
    return _per_step(model, f"figure:{key}", lambda m: build(industry_history(m)))


def price_figure(model):
    """BTC price (left axis) and hashprice (right axis)."""
    return _figure(model, "price", lambda h: charts.time_series(
        h, {"btc_price_usd": "#f2a900"}, "BTC price and hashprice", secondary={"hashprice_usd_per_ph_day": "#e65100"},
        marks=time_marks(model), ghost=ghost_history(model), band=seed_band(model)))


def hashrate_figure(model):
    return _figure(model, "hashrate", lambda h: charts.time_series(
        h, {"network_hashrate_ehs": "#5d4037"}, "Network hashrate", marks=time_marks(model),
        ghost=ghost_history(model), band=seed_band(model)))


def pivot_figure(model):
    """Share of live MW by state, with the scenario's AI target."""
    return _figure(model, "pivot", lambda h: charts.mw_shares(h, marks=time_marks(model), target=ai_target(model),
                                                            band=seed_band(model)))


def ai_figure(model):
    """AI MW demanded, signed (IT MW) and delivered (site MW leased), the MW converting, and the
    market lease rate on its own axis with the lowest and highest rate signed in each step."""
    return _figure(model, "ai", lambda h: charts.time_series(
        h, {"ai_demand_mw": "#90caf9", "ai_contracted_it_mw": "#1e88e5", "mw_ai": "#0d47a1", "mw_converting": "#7e57c2"},
        "AI hosting: MW demanded, signed, delivered, converting; lease rates", y_title="MW",
        secondary={"ai_lease_rate_usd_per_kw_month": "#43a047"}, marks=time_marks(model), ghost=ghost_history(model),
        band=seed_band(model),
        secondary_points={"ai_signed_rate_min_usd_per_kw_month": "#a5d6a7",
                          "ai_signed_rate_max_usd_per_kw_month": "#1b5e20"}))


def revenue_figure(model):
    """Mining revenue (left) and AI revenue (right axis, so it is not flattened beside mining)."""
    return _figure(model, "revenue", lambda h: charts.time_series(
        h, {"revenue_mining_usd": "#f2a900"}, "Industry revenue per step: mining (left), AI hosting (right)",
        secondary={"revenue_ai_usd": "#1e88e5"}, marks=time_marks(model), ghost=ghost_history(model), band=seed_band(model)))


def consolidation_figure(model):
    return _figure(model, "consolidation", lambda h: charts.consolidation(
        h, marks=time_marks(model), ghost=ghost_history(model), band=seed_band(model)))


def market_map_figure(model):
    return _per_step(model, "figure:map", lambda m: charts.market_map(firm_table(m)))


def cost_curve_figure(model):
    hashprice = float(model.seen.hashprice_observed) if has_data(model) else float("nan")
    return _per_step(model, "figure:cost", lambda m: charts.cost_curve(cost_curve(m), hashprice, mw_in_the_money(m)))


def population_figure(model):
    def build(m):
        pop = population(m).copy()
        pop["cash_usd"] = pop["cash_usd"].astype(float) / 1e6
        return charts.histograms(pop, POPULATION_COLUMNS)
    return _per_step(model, "figure:population", build)


FIGURES = {"price": price_figure, "hashrate": hashrate_figure, "pivot": pivot_figure, "ai": ai_figure,
           "revenue": revenue_figure, "consolidation": consolidation_figure, "map": market_map_figure,
           "cost": cost_curve_figure, "population": population_figure}
"""Every chart of the dashboard by a short name (the components and the benchmark use it)."""


# --- downloads ------------------------------------------------------------------------------------------
def industry_csv(model) -> str:
    """The run's industry table so far (one row a step, the recorded columns), as CSV."""
    return industry_history(model).to_csv(index=False)


def firms_csv(model) -> str:
    """The active firms now (the firm table's columns), as CSV."""
    return firm_table(model).to_csv(index=False)


def events_csv(model) -> str:
    """Every event of the run so far (records.EVENT_COLUMNS plus the firms' names), as CSV."""
    frame = model.events.frame()[EVENT_COLUMNS]
    names = np.asarray(model.firms.name, dtype=object)
    for col, out in (("firm_id", "firm"), ("counterparty_id", "counterparty")):
        ids = frame[col].to_numpy(int)
        ok = (ids >= 0) & (ids < len(names))
        frame[out] = np.where(ok, names[np.clip(ids, 0, max(len(names) - 1, 0))] if len(names) else "", "")
    return frame.to_csv(index=False)
