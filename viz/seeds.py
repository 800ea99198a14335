"""N seeds of the dashboard's current settings, run in the background, as a band over time.

One live run is one draw of the price path, the AI demand and the firms' luck. The dashboard's
"Run N seeds" button runs the same scenario (the settings in force on the live model) with N
other seeds and draws, behind the live lines, the band from the 10th to the 90th percentile and
the median at every step, so a user sees whether the live run is typical or in a tail.

The runs use the sweep machinery (``marketsim.experiments``): one ``RunSpec`` per seed, executed
by ``runs.execute`` on a ``ProcessPoolExecutor`` (forkserver worker processes), so they neither
hold the server's GIL nor block the page; the seeds are spawned from the live run's seed like a
sweep's replications (``sweepfile.run_seeds``). The band itself (``band_of``) is plain pandas.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pandas as pd

from marketsim.experiments.executors import ProcessPoolExecutor, SequentialExecutor
from marketsim.experiments.runs import execute
from marketsim.experiments.sweepfile import RunSpec, run_seeds
from marketsim.scenario import Scenario

from .charts import AI_SHARE, CONSOLIDATION_PANELS, Band, ai_share_of_live_mw, cumulative

DEFAULT_SEEDS = 8
MAX_SEEDS = 32
LOW, HIGH = 0.10, 0.90  # the band's quantiles: wide enough to be stable with 8 runs
RECORD = {"industry": "every_step", "events": False, "firms": False}


def band_seeds(seed: int | None, n: int) -> list[int]:
    """``n`` seeds spawned from the live run's seed (0 when it has none), as a sweep spawns its
    replications from its master seed: the same live seed always gives the same band."""
    return run_seeds(int(seed or 0) % 2**63, n, n, False)


def run_specs(config: Scenario, seeds: list[int]) -> list[RunSpec]:
    """One sweep run per seed, all of the same scenario."""
    return [RunSpec(run_id=i, point_id=0, replication=i, seed=s, params={}, scenario=config, record=RECORD)
            for i, s in enumerate(seeds)]


def with_derived_columns(industry: pd.DataFrame) -> pd.DataFrame:
    """A run's industry rows plus what the charts draw but the table does not hold: the AI share
    of live MW and the running totals of the consolidation panels (``takeovers_cum`` ...)."""
    extra = {AI_SHARE: ai_share_of_live_mw(industry)}
    for col, *_ in CONSOLIDATION_PANELS:
        if col not in industry:
            values = cumulative(industry, col)
            if values is not None:
                extra[col] = values
    return industry.assign(**extra)


def band_of(industries: list[pd.DataFrame], low: float = LOW, high: float = HIGH) -> Band:
    """The ``low`` and ``high`` quantiles and the median of every numeric industry column over
    the runs, at every step (a step some runs did not reach, after a halt, uses the runs that
    did)."""
    frames = [with_derived_columns(f).assign(_run=i) for i, f in enumerate(industries)]
    stacked = pd.concat(frames, ignore_index=True)
    numeric = [c for c in stacked.columns if c not in ("step", "date", "_run", "run_id")
               and pd.api.types.is_numeric_dtype(stacked[c]) and not pd.api.types.is_bool_dtype(stacked[c])]
    groups = stacked.groupby("step", sort=True)
    parts = {"date": groups["date"].first()}
    for q, name in ((low, "low"), (0.5, "median"), (high, "high")):
        values = groups[numeric].quantile(q)
        parts.update({f"{c}:{name}": values[c] for c in numeric})
    frame = pd.DataFrame(parts).reset_index()
    return Band(frame, runs=len(industries), low=low, high=high)


def run_band(config: Scenario, seeds: list[int], *, workers: int | None = None,
             on_done: Callable[[int, int], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> Band | None:
    """Run ``config`` once per seed and return their band (None when cancelled or no run
    finished). ``workers`` processes (default: the cores, at most one per seed; 1 runs them in
    this process); ``on_done(done, total)`` is called as runs finish; ``cancelled()`` is asked
    between runs. A run that fails is left out of the band."""
    workers = workers or min(len(seeds), os.cpu_count() or 1)
    executor = SequentialExecutor() if workers == 1 else ProcessPoolExecutor(workers)
    industries, done = [], 0
    with executor:
        for _, outcome, error in executor.map_unordered(execute, run_specs(config, seeds), max_in_flight=workers):
            done += 1
            if error is None and outcome.status == "ok":
                industries.append(outcome.industry.drop(columns=["run_id"]))
            if on_done is not None:
                on_done(done, len(seeds))
            if cancelled is not None and cancelled():
                return None
    return band_of(industries) if industries else None


def band_summary(band: Band, column: str) -> tuple[float, float, float]:
    """(low, median, high) of ``column`` at the last step: the line under the button."""
    low, median, high = band.columns(column)
    return float(low[-1]), float(median[-1]), float(high[-1])

