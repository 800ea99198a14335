"""Run: one `RunSpec` in, one `RunOutcome` out. The function every executor ships to its workers.

``execute`` never raises for a model error: it catches it and returns a *failed* outcome carrying
``"ExceptionType: message"``, so one bad parameter point cannot stop a sweep. Outcomes hold plain
DataFrames (picklable for process pools and Dask) and one ``row`` for ``runs.parquet``: the run's
identity, its parameters, status and final outcomes.

Final outcomes (columns of ``runs.parquet``): the last value of every industry column, the totals
of the flow columns over the run (``total_revenue_mining_usd`` ...), ``converted_share_mw``,
the share of live MW converted to AI hosting (leased or empty) at the end, and ``halted``, True
when the network had no hashrate at any step. They are computed from
every step even when the sweep records only the final row.

Study outcomes (issue 16): ``<column>_at_date`` for the concentration and failure columns at the
last step on or before ``[report] outcomes_at`` (the end when unset or later than the run), and
the firm-level ones of ``firm_outcomes`` (converters and how they fared against the firms that
kept mining), which need the firms table: NaN when the sweep does not record firms.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from marketsim.experiments.sweepfile import AI_MW, AT_DATE_COLUMNS, FIRM_OUTCOMES, FLOW_COLUMNS, LIVE_MW, RunSpec
from marketsim.records import EVENT_COLUMNS

EVENT_DTYPES = {"step": "int64", "date": "datetime64[s]", "kind": "str", "firm_id": "int64",
                "counterparty_id": "int64", "site_id": "int64", "mw": "float64", "hashrate_ehs": "float64",
                "value_usd": "float64", "detail": "str"}


@dataclass
class RunOutcome:
    run_id: int
    status: str  # "ok" | "failed"
    error: str
    row: dict[str, Any]
    industry: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    firms: pd.DataFrame | None = None
    elapsed_s: float = 0.0
    stored: bool = False  # True when the worker already wrote the parts (store.ExecuteAndStore)


def param_value(value: Any) -> Any:
    """Scalars stay as they are; lists and tables become JSON text (one column, one type)."""
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (list, dict)) else value


def final_outcomes(industry: pd.DataFrame, firms: pd.DataFrame | None = None, outcomes_at=None,
                   events: pd.DataFrame | None = None) -> dict[str, Any]:
    """The run's row of outcomes from its full industry table (and its firms table, when recorded)."""
    last = industry.iloc[-1]
    out: dict[str, Any] = {}
    for col in industry.columns:
        if col in ("step", "date"):
            continue
        value = last[col]
        out[col] = value.item() if isinstance(value, np.generic) else value
    for col in FLOW_COLUMNS:
        if col in industry:
            out[f"total_{col}"] = float(industry[col].sum())
    live = float(sum(last[c] for c in LIVE_MW if c in industry))
    out["converted_share_mw"] = float(last["mw_ai"] + last["mw_ai_empty"]) / live if live > 0 else 0.0
    out["steps"] = int(len(industry))
    out["halted"] = halted_at_any_step(industry)
    out.update(outcomes_at_date(industry, outcomes_at))
    out.update(firm_outcomes(firms, events))
    return out


def outcomes_at_date(industry: pd.DataFrame, date=None) -> dict[str, float]:
    """``<column>_at_date``: each of AT_DATE_COLUMNS at the last step on or before ``date`` (the
    first step if the run starts after it; the last step when ``date`` is None or after the end)."""
    row = industry.iloc[-1]
    if date is not None and "date" in industry:
        on_or_before = np.flatnonzero(pd.to_datetime(industry["date"]).to_numpy() <= np.datetime64(date))
        row = industry.iloc[on_or_before[-1] if len(on_or_before) else 0]
    return {f"{c}_at_date": float(row[c]) if c in industry else float("nan") for c in AT_DATE_COLUMNS}


