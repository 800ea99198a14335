"""Where does a run's time go? cProfile of the baseline, on CPU time, as shares: per phase of the
step (inclusive) and the top functions by their own time.

    .venv/bin/python benchmarks/profile_model.py [--firms 200 1000] [--months 120] [--runs 3] [--top 15]

The profiler clock is ``time.process_time``, so time this process spent waiting for a core (on a
shared machine) is not counted. cProfile adds a fixed cost per Python call, so the shares of
functions called very often are overstated; they are a map of where to look, not timings.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

from marketsim.model import IndustryModel
from marketsim.runner import result_of
from marketsim.scenario import load_scenario

# the step's phases, as (file suffix, function name) of the profile (MODEL.md's step order)
PHASES = [
    ("observe: market", "model.py", "observe_market"),
    ("believe: hashprice beliefs", "model.py", "update_beliefs"),
    ("operate: deliveries, curtailment, mining", "model.py", "operate"),
    ("host AI: leases", "hosting.py", "host_ai"),
    ("pay: debt, capex, financing", "finance.py", "pay"),
    ("decide: upgrade, expand, convert", "decisions.py", "decide"),
    ("exit: bankruptcies, sales, auctions", "consolidation.py", "settle_exits"),
    ("record: all", "model.py", "record"),
    ("  industry outcomes (metrics)", "metrics.py", "industry_outcome"),
    ("  DataCollector.collect", "records.py", "collect"),
    ("  per-firm records", "records.py", "record"),
    ("tables at the end (result_of)", "runner.py", "result_of"),
]


def profile(n_firms: int, months: int, runs: int) -> pstats.Stats:
    scenario = load_scenario("baseline", n_firms=n_firms, months=months)
    IndustryModel(scenario, rng=runs).run()  # first-call costs (data files, caches) out of the profile
    prof = cProfile.Profile(time.process_time)
    for seed in range(runs):
        model = IndustryModel(scenario, rng=seed)
        prof.enable()
        model.run()
        result_of(model)
        prof.disable()
    return pstats.Stats(prof)


def report(stats: pstats.Stats, n_firms: int, top: int) -> None:
    entries = stats.stats  # {(file, line, name): (cc, nc, tottime, cumtime, callers)}
    total = stats.total_tt
    print(f"\n{n_firms:,} firms: {total:.2f} s CPU profiled")
    print("  phase (inclusive)                              share")
    for label, suffix, name in PHASES:
        cum = sum(v[3] for (f, _, fn), v in entries.items() if fn == name and f.endswith(suffix))
        print(f"  {label:45} {100 * cum / total:5.1f}%")
    print(f"  top {top} functions by own time                      share   calls")
    ranked = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    for (f, line, fn), (_, nc, tt, _, _) in ranked:
        where = f.split("site-packages/")[-1].split("marketsim/")[-1] if "/" in f else f
        print(f"  {where + ':' + str(line) + ' ' + fn:52} {100 * tt / total:5.1f}%  {nc:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    for n in args.firms:
        report(profile(n, args.months, args.runs), n, args.top)


if __name__ == "__main__":
    main()
