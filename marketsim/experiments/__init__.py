"""Experiments: many runs of the model, stored and summarised. The seams, one module each:

design      samplers: grid, Latin hypercube, Sobol, Saltelli (``design.py``)
sweep file  TOML declaration, validated and resolved into a plan of runs (``sweepfile.py``)
run         one run spec in, one outcome out; model errors become failed outcomes (``runs.py``)
executor    sequential, process pool, Dask distributed; context managers (``executors.py``)
store       manifest + atomic per-run parts + final Parquet tables; resume (``store.py``)
analysis    summary tables, figures, Sobol indices, PRIM (``report.py``)

``sweep()`` (``engine.py``) ties them together; ``marketsim sweep`` and ``marketsim report`` are
the command-line faces.
"""

from marketsim.experiments.design import Range, grid, latin_hypercube, saltelli, sobol
from marketsim.experiments.engine import SweepResult, sweep
from marketsim.experiments.executors import DaskExecutor, ProcessPoolExecutor, SequentialExecutor, make_executor
from marketsim.experiments.store import ResultStore, StoreError
from marketsim.experiments.sweepfile import SweepFileError, SweepPlan, load_sweep

__all__ = [
    "DaskExecutor", "ProcessPoolExecutor", "Range", "ResultStore", "SequentialExecutor", "StoreError",
    "SweepFileError", "SweepPlan", "SweepResult", "grid", "latin_hypercube", "load_sweep", "make_executor",
    "saltelli", "sobol", "sweep",
]
