"""Many runs kept in memory, through the sweep engine's run function and executors.

Calibration grids and validation replays need a handful to a few dozen runs' industry tables and
nothing on disk, but the same guarantees as a sweep: a run is ``runs.execute`` of a ``RunSpec``
(so a model error is reported the same way) on any executor (``--workers N`` uses processes, as
``marketsim sweep`` does), and the results come back in the order asked for whatever order the
workers finish in. One run loop for the project instead of hand-written seed loops beside it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from marketsim.errors import MarketsimError
from marketsim.experiments.executors import make_executor
from marketsim.experiments.runs import execute
from marketsim.experiments.sweepfile import RunSpec
from marketsim.scenario import Scenario

INDUSTRY_ONLY = {"industry": "every_step", "events": False, "firms": False}


class BatchRunError(MarketsimError):
    """A run of a batch failed or was lost: the batch has no meaning without it."""


def industry_tables(jobs: Sequence[tuple[Scenario, int]], workers: int | None = 1) -> list[pd.DataFrame]:
    """The industry table of each (scenario, seed) job, in the order of ``jobs``; ``workers`` as
    ``marketsim sweep --workers`` (1: in this process). Raises on the first failed or lost run."""
    specs = [RunSpec(run_id=i, point_id=i, replication=0, seed=seed, params={}, scenario=scenario,
                     record=INDUSTRY_ONLY) for i, (scenario, seed) in enumerate(jobs)]
    tables: list[pd.DataFrame | None] = [None] * len(specs)
    with make_executor(workers) as executor:
        for spec, outcome, error in executor.map_unordered(execute, specs):
            if error is not None or outcome is None:
                raise BatchRunError(f"run {spec.run_id} ({spec.scenario.name}, seed {spec.seed}) was lost: {error}")
            if outcome.status != "ok":
                raise BatchRunError(f"run {spec.run_id} ({spec.scenario.name}, seed {spec.seed}) failed: "
                                    f"{outcome.error}")
            tables[spec.run_id] = outcome.industry.drop(columns="run_id")
    return tables
