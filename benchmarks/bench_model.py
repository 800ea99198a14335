"""How fast is one run? Times `baseline` at several population sizes for 120 monthly steps.

    .venv/bin/python benchmarks/bench_model.py [--firms 100 1000 10000] [--months 120] [--repeat 3]

Prints seconds per run (best of --repeat) and microseconds per firm-step. Figures are
printed, never asserted: wall-clock limits in tests only make CI flaky.
"""

from __future__ import annotations

import argparse
import time

from marketsim import IndustryModel, load_scenario


def time_run(n_firms: int, months: int, seed: int) -> float:
    scenario = load_scenario("baseline", n_firms=n_firms, months=months, firm_record_every=12)
    model = IndustryModel(scenario, rng=seed)
    start = time.perf_counter()
    model.run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'firms':>7} {'steps':>6} {'best s':>8} {'median s':>9} {'us/firm-step':>13}")
    for n in args.firms:
        times = sorted(time_run(n, args.months, seed) for seed in range(args.repeat))
        best, median = times[0], times[len(times) // 2]
        print(f"{n:>7} {args.months:>6} {best:>8.3f} {median:>9.3f} {best / (n * args.months) * 1e6:>13.2f}")


if __name__ == "__main__":
    main()
