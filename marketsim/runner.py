"""Run one scenario to the end and keep its three tables: the engine behind CLI and API.

``run("baseline", months=24, seed=7, price_volatility_per_year=0.8)`` builds the model, steps
it (with a progress bar on a terminal for runs longer than a couple of seconds) and returns a
`RunResult` with ``industry``, ``firms`` and ``events`` DataFrames, the resolved scenario,
and ``save(dir)``, which writes the Parquet files and the scenario TOML atomically through
`marketsim.output` (a temporary sibling folder renamed into place once every file is complete;
only a new folder, an empty one or an earlier run's output may be replaced). ``initial`` holds
the state before any step, which the model's own table (recorded at the end of each step) lacks.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from marketsim import inert
from marketsim.errors import ScenarioError
from marketsim.model import IndustryModel, resolve_scenario
from marketsim.output import staged
from marketsim.scenario import Scenario

PROGRESS_AFTER_SECONDS = 2.0


@dataclass
class RunResult:
    scenario: Scenario
    seed: int | None
    industry: pd.DataFrame
    firms: pd.DataFrame
    events: pd.DataFrame
    initial: dict[str, Any] | None = None  # the state before any step (`IndustryModel.start`); None from sweeps

    def save(self, out_dir: str | Path) -> Path:
        """Write the tables and the resolved scenario into ``out_dir`` atomically (`marketsim.output`).

        ``out_dir`` must be new, empty, or an earlier run's output (its marker file says so);
        anything else raises `OutputError` and nothing is touched.
        """
        with staged(out_dir, "run") as tmp:
            self.industry.to_parquet(tmp / "industry.parquet", index=False)
            self.firms.to_parquet(tmp / "firms.parquet", index=False)
            self.events.to_parquet(tmp / "events.parquet", index=False)
            header = f"# resolved scenario of a marketsim run (seed = {self.seed})\n"
            (tmp / "scenario.toml").write_text(header + self.scenario.to_toml())
        return Path(out_dir)


def _progress(total: int, enabled: bool | None):
    if enabled is False or (enabled is None and not sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="step", desc="simulating", delay=PROGRESS_AFTER_SECONDS, file=sys.stderr)


def check_seed(seed: Any, what: str = "seed") -> int | None:
    """A seed is None or a whole number >= 0 (numpy's SeedSequence refuses negatives)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ScenarioError(f"{what} = {seed!r}: expected a whole number >= 0")
    if seed < 0:
        raise ScenarioError(f"{what} = {seed}: expected a whole number >= 0")
    return int(seed)


def inert_overrides(config: Scenario, overrides: dict[str, Any]) -> list[str]:
    """One line per explicitly set parameter that cannot act in this run (see `marketsim.inert`)."""
    if not overrides:
        return []
    data_end = None
    if config.history_until is not None:
        from marketsim.data import load_btc_daily

        data_end = (load_btc_daily()["date"].iloc[-1] + pd.Timedelta(days=1)).date()
    found = inert.inert_parameters(config, overrides, data_end=data_end)
    return [inert.describe(name, getattr(config, name), why) for name, why in found.items()]


def warn_inert(config: Scenario, overrides: dict[str, Any], stacklevel: int = 3) -> list[str]:
    lines = inert_overrides(config, overrides)
    for line in lines:
        warnings.warn(line, inert.InertParameterWarning, stacklevel=stacklevel)
    return lines


def run(scenario: str | Scenario | None = "baseline", *, seed: int | None = None, progress: bool | None = None,
        check: bool | None = None, **overrides: Any) -> RunResult:
    """Run a scenario (name, path or object) with overrides; ``seed`` makes it reproducible;
    ``check`` tests the model's invariants after every step (``marketsim.invariants``).

    An override that cannot act in this run (e.g. ``price_volatility_per_year`` while the
    whole run replays history) raises an `InertParameterWarning` saying why.
    """
    seed = check_seed(seed)
    config = resolve_scenario(scenario, overrides)
    warn_inert(config, overrides)
    model = IndustryModel(config, rng=seed, check=check)
    bar = _progress(model.n_steps, progress)
    while model.running and model.steps < model.n_steps:
        model.step()
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    result = result_of(model, seed)
    result.initial = model.start
    return result


def result_of(model: IndustryModel, seed: int | None = None) -> RunResult:
    industry = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    return RunResult(model.config, seed, industry, model.firm_records.frame(), model.events.frame())
