"""Calibration grids and validation replays run through the sweep engine (experiments/batch.py):
the same tables as a direct run, in the order asked for, on any executor; a failed run stops the batch."""

from __future__ import annotations

import pandas as pd
import pytest

from marketsim.experiments import batch
from marketsim.runner import run
from marketsim.scenario import load_scenario


def _jobs():
    small = load_scenario("baseline", n_firms=20, months=6)
    other = load_scenario("bear-consolidation", n_firms=20, months=6)
    return [(small, 3), (other, 1), (small, 2)]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_batch_gives_each_job_the_table_of_a_direct_run_in_the_order_asked(workers):
    tables = batch.industry_tables(_jobs(), workers=workers)
    for (scenario, seed), table in zip(_jobs(), tables):
        pd.testing.assert_frame_equal(table, run(scenario, seed=seed).industry, check_exact=True)


def test_a_failed_run_stops_the_batch_naming_it(monkeypatch):
    from marketsim.model import IndustryModel

    def broken(self):
        raise ValueError("boom")

    monkeypatch.setattr(IndustryModel, "run", broken)
    with pytest.raises(batch.BatchRunError, match=r"run 0 \(baseline, seed 3\) failed: ValueError: boom"):
        batch.industry_tables(_jobs()[:1], workers=1)
