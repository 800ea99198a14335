"""Experiments: many runs of the model, stored and summarised. The seams, one module each:

design      samplers: grid, Latin hypercube, Sobol, Saltelli (``design.py``)
sweep file  TOML declaration, validated and resolved into a plan of runs (``sweepfile.py``)
run         one run spec in, one outcome out; model errors become failed outcomes (``runs.py``)
executor    sequential, process pool, Dask distributed; context managers (``executors.py``)
store       manifest + atomic per-run parts + final Parquet tables; resume (``store.py``)
analysis    summary tables, figures, Sobol indices, PRIM (``report.py``)
batch       runs kept in memory (calibration grids, validation replays) on the same executors (``batch.py``)

``sweep()`` (``engine.py``) ties them together; ``marketsim sweep`` and ``marketsim report`` are
the command-line faces.

The names below are imported on first use (PEP 562): a sweep worker imports
``marketsim.experiments.runs`` and should not pay for the samplers (SciPy), Dask or the report.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_HOME = {
    "Range": "design", "grid": "design", "latin_hypercube": "design", "saltelli": "design", "sobol": "design",
    "SweepResult": "engine", "sweep": "engine",
    "DaskExecutor": "executors", "ProcessPoolExecutor": "executors", "SequentialExecutor": "executors",
    "make_executor": "executors",
    "ResultStore": "store", "StoreError": "store",
    "SweepFileError": "sweepfile", "SweepPlan": "sweepfile", "load_sweep": "sweepfile",
}
__all__ = sorted(_HOME)

if TYPE_CHECKING:
    from marketsim.experiments.design import Range, grid, latin_hypercube, saltelli, sobol
    from marketsim.experiments.engine import SweepResult, sweep
    from marketsim.experiments.executors import (DaskExecutor, ProcessPoolExecutor, SequentialExecutor,
                                                 make_executor)
    from marketsim.experiments.store import ResultStore, StoreError
    from marketsim.experiments.sweepfile import SweepFileError, SweepPlan, load_sweep


def __getattr__(name: str):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'marketsim.experiments' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"marketsim.experiments.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