def firm_outcomes(firms: pd.DataFrame | None, events: pd.DataFrame | None = None) -> dict[str, float]:
    """Converters and how they fared, from the firms table (NaN for every figure without one).

    A *converter* had AI MW (converting, leased or empty) at some recorded step; *miners* are the
    firms that never did and were still in business at the first snapshot where any firm had AI
    MW (the landmark). Without the landmark, firms that failed in 2023, before the AI market gave
    anyone the choice, would count as miners who failed, and converters would look better for
    having lived long enough to convert. (Converters still had to survive until their own
    conversion: the comparison leans their way; the paired no-conversion world is the clean one.)
    Survival: ``active`` in the run's last snapshot (a firm that left between snapshots is absent
    from it); bankruptcy: a ``bankruptcy`` event names the firm (without events: its last
    snapshot says ``bankrupt``).
    ``mw_converted_share_public``: active public firms' AI MW over their live MW at the last
    snapshot. A share over an empty group is NaN (no converters: nothing to compare)."""
    if firms is None or firms.empty:
        return {name: float("nan") for name in FIRM_OUTCOMES}
    ai = firms[AI_MW].sum(axis=1) > 0
    ever = ai.groupby(firms["firm_id"]).any()
    final = firms.sort_values("step").groupby("firm_id").last()
    conv = ever.reindex(final.index, fill_value=False).to_numpy()
    last = firms[firms["step"] == firms["step"].max()]
    if ai.any():  # the landmark: the first snapshot with AI MW; miners must be in business there
        at = firms[firms["step"] == firms.loc[ai, "step"].min()]
        there = final.index.isin(at.loc[at["state"] == "active", "firm_id"])
    else:
        there = np.ones(len(final), dtype=bool)
    miner = ~conv & there
    active = final.index.isin(last.loc[last["state"] == "active", "firm_id"])
    if events is not None:
        bankrupt = final.index.isin(events.loc[events["kind"] == "bankruptcy", "firm_id"])
    else:
        bankrupt = (final["state"] == "bankrupt").to_numpy()

    def share(mask: np.ndarray, group: np.ndarray) -> float:
        return float(mask[group].mean()) if group.any() else float("nan")

    public = last[last["is_public"].astype(bool) & (last["state"] == "active")]
    live = float(public[LIVE_MW].to_numpy(float).sum())
    survival_conv, survival_miner = share(active, conv), share(active, miner)
    return {
        "converters": float(conv.sum()),
        "converter_survival_share": survival_conv,
        "miner_survival_share": survival_miner,
        "converter_survival_advantage": survival_conv - survival_miner,
        "converter_bankruptcy_share": share(bankrupt, conv),
        "miner_bankruptcy_share": share(bankrupt, miner),
        "mw_converted_share_public": float(public[AI_MW].to_numpy(float).sum()) / live if live > 0 else float("nan"),
    }


def halted_at_any_step(industry: pd.DataFrame) -> bool:
    """True when the network had no hashrate at some step: outcomes such as HHI are undefined
    there, so a study can count and separate these runs (issue 10, item 4). The model's own
    ``halted`` column when it records one, else network hashrate <= 0."""
    if "halted" in industry:
        return bool(industry["halted"].fillna(False).astype(bool).any())
    return bool((industry["network_hashrate_ehs"] <= 0).any())


def execute(spec: RunSpec) -> RunOutcome:
    """Run one model to the end; a raising model becomes a failed outcome, not an exception."""
    from marketsim import process_setup
    from marketsim.model import IndustryModel
    from marketsim.runner import result_of

    if process_setup.in_worker():  # a pool's or a Dask nanny's worker (a Dask worker is not warmed up)
        process_setup.freeze_imports()
    row: dict[str, Any] = {"run_id": spec.run_id, "point_id": spec.point_id, "replication": spec.replication,
                           "seed": spec.seed}
    row.update({name: param_value(v) for name, v in spec.params.items()})
    started = time.perf_counter()
    try:
        model = IndustryModel(spec.scenario, rng=spec.seed)
        model.run()
        result = result_of(model, spec.seed)
    except Exception as exc:  # noqa: BLE001 -- isolation is the point: the sweep goes on
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        return RunOutcome(spec.run_id, "failed", row["error"], row, elapsed_s=time.perf_counter() - started)
    industry = result.industry
    row.update(status="ok", error="")
    row.update(final_outcomes(industry, result.firms if spec.record.get("firms", False) else None,
                              spec.record.get("outcomes_at"), result.events))
    if spec.record.get("industry") == "final":
        industry = industry.iloc[[-1]]
    industry = industry.reset_index(drop=True)
    industry.insert(0, "run_id", spec.run_id)
    events = None
    if spec.record.get("events", True):
        events = result.events.astype(EVENT_DTYPES)[EVENT_COLUMNS]
        events.insert(0, "run_id", spec.run_id)
    firms = None
    if spec.record.get("firms", False) and spec.record.get("firms_table", True):
        firms = result.firms.reset_index(drop=True)
        firms.insert(0, "run_id", spec.run_id)
    return RunOutcome(spec.run_id, "ok", "", row, industry, events, firms, time.perf_counter() - started)
