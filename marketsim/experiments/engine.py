"""The sweep loop: plan -> executor -> store, with a progress bar. ``marketsim.sweep`` lives here.

``sweep("smoke", out="out/smoke", workers=2)`` validates the sweep file (nothing is written if it
is bad), opens or creates the store, skips the runs already finished there, sends the rest to the
executor, stores each outcome as it arrives (workers that share this disk write their own parts)
and appends it, in run-id order, to the final tables (`store.FinalTables`), which are renamed into
place at the end: the sweep process's share of the work overlaps the workers' runs. A run whose
model raises is stored as failed with its message; an executor failure (a worker process killed)
is not stored, so a later ``--resume`` runs it again, and the sweep reports it as ``lost``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marketsim.experiments.executors import Executor, make_executor
from marketsim.experiments.runs import execute
from marketsim.experiments.store import ExecuteAndStore, FinalTables, ResultStore
from marketsim.experiments.sweepfile import SweepPlan, load_sweep


@dataclass
class SweepResult:
    """What a sweep did; the tables themselves are in ``out`` (``ResultStore(out).read('runs')``)."""

    out: Path
    n_runs: int
    skipped: int
    ok: int
    failed: int
    lost: int
    elapsed_s: float
    executor: str
    lost_errors: list[str]

    @property
    def runs_per_second(self) -> float:
        done = self.n_runs - self.skipped - self.lost
        return done / self.elapsed_s if self.elapsed_s > 0 else float("nan")

    def read(self, table: str = "runs"):
        return ResultStore.open(self.out).read(table)


def _bar(total: int, initial: int, desc: str, enabled: bool | None, failed: int):
    """The progress bar: ``None`` shows it only on a terminal. In a log file a bar is
    hundreds of carriage-return updates; the sweep's closing line says what happened instead."""
    from tqdm import tqdm

    enabled = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, initial=initial, desc=desc, unit="run", file=sys.stderr, disable=not enabled,
                dynamic_ncols=True, smoothing=0.1, postfix={"failed": failed})


def sweep(sweep_file: str | Path | SweepPlan, out: str | Path, *, workers: int | None = None,
          dask: str | None = None, dask_local: int | None = None, executor: Executor | None = None,
          resume: bool = False, progress: bool | None = None, **overrides: Any) -> SweepResult:
    """Run a sweep file (path, shipped name or a `SweepPlan`) into the folder ``out``.

    ``workers`` (default: all cores; 1 runs in this process), ``dask`` (scheduler address) or
    ``dask_local`` (LocalCluster size) choose the executor, unless one is given. ``overrides``
    replace top-level sweep fields (``replications=2``, ``master_seed=7``).
    """
    plan = sweep_file if isinstance(sweep_file, SweepPlan) else load_sweep(sweep_file, **overrides)
    ResultStore.refuse_early(out)  # a path we must not write to: refused before a cluster starts
    if executor is None:
        executor_cm = make_executor(workers, dask, dask_local)  # bad flags fail before anything is written
    try:
        store = ResultStore.prepare(out, plan, resume=resume)
    except BaseException:
        if executor is None:
            executor_cm.close()  # a LocalCluster is already up: do not leave it behind
        raise
    done = store.finished()
    todo = plan.specs(skip=done)
    counts = {"ok": 0, "failed": 0, "lost": 0}
    lost_errors: list[str] = []
    started = time.perf_counter()
    failed_before = store.count_failed(done) if done else 0
    bar = _bar(plan.n_runs, len(done), plan.sweep.name, progress, failed_before)
    ex = executor if executor is not None else executor_cm
    final = FinalTables(store, plan.parameters, done)  # built as runs arrive, renamed into place at the end
    try:
        if executor is None:
            ex.__enter__()
        store.update_manifest(status="running", executor=ex.describe())
        fn = ExecuteAndStore(store.parts) if ex.shares_disk else execute
        for spec, outcome, error in ex.map_unordered(fn, todo):
            if error is not None:
                counts["lost"] += 1
                lost_errors.append(f"run {spec.run_id}: {type(error).__name__}: {error}")
                continue
            if not outcome.stored:
                store.write_run(outcome)
            final.add(spec.run_id)
            counts[outcome.status] += 1
            bar.update(1)
            if outcome.status == "failed":
                bar.set_postfix(failed=failed_before + counts["failed"], refresh=False)
    except BaseException:
        final.abort()
        raise
    finally:
        bar.close()
        if executor is None:
            ex.__exit__(None, None, None)
    try:
        totals = final.finish()
    finally:
        final.abort()
    complete = len(store.finished()) == plan.n_runs
    elapsed = time.perf_counter() - started
    session = {"runs": counts["ok"] + counts["failed"], "skipped": len(done), "elapsed_s": round(elapsed, 1),
               "executor": ex.describe()}  # the runs/s a study's write-up quotes (experiments/findings.py)
    store.update_manifest(status="complete" if complete else "incomplete", counts=totals, last_session=session)
    return SweepResult(Path(out), plan.n_runs, len(done), counts["ok"], counts["failed"], counts["lost"],
                       elapsed, ex.describe(), lost_errors)
