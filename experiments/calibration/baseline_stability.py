"""The issue-12 baseline criteria over 40 seeds: no run halts, and at most 2 of 40 seeds show a
month-on-month network hashrate swing above 50% after 2026.

    .venv/bin/python experiments/calibration/baseline_stability.py [n_seeds] [n_firms]

Prints one line per seed (largest swing after 2026, halted or not, lowest share of the running
maximum) and the counts. A maintenance check run by hand (minutes), not a test.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from marketsim.runner import run
from marketsim.scenario import load_scenario

SWING_LIMIT = 0.5
AFTER = "2026-01-01"


def seed_outcome(seed: int, n_firms: int) -> dict:
    ind = run(load_scenario("baseline", n_firms=n_firms), seed=seed).industry
    rate = ind.set_index(pd.to_datetime(ind["date"]))["network_hashrate_ehs"]
    swing = (rate / rate.shift(1) - 1).abs()
    late = swing[swing.index >= AFTER]
    return {"seed": seed, "max_swing_after_2026": float(late.max()), "halted": bool(ind["halted"].any()),
            "min_share_of_running_max": float((rate / rate.cummax()).min())}


def main(n_seeds: int = 40, n_firms: int = 200) -> pd.DataFrame:
    rows = pd.DataFrame([seed_outcome(seed, n_firms) for seed in range(n_seeds)])
    print(rows.round(3).to_string(index=False))
    print(f"\nseeds with a swing > {SWING_LIMIT:.0%} after 2026: {(rows['max_swing_after_2026'] > SWING_LIMIT).sum()} "
          f"of {n_seeds}; halted: {rows['halted'].sum()}; below 10% of running max: "
          f"{(rows['min_share_of_running_max'] < 0.1).sum()}; largest swing {np.max(rows['max_swing_after_2026']):.1%}")
    return rows


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
