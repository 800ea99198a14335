"""How long does a Sobol study take, with its report, on this machine?

    .venv/bin/python benchmarks/bench_study.py [--n 32 128] [--firms 200] [--months 120] [--workers 2]

Issue 14 asks that a 10,000-run Sobol study of 200-firm, 120-month runs, with its report, take under
15 minutes on 2 cores. A real one takes most of an hour here, so by default this measures two smaller
ones of the same kind and says what 10,000 runs would take: a Saltelli design (``method = "saltelli"``:
``n`` base samples of 3 parameters, ``n x 5`` runs; ``--n 2000`` is the 10,000-run study itself) over
the baseline scenario with ``--firms`` firms, the industry's final row and the events recorded, on
``--workers`` processes, then ``marketsim report`` on it (which estimates first-order and total Sobol
indices).

The projection fits seconds = fixed + per run x runs through the studies measured (least squares;
exact through two; one study, or a fit a noisy machine bends below zero, is scaled linearly from the
largest, which errs long) and reads it at 10,000 runs. Why two sizes: a study pays fixed costs (workers'
start-up, validating the design, the report's figures) that a one-size linear scaling would multiply
by 10,000 / runs. Writes the table to ``benchmarks/results/study.md``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from tables import markdown, plain, write_section

from marketsim.experiments import sweep
from marketsim.experiments.report import write_report

TARGET_RUNS = 10_000
TARGET_MINUTES = 15.0
PARAMETERS = {  # three inputs a study of the pivot would vary, each over a range users would ask about
    "power_price_multiplier": "{ min = 0.8, max = 1.4 }",
    "conversion_capex_usd_per_mw": "{ min = 3e6, max = 10e6 }",
    "ai_demand_max_mw": "{ min = 2000.0, max = 8000.0 }",
}


def study_file(folder: Path, n: int, firms: int, months: int) -> Path:
    path = folder / f"study-{n}.toml"
    params = "\n".join(f"{name} = {value}" for name, value in PARAMETERS.items())
    path.write_text(
        f'name = "bench-study-{n}"\nbase = "baseline"\nmonths = {months}\nreplications = 1\nmaster_seed = 11\n'
        f'[set]\nn_firms = {firms}\n[design]\nmethod = "saltelli"\nn = {n}\n[parameters]\n{params}\n'
        '[record]\nindustry = "final"\nfirms = false\nevents = true\n'
        '[report]\noutcomes = ["hhi_hashrate", "top5_share_mw", "bankruptcies_cum", "mw_ai"]\n'
    )
    return path


def projected_minutes(runs: list[int], seconds: list[float], target_runs: int = TARGET_RUNS) -> float:
    """Minutes for ``target_runs`` (sweep and report) on the line seconds = fixed + per_run x runs through the measured
    studies (sweep and report together). Worked: 200 runs in 60 s and 600 runs in 160 s -> per run
    100 / 400 = 0.25 s, fixed 60 - 50 = 10 s -> 10 + 0.25 x 10,000 = 2,510 s = 41.8 minutes."""
    if len(runs) > 1:
        per_run, fixed = np.polyfit(np.asarray(runs, float), np.asarray(seconds, float), 1)
        if per_run > 0 and fixed >= 0:
            return (fixed + per_run * target_runs) / 60.0
    # one study, or sizes too close for a noisy machine to separate: the largest, scaled (errs long)
    largest = int(np.argmax(runs))
    return seconds[largest] * target_runs / runs[largest] / 60.0


def measure(folder: Path, n: int, firms: int, months: int, workers: int) -> tuple[int, float, float]:
    """One study of ``n x 5`` runs: (runs, sweep seconds, report seconds)."""
    path = study_file(folder, n, firms, months)
    out = folder / f"out-{n}"
    start = time.perf_counter()
    result = sweep(path, out, workers=workers, progress=True)
    sweep_s = time.perf_counter() - start
    if result.ok != result.n_runs:
        raise SystemExit(f"{result.ok} of {result.n_runs} runs finished ok ({result.lost_errors[:3]})")
    start = time.perf_counter()
    write_report(out)
    return result.n_runs, sweep_s, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[32, 128],
                        help="Saltelli base samples of each study measured (runs = n x 5)")
    parser.add_argument("--firms", type=int, default=200)
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if min(args.n) < 2:
        raise SystemExit(f"--n: each must be at least 2 (got {args.n})")
    header = ["runs", "workers", "sweep s", "runs/s", "report s"]
    rows, runs, seconds = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted(set(args.n)):
            n_runs, sweep_s, report_s = measure(Path(tmp), n, args.firms, args.months, args.workers)
            runs.append(n_runs)
            seconds.append(sweep_s + report_s)
            rows.append([f"{n_runs:,}", str(args.workers), f"{sweep_s:.1f}", f"{n_runs / sweep_s:.2f}",
                         f"{report_s:.1f}"])
    minutes = projected_minutes(runs, seconds)
    print(plain(header), *(plain(r) for r in rows), sep="\n")
    verdict = (f"{TARGET_RUNS:,}-run study with its report, projected: {minutes:.1f} minutes "
               f"(issue 14's target: under {TARGET_MINUTES:.0f})")
    print(verdict)
    notes = (f"**{verdict}.** `.venv/bin/python benchmarks/bench_study.py --n {' '.join(map(str, args.n))} "
             f"--firms {args.firms} --months {args.months} --workers {args.workers}` — a Saltelli study (3 parameters: {', '.join(PARAMETERS)}; n x 5 runs) of "
             f"the baseline scenario, the industry's final row and the events recorded, then `marketsim report` "
             f"(first-order and total Sobol indices). Projected: seconds = fixed + per run x runs fitted through "
             f"the studies measured (else the largest scaled linearly), read at {TARGET_RUNS:,} runs. `--n 2000` measures the {TARGET_RUNS:,}-run study itself.")
    write_section("study", markdown("Sobol study (bench_study.py)", header, rows, notes))


if __name__ == "__main__":
    main()
