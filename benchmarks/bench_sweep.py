"""How fast do sweeps go, and how well do they use the cores? Times `smoke.toml` and a 200-run
sweep on 1 worker (in-process), 2 worker processes, and a 2-worker Dask LocalCluster.

    .venv/bin/python benchmarks/bench_sweep.py [--runs 200] [--months 24] [--firms 50]

The 200-run sweep is the `smoke` sweep widened: 4 power-price levels x 50 replications of a
`--firms`-firm industry over `--months` months. Prints wall time (including executor start-up),
runs per second, and each executor's speed-up over one worker. Figures are printed, never
asserted. Results go to a temporary folder that is deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from marketsim.experiments import load_sweep, sweep

EXECUTORS = {"1 worker": {"workers": 1}, "2 processes": {"workers": 2}, "dask local 2": {"dask_local": 2}}


def wide_sweep(folder: Path, runs: int, months: int, firms: int) -> Path:
    levels = [1.0, 1.2, 1.4, 1.6]
    path = folder / "bench-200.toml"
    path.write_text(
        f'name = "bench-{runs}"\nbase = "bear-consolidation"\nmonths = {months}\n'
        f"replications = {max(1, runs // len(levels))}\nmaster_seed = 1\n"
        f"[set]\nn_firms = {firms}\n[parameters]\npower_price_multiplier = {levels}\n"
    )
    return path


def time_sweep(sweep_file, out: Path, **executor) -> tuple[float, int]:
    start = time.perf_counter()
    result = sweep(sweep_file, out, progress=False, **executor)
    elapsed = time.perf_counter() - start
    if result.ok + result.failed != result.n_runs:
        raise SystemExit(f"{out}: only {result.ok + result.failed} of {result.n_runs} runs finished")
    return elapsed, result.n_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--firms", type=int, default=50)
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    print(f"{'sweep':>10} {'executor':>14} {'runs':>5} {'wall s':>8} {'runs/s':>8} {'speed-up':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        sweeps = {"smoke": load_sweep("smoke"), f"{args.runs}-run": wide_sweep(tmp_path, args.runs, args.months,
                                                                               args.firms)}
        for label, sweep_file in sweeps.items():
            base = None
            for name, executor in EXECUTORS.items():
                out = tmp_path / f"{label}-{name.replace(' ', '-')}"
                elapsed, n = time_sweep(sweep_file, out, **executor)
                base = base or elapsed
                print(f"{label:>10} {name:>14} {n:>5} {elapsed:>8.2f} {n / elapsed:>8.1f} {base / elapsed:>8.2f}x",
                      flush=True)


if __name__ == "__main__":
    main()
