"""How fast do sweeps go, and how well do they use the cores?

    .venv/bin/python benchmarks/bench_sweep.py [--runs 200] [--firms 200] [--months 120] [--repeat 1]

A ``--runs``-run sweep (the baseline scenario with ``--firms`` firms over ``--months`` months, 4
power-price levels x runs/4 seeds, recording the industry every step and the events, as the
shipped sweeps do) on 1 worker (in this process), 2 worker processes and a 2-worker Dask
LocalCluster. Each is timed as a user sees it: ``sweep()`` from the call to the final tables,
start-up included. With ``--repeat N`` the three take turns, N rounds, and the medians are quoted:
the host's speed drifts over minutes, so passes made side by side compare better than passes made
one after the other. Prints runs per second and the speed-up over one worker.

Then the start-up alone: from creating the executor to every worker having imported what a run
needs (``executors.warm_up``), median of ``--startup-repeat`` fresh pools. Writes the tables to
``benchmarks/results/sweep.md``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tables import markdown, median, plain, write_section

from marketsim.experiments import make_executor, sweep
from marketsim.experiments.executors import warm_up

EXECUTORS = {"1 worker": {"workers": 1}, "2 processes": {"workers": 2},
             "Dask LocalCluster, 2 workers": {"dask_local": 2}}
POWER_LEVELS = [1.0, 1.2, 1.4, 1.6]


def sweep_file(folder: Path, runs: int, months: int, firms: int) -> Path:
    path = folder / f"bench-{runs}.toml"
    path.write_text(
        f'name = "bench-{runs}"\nbase = "baseline"\nmonths = {months}\n'
        f"replications = {max(1, runs // len(POWER_LEVELS))}\nmaster_seed = 1\n"
        f"[set]\nn_firms = {firms}\n[parameters]\npower_price_multiplier = {POWER_LEVELS}\n"
        '[record]\nindustry = "every_step"\nfirms = false\nevents = true\n'
    )
    return path


def time_sweep(path: Path, out: Path, executor: dict) -> tuple[float, int]:
    start = time.perf_counter()
    result = sweep(path, out, progress=False, **executor)
    elapsed = time.perf_counter() - start
    if result.ok != result.n_runs:
        raise SystemExit(f"{out}: {result.ok} of {result.n_runs} runs finished ok ({result.lost_errors[:3]})")
    return elapsed, result.n_runs


def time_startup(executor: dict, workers: int = 2) -> float:
    """Seconds from creating the executor to ``workers`` warm workers. Run it in a fresh process:
    a process keeps its fork server (and what it imported) for the next pool."""
    start = time.perf_counter()
    ex = make_executor(**executor)
    with ex:
        pids = {pid for _, pid, err in ex.map_unordered(warm_up, range(workers)) if err is None}
        elapsed = time.perf_counter() - start
    if not pids:
        raise SystemExit(f"{executor}: no worker answered")
    return elapsed


def fresh_startup(executor: dict) -> float:
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_sweep; "
            f"print(bench_sweep.time_startup({executor!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--firms", type=int, default=200)
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of the three sweeps, executors taking turns (medians)")
    parser.add_argument("--startup-repeat", type=int, default=3)
    args = parser.parse_args()
    # this process runs the 1-worker sweep itself: set up as ``marketsim sweep`` sets up its own (its
    # imports frozen out of the garbage collector's walks, as the pool's workers freeze theirs)
    import marketsim.runner  # noqa: F401 (what an in-process run imports, before the freeze)
    from marketsim.process_setup import freeze_imports

    freeze_imports()

    header = ["executor", "runs", "wall s", "runs/s", "speed-up"]
    rows = []
    print(f"{args.runs}-run sweep of {args.firms}-firm, {args.months}-month baseline runs", flush=True)
    print(plain(header), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = sweep_file(Path(tmp), args.runs, args.months, args.firms)
        # the executors take turns, round after round: the host's speed drifts over minutes, and a
        # speed-up read from passes made minutes apart measures the drift as much as the workers
        times = {name: [] for name in EXECUTORS}
        for r in range(args.repeat):
            for i, (name, executor) in enumerate(EXECUTORS.items()):
                elapsed, n = time_sweep(path, Path(tmp) / f"out-{i}-{r}", executor)
                times[name].append(elapsed)
                print(f"  round {r + 1}: {name} {elapsed:.1f} s", flush=True)
        base = median(times["1 worker"])
        for name, walls in times.items():
            wall = median(walls)
            rows.append([name, str(n), f"{wall:.1f}", f"{n / wall:.2f}", f"{base / wall:.2f}x"])
            print(plain(rows[-1]), flush=True)

    start_header = ["executor", "start-up s (median)", "fresh pools"]
    start_rows = []
    for name, executor in list(EXECUTORS.items())[1:]:
        times = [fresh_startup(executor) for _ in range(args.startup_repeat)]
        start_rows.append([name, f"{median(times):.2f}", str(len(times))])
    print(plain(start_header), *(plain(r) for r in start_rows), sep="\n", flush=True)

    notes = (f"`.venv/bin/python benchmarks/bench_sweep.py --runs {args.runs} --firms {args.firms} --months "
             f"{args.months} --repeat {args.repeat}` — wall time of `sweep()` including the executor's start-up "
             f"and the final tables (industry every step and events recorded); medians of the rounds, the "
             f"executors taking turns. Start-up: creating the executor until 2 workers have imported what a "
             f"run needs (`executors.warm_up`).")
    text = (markdown("Sweeps (bench_sweep.py)", header, rows)
            + "\n" + markdown("Worker start-up (bench_sweep.py)", start_header, start_rows, notes))
    write_section("sweep", text)


if __name__ == "__main__":
    main()
