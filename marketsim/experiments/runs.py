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
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from marketsim.experiments.sweepfile import FLOW_COLUMNS, LIVE_MW, RunSpec
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


def final_outcomes(industry: pd.DataFrame) -> dict[str, Any]:
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
    return out


def halted_at_any_step(industry: pd.DataFrame) -> bool:
    """True when the network had no hashrate at some step: outcomes such as HHI are undefined
    there, so a study can count and separate these runs (issue 10, item 4). The model's own
    ``halted`` column when it records one, else network hashrate <= 0."""
    if "halted" in industry:
        return bool(industry["halted"].fillna(False).astype(bool).any())
    return bool((industry["network_hashrate_ehs"] <= 0).any())


def execute(spec: RunSpec) -> RunOutcome:
    """Run one model to the end; a raising model becomes a failed outcome, not an exception."""
    from marketsim.model import IndustryModel
    from marketsim.runner import result_of

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
    row.update(final_outcomes(industry))
    if spec.record.get("industry") == "final":
        industry = industry.iloc[[-1]]
    industry = industry.reset_index(drop=True)
    industry.insert(0, "run_id", spec.run_id)
    events = None
    if spec.record.get("events", True):
        events = result.events.astype(EVENT_DTYPES)[EVENT_COLUMNS]
        events.insert(0, "run_id", spec.run_id)
    firms = None
    if spec.record.get("firms", False):
        firms = result.firms.reset_index(drop=True)
        firms.insert(0, "run_id", spec.run_id)
    return RunOutcome(spec.run_id, "ok", "", row, industry, events, firms, time.perf_counter() - started)
