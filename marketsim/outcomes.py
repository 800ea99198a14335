"""Declared industry outcomes: every column the model records, with a label, a unit, a display
format and how it sums up over a run.

The descriptions come from ``metrics.COLUMN_DOCS`` (one source for what a column means); this
module adds what a reader needs to show a number: ``label`` and ``unit`` for an axis title,
``fmt`` for the number itself (a 0..1 share as a percentage, USD with $ and M/B, an HHI with
three decimals) and ``aggregate``, how a run's steps reduce to one figure:

``last``  stocks and running totals (MW by state, firms active, bankruptcies so far): the end;
``sum``   flows per step (blocks, revenue, deals in the step): the run's total;
``mean``  prices and rates that move step to step (BTC price, hashprice): the run's average;
``max``   reserved for peaks (none of today's columns).

A column the model records must be declared here (``tests/test_outcomes.py`` checks the model's
DataCollector against ``OUTCOMES``), so a new column gets a unit and a format when it is added.
Code that meets an undeclared name anyway (a sweep written by a newer model) gets ``outcome()``'s
guess from the name's suffix rather than an error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from marketsim import metrics
from marketsim.units import format_money

FORMATS = ("pct", "usd", "int", "number", "index", "date")
AGGREGATES = ("last", "mean", "sum", "max")


@dataclass(frozen=True)
class Outcome:
    """One industry column: ``name`` as recorded, ``label`` and ``unit`` for people, ``fmt`` (one
    of FORMATS) and ``aggregate`` (one of AGGREGATES) for summaries."""

    name: str
    label: str
    unit: str
    description: str
    fmt: str
    aggregate: str

    @property
    def title(self) -> str:
        """Label with unit, for axes and menus: 'AI-leased MW (MW)', 'top-5 share of hashrate (%)'."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def tickformat(self) -> str:
        """A d3 format string for chart axes and hover (Plotly): % for shares, SI prefixes for USD."""
        return {"pct": ".1%", "usd": "$,.3~s", "int": ",d", "index": ".3f", "date": ""}.get(self.fmt, ",.4~g")

    def format(self, value) -> str:
        """``value`` as text in this outcome's format: 0.123 -> '12.3%', 1.5e9 -> '$1.50B'."""
        return format_value(value, self.fmt, self.unit)


