"""Static figures of `marketsim report` and `marketsim validate`: one place that draws them.

Every function takes tables and returns a matplotlib ``Figure`` (built with
``matplotlib.figure.Figure``, never pyplot), so drawing touches no global state, needs no
``matplotlib.use`` and is safe in threads and Dask workers; the caller saves it with
``fig.savefig``. Axis titles come from ``marketsim.outcomes`` (label and unit of each column), so
a figure and the tables around it name a number the same way. The dashboard's interactive charts
live in ``viz/`` (Plotly), not here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from marketsim import outcomes
from marketsim.units import PH_PER_EH, format_number

PANEL_COLUMNS = 4  # panels per row of a multi-outcome figure
PANEL_SIZE_IN = (3.6, 2.8)  # width, height of one panel, inches
BAND_ALPHA = 0.2  # shading of a band (min-max or low-high) behind its mean line
HALVING_PLOT_MONTHS = 6  # months shown either side of a halving
USD_PER_BN = 1e9


def panels(n: int) -> tuple[Figure, list]:
    """A figure with ``n`` panels, ``PANEL_COLUMNS`` to a row (unused cells hidden)."""
    cols, rows = min(n, PANEL_COLUMNS), -(-n // PANEL_COLUMNS)
    fig = Figure(figsize=(PANEL_SIZE_IN[0] * cols, PANEL_SIZE_IN[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def band(ax, x, mean, low, high, label=None, color=None):
    """A mean line with a shaded low-high band in the same colour."""
    line, = ax.plot(x, mean, label=label, color=color)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=BAND_ALPHA, lw=0)
    return line


def seed_band(ax, runs: pd.DataFrame, column: str, label: str, color: str) -> None:
    """Mean over seeds (line) and min-max over seeds (band) of ``column`` at each date."""
    g = runs.groupby("date")[column]
    band(ax, g.mean().index, g.mean(), g.min(), g.max(), label=label, color=color)


# --- sweep report -------------------------------------------------------------------------------
def bands_figure(bands_by_outcome: dict[str, pd.DataFrame], by: str | None, labels: dict) -> Figure:
    """One panel per outcome: mean and band over time, one line per value of parameter ``by``.

    ``bands_by_outcome[o]`` is ``analysis.bands_over_time`` (columns date or step, mean, low,
    high and ``by``); ``labels`` maps a (binned) value of ``by`` to its legend text.
    """
    fig, axes = panels(len(bands_by_outcome))
    for ax, (o, bands) in zip(axes, bands_by_outcome.items()):
        x = "date" if "date" in bands else "step"
        for value, g in (bands.groupby(by, sort=True) if by else [(None, bands)]):
            label = None if by is None else f"{by} = {labels.get(value, value)}"
            band(ax, g[x], g["mean"], g["low"], g["high"], label=label)
        ax.set_title(outcomes.title(o), fontsize=9)
        ax.tick_params(labelsize=7)
    if by is not None and axes:
        axes[0].legend(fontsize=7)
    return fig


def heatmap_figure(tables: dict[str, pd.DataFrame], x: str, y: str) -> Figure:
    """One panel per outcome: its mean final value over a grid of parameters ``x`` (columns) and
    ``y`` (rows); ``tables[o]`` is ``analysis.final_heatmap``."""
    fig, axes = panels(len(tables))
    for ax, (o, table) in zip(axes, tables.items()):
        image = ax.imshow(table.to_numpy(dtype=float), origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(table.shape[1]), [format_number(v) for v in table.columns], fontsize=7)
        ax.set_yticks(range(table.shape[0]), [format_number(v) for v in table.index], fontsize=7)
        ax.set(xlabel=x, ylabel=y)
        ax.set_title(f"{outcomes.title(o)}, mean", fontsize=9)
        fig.colorbar(image, ax=ax)
    return fig


def sobol_figure(table: pd.DataFrame, params: list[str], shown: list[str]) -> Figure:
    """First-order (S1) and total (ST) Sobol indices with their confidence half-widths, one panel
    per outcome in ``shown``; ``table`` has columns outcome, parameter, S1, S1_conf, ST, ST_conf."""
    fig, axes = panels(len(shown))
    for ax, o in zip(axes, shown):
        t, pos = table[table["outcome"] == o], np.arange(len(params))
        ax.bar(pos - 0.2, t["S1"], 0.4, yerr=t["S1_conf"], label="S1")
        ax.bar(pos + 0.2, t["ST"], 0.4, yerr=t["ST_conf"], label="ST")
        ax.set_xticks(pos, params, rotation=30, ha="right", fontsize=7)
        ax.set_title(outcomes.title(o), fontsize=9)
    if axes:
        axes[0].legend(fontsize=7)
    return fig


# --- validation: model vs data ----------------------------------------------------------------
def data_hashprice_usd_per_ph_day(revenue_usd: pd.Series, hashrate_ehs: pd.Series) -> pd.Series:
    """Monthly hashprice from the data: revenue per day over PH/s (1 EH/s = 1000 PH/s)."""
    return revenue_usd / revenue_usd.index.days_in_month / (hashrate_ehs.reindex(revenue_usd.index) * PH_PER_EH)


def revenue_figure(data_rev: pd.Series, model_rev: pd.DataFrame) -> Figure:
    """Monthly industry revenue, the data's line and the model's points per window
    (``model_rev``: columns window, date, revenue_mining_usd)."""
    fig = Figure(figsize=(9, 4), layout="tight")
    ax = fig.subplots()
    ax.plot(data_rev.index, data_rev / USD_PER_BN, color="black", lw=1, label="data: (issuance + fees) x price")
    for window, color in (("in-sample", "tab:blue"), ("out-of-sample", "tab:orange")):
        g = model_rev[model_rev["window"] == window]
        ax.plot(g["date"], g["revenue_mining_usd"] / USD_PER_BN, "o", ms=3, color=color, label=f"model ({window})")
    ax.set_ylabel(f"{outcomes.outcome('revenue_mining_usd').label}, USD bn per month")
    ax.set_title("Monthly industry revenue: model vs data")
    ax.legend()
    return fig


def hashrate_figure(ins: pd.DataFrame, oos: pd.DataFrame, data_rate: pd.Series, halvings: list[str]) -> Figure:
    """Network hashrate of the in- and out-of-sample replays (band over seeds) against the data."""
    fig = Figure(figsize=(9, 4), layout="tight")
    ax = fig.subplots()
    seed_band(ax, ins, "network_hashrate_ehs", "model, in-sample (fitted)", "tab:blue")
    seed_band(ax, oos, "network_hashrate_ehs", "model, out-of-sample", "tab:orange")
    ax.plot(data_rate.index, data_rate, color="black", lw=1, label="data (monthly mean)")
    for h in halvings:
        ax.axvline(pd.Timestamp(h), color="grey", ls="--", lw=0.8)
    ax.set_ylabel(outcomes.title("network_hashrate_ehs"))
    ax.set_title("Network hashrate produced by the agents (band: min-max over seeds)")
    ax.legend()
    return fig


def halving_figure(panels_spec: list[tuple[pd.DataFrame, str, str, pd.Series | None]]) -> Figure:
    """Hashprice around each halving: one panel per (runs, halving month, title, data hashprice or
    None), the model's band over seeds and, where the data has hashrate, the data's line."""
    fig = Figure(figsize=(10, 3.6), layout="tight")
    axes = fig.subplots(1, len(panels_spec), squeeze=False).ravel()
    for ax, (runs, month, title, data_hp) in zip(axes, panels_spec):
        centre = pd.Timestamp(month)
        window = runs[(runs["date"] >= centre - pd.DateOffset(months=HALVING_PLOT_MONTHS))
                      & (runs["date"] <= centre + pd.DateOffset(months=HALVING_PLOT_MONTHS))]
        seed_band(ax, window, "hashprice_usd_per_ph_day", "model hashprice", "tab:red")
        if data_hp is not None:
            hp = data_hp[(data_hp.index >= window["date"].min()) & (data_hp.index <= window["date"].max())]
            ax.plot(hp.index, hp, color="black", lw=1, label="data hashprice")
        ax.axvline(centre, color="grey", ls="--", lw=0.8)
        ax.set_title(title)
        ax.set_ylabel("USD per PH/s per day")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelrotation=45)
    return fig
