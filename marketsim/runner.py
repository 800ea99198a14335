"""Run one scenario to the end and keep its three tables: the engine behind CLI and API.

``run("baseline", months=24, seed=7, price_volatility_per_year=0.8)`` builds the model, steps
it (with a progress bar on a terminal for runs longer than a couple of seconds) and returns a
`RunResult` with ``industry``, ``firms`` and ``events`` DataFrames, the resolved scenario,
and ``save(dir)``, which writes the Parquet files and the scenario TOML atomically: into a
temporary folder first, renamed into place only once every file is complete.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from marketsim.model import IndustryModel, resolve_scenario
from marketsim.scenario import Scenario

PROGRESS_AFTER_SECONDS = 2.0


@dataclass
class RunResult:
    scenario: Scenario
    seed: int | None
    industry: pd.DataFrame
    firms: pd.DataFrame
    events: pd.DataFrame

    def save(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            self.industry.to_parquet(tmp / "industry.parquet", index=False)
            self.firms.to_parquet(tmp / "firms.parquet", index=False)
            self.events.to_parquet(tmp / "events.parquet", index=False)
            header = f"# resolved scenario of a marketsim run (seed = {self.seed})\n"
            (tmp / "scenario.toml").write_text(header + self.scenario.to_toml())
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return out


def _progress(total: int, enabled: bool | None):
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="step", desc="simulating", delay=PROGRESS_AFTER_SECONDS, file=sys.stderr)


def run(scenario: str | Scenario | None = "baseline", *, seed: int | None = None, progress: bool | None = None,
        check: bool | None = None, **overrides: Any) -> RunResult:
    """Run a scenario (name, path or object) with overrides; ``seed`` makes it reproducible;
    ``check`` tests the model's invariants after every step (``marketsim.invariants``)."""
    config = resolve_scenario(scenario, overrides)
    model = IndustryModel(config, rng=seed, check=check)
    bar = _progress(model.n_steps, progress)
    started = time.perf_counter()
    while model.running and model.steps < model.n_steps:
        model.step()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    model.elapsed_seconds = time.perf_counter() - started
    return result_of(model, seed)


def result_of(model: IndustryModel, seed: int | None = None) -> RunResult:
    industry = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    return RunResult(model.config, seed, industry, model.firm_records.frame(), model.events.frame())