def format_value(value, fmt: str, unit: str = "") -> str:
    """A number as people read it; NaN and None as an en dash."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "–"
    if fmt == "date":
        return f"{value:%Y-%m}" if hasattr(value, "strftime") else str(value)
    v = float(value)
    if fmt == "pct":
        return f"{v:.1%}"
    if fmt == "index":
        return f"{v:.3f}"
    if fmt == "int":
        return f"{v:,.0f}"
    if fmt == "usd":
        return format_money(v, cents=True)
    text = f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"
    return f"{text} {unit}" if unit and unit not in ("count",) else text


# name: (label, unit, fmt, aggregate). The unit "count" is shown in titles, not after numbers.
_DISPLAY: dict[str, tuple[str, str, str, str]] = {
    "step": ("step", "", "int", "last"),
    "date": ("date", "", "date", "last"),
    "block_height": ("block height", "", "int", "last"),
    "blocks": ("blocks found", "count", "int", "sum"),
    "subsidy_btc": ("block subsidy", "BTC", "number", "last"),
    "issuance_btc": ("BTC issued", "BTC", "number", "sum"),
    "fees_btc": ("fees", "BTC", "number", "sum"),
    "btc_price_usd": ("BTC price", "USD", "usd", "mean"),
    "difficulty_hashrate_ehs": ("difficulty as hashrate", "EH/s", "number", "last"),
    "network_hashrate_ehs": ("network hashrate", "EH/s", "number", "last"),
    "hashprice_usd_per_ph_day": ("hashprice", "USD/PH/day", "usd", "mean"),
    "revenue_mining_usd": ("mining revenue", "USD", "usd", "sum"),
    "revenue_ai_usd": ("AI hosting revenue", "USD", "usd", "sum"),
    "cost_usd": ("cost", "USD", "usd", "sum"),
    "profit_usd": ("profit", "USD", "usd", "sum"),
    "capex_usd": ("capex", "USD", "usd", "sum"),
    "mw_mining": ("mining MW", "MW", "number", "last"),
    "mw_idle": ("idle MW", "MW", "number", "last"),
    "mw_converting": ("converting MW", "MW", "number", "last"),
    "mw_ai": ("AI-leased MW", "MW", "number", "last"),
    "mw_ai_empty": ("AI-empty MW", "MW", "number", "last"),
    "mw_shutdown": ("shut-down MW", "MW", "number", "last"),
    "mw_building": ("MW being built", "MW", "number", "last"),
    "firms_active": ("firms active", "count", "int", "last"),
    "entries": ("entries in the step", "count", "int", "sum"),
    "bankruptcies": ("bankruptcies in the step", "count", "int", "sum"),
    "voluntary_sales": ("voluntary sales", "count", "int", "sum"),
    "takeovers": ("takeovers", "count", "int", "sum"),
    "wind_downs": ("wind-downs", "count", "int", "sum"),
    "exits": ("exits in the step", "count", "int", "sum"),
    "acquisitions": ("deals in the step", "count", "int", "sum"),
    "acquisitions_usd": ("deal value", "USD", "usd", "sum"),
    "bankruptcies_cum": ("bankruptcies so far", "count", "int", "last"),
    "exits_cum": ("exits so far", "count", "int", "last"),
    "acquisitions_cum": ("deals so far", "count", "int", "last"),
    "hhi_hashrate": ("HHI of hashrate", "0-1", "index", "last"),
    "top4_share_hashrate": ("top-4 share of hashrate", "%", "pct", "last"),
    "top5_share_hashrate": ("top-5 share of hashrate", "%", "pct", "last"),
    "hhi_mw": ("HHI of MW", "0-1", "index", "last"),
    "top4_share_mw": ("top-4 share of MW", "%", "pct", "last"),
    "top5_share_mw": ("top-5 share of MW", "%", "pct", "last"),
    "public_share_hashrate": ("public miners' share of hashrate", "%", "pct", "last"),
    "avg_efficiency_j_per_th": ("fleet efficiency", "J/TH", "number", "last"),
    "cost_to_mine_btc_usd": ("cost to mine one BTC", "USD", "usd", "mean"),
    "ai_demand_mw": ("AI demand", "MW IT", "number", "last"),
    "ai_contracted_it_mw": ("AI MW signed", "MW IT", "number", "last"),
    "ai_lease_rate_usd_per_kw_month": ("AI lease rate", "USD/kW-month", "usd", "mean"),
    "machine_price_usd_per_th": ("ASIC price", "USD/TH/s", "usd", "mean"),
    "asic_shipped_ehs": ("ASICs shipped", "EH/s", "number", "sum"),
    "asic_capacity_ehs_per_month": ("ASIC capacity", "EH/s a month", "number", "last"),
    "frontier_j_per_th": ("frontier efficiency", "J/TH", "number", "last"),
    "halted": ("network halted", "", "int", "max"),
    "mw_cancelled": ("cancelled MW (orders of failed firms)", "MW", "number", "last"),
    "ai_signed_it_mw": ("AI MW signed in the step", "MW IT", "number", "sum"),
    "ai_offered_it_mw": ("AI MW offered", "MW IT", "number", "mean"),
    "ai_under_construction_it_mw": ("AI MW under construction", "MW IT", "number", "last"),
    "ai_delivered_it_mw": ("AI MW delivered", "MW IT", "number", "last"),
    "ai_empty_it_mw": ("AI MW empty", "MW IT", "number", "last"),
    "ai_clearing_rate_usd_per_kw_month": ("AI lease clearing rate", "USD/kW-month", "usd", "mean"),
    "ai_signed_rate_min_usd_per_kw_month": ("lowest AI rate signed", "USD/kW-month", "usd", "mean"),
    "ai_signed_rate_max_usd_per_kw_month": ("highest AI rate signed", "USD/kW-month", "usd", "mean"),
    "ai_unmet_demand_it_mw": ("AI demand unmet", "MW IT", "number", "last"),
    "ai_tenant_defaults_it_mw": ("AI tenant defaults in the step", "MW IT", "number", "sum"),
    "ai_gpu_cloud_started_it_mw": ("own GPU cloud started", "MW IT", "number", "sum"),
    "ai_gpu_cloud_it_mw": ("own GPU cloud", "MW IT", "number", "last"),
}

# Outcomes computed from the recorded columns (not recorded by the model): the pivot as shares.
DERIVED: dict[str, tuple[str, str, str, str, str]] = {
    "ai_share_mw": ("AI share of live MW", "%", "pct", "last",
                    "(converting + AI-leased + AI-empty MW) / live MW (all but shut down)"),
}


# Outcomes of a whole run (columns of a sweep's runs.parquet, computed in experiments/runs.py):
# the firm-level study outcomes need the sweep to record firms ([record] firms = true) and are NaN
# otherwise; the ``*_at_date`` ones are industry columns at the last step on or before the sweep's
# ``[report] outcomes_at`` date (the run's end when it is not set or the run ends before it).
RUN_OUTCOMES: dict[str, tuple[str, str, str, str, str]] = {
    "converters": ("converters", "count", "int", "last",
                   "firms that had MW converting, AI-leased or AI-empty at any recorded step"),
    "converter_survival_share": ("converters still active", "%", "pct", "last",
                                 "share of the converters still active at the end of the run"),
    "miner_survival_share": ("miners still active", "%", "pct", "last",
                             "share of the firms that never converted, in business when the first firm converted, "
                             "still active at the end of the run (all firms when none converted)"),
    "converter_survival_advantage": ("converters' survival edge", "share points", "number", "last",
                                     "converter_survival_share - miner_survival_share (> 0: converters outlived miners)"),
    "converter_bankruptcy_share": ("converters bankrupt", "%", "pct", "last",
                                   "share of the converters that went bankrupt during the run"),
    "miner_bankruptcy_share": ("miners bankrupt", "%", "pct", "last",
                               "share of those miners (as in miner_survival_share) that went bankrupt during the run"),
    "mw_converted_share_public": ("public miners' MW in AI", "%", "pct", "last",
                                  "share of active public miners' live MW converting, AI-leased or AI-empty at the end"),
    "hhi_hashrate_at_date": ("HHI of hashrate at the study date", "0-1", "index", "last",
                             "hhi_hashrate at the last step on or before [report] outcomes_at"),
    "top5_share_hashrate_at_date": ("top-5 share of hashrate at the study date", "%", "pct", "last",
                                    "top5_share_hashrate at the last step on or before [report] outcomes_at"),
    "hhi_mw_at_date": ("HHI of MW at the study date", "0-1", "index", "last",
                       "hhi_mw at the last step on or before [report] outcomes_at"),
    "top5_share_mw_at_date": ("top-5 share of MW at the study date", "%", "pct", "last",
                              "top5_share_mw at the last step on or before [report] outcomes_at"),
    "bankruptcies_cum_at_date": ("bankruptcies by the study date", "count", "int", "last",
                                 "bankruptcies_cum at the last step on or before [report] outcomes_at"),
    "acquisitions_cum_at_date": ("deals by the study date", "count", "int", "last",
                                 "acquisitions_cum at the last step on or before [report] outcomes_at"),
    "network_hashrate_ehs_at_date": ("network hashrate at the study date", "EH/s", "number", "last",
                                     "network_hashrate_ehs at the last step on or before [report] outcomes_at"),
    "hashprice_usd_per_ph_day_at_date": ("hashprice at the study date", "USD/PH/day", "usd", "last",
                                         "hashprice_usd_per_ph_day at the last step on or before [report] outcomes_at"),
}


def _declared() -> dict[str, Outcome]:
    out = {}
    for name, doc in metrics.COLUMN_DOCS.items():
        if name in _DISPLAY:
            label, unit, fmt, agg = _DISPLAY[name]
            out[name] = Outcome(name, label, unit, doc, fmt, agg)
    for name, (label, unit, fmt, agg, doc) in (DERIVED | RUN_OUTCOMES).items():
        out[name] = Outcome(name, label, unit, doc, fmt, agg)
    return out


OUTCOMES: dict[str, Outcome] = _declared()
"""Every declared outcome by column name, in the order the model records them."""

UNDECLARED: list[str] = [c for c in metrics.COLUMN_DOCS if c not in _DISPLAY]
"""Columns the model records that this module has no unit or format for (should be empty)."""


def guess(name: str) -> Outcome:
    """An outcome for an undeclared column, from its name's suffix (``_usd``, ``_mw``, ``share``...)."""
    rules = [("share", ("%", "pct", "last")), ("hhi", ("0-1", "index", "last")), ("_usd", ("USD", "usd", "sum")),
             ("_cum", ("count", "int", "last")), ("_ehs", ("EH/s", "number", "last")), ("_mw", ("MW", "number", "last")),
             ("mw_", ("MW", "number", "last")), ("_btc", ("BTC", "number", "sum")), ("_j_per_th", ("J/TH", "number", "last"))]
    unit, fmt, agg = next((spec for key, spec in rules if key in name), ("", "number", "last"))
    doc = metrics.COLUMN_DOCS.get(name, "not declared in marketsim.outcomes")
    return Outcome(name, name.replace("_", " "), unit, doc, fmt, agg)


def outcome(name: str) -> Outcome:
    """The declared outcome ``name``, or a guess from its name for a column declared nowhere."""
    return OUTCOMES.get(name) or guess(name)


def title(name: str) -> str:
    """'label (unit)' for a column name (declared or guessed)."""
    return outcome(name).title


def aggregate(values, name: str) -> float:
    """The run's figure for a column's step values, by its declared aggregate (NaN for no steps)."""
    v = np.asarray(values, dtype=float)
    if not v.size:
        return float("nan")
    how = outcome(name).aggregate
    return float({"last": lambda a: a[-1], "mean": np.nanmean, "sum": np.nansum, "max": np.nanmax}[how](v))


def ai_share_mw(industry) -> np.ndarray:
    """The ``ai_share_mw`` derived outcome for rows of the industry table (0 where no MW is live)."""
    ai = sum(industry[c].to_numpy(float) for c in ("mw_converting", "mw_ai", "mw_ai_empty") if c in industry)
    live = sum(industry[c].to_numpy(float) for c in ("mw_mining", "mw_idle", "mw_converting", "mw_ai", "mw_ai_empty")
               if c in industry)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(live) > 0, ai / live, 0.0)
