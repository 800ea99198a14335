"""Issue 13's capex criterion: how much AI capacity miners build when capex per IT MW doubles.

    .venv/bin/python experiments/calibration/capex_elasticity.py [n_seeds] [--set field=value ...]

Runs ``baseline`` with AI demand at saturation 4,000 IT MW, at capex per IT MW (mid-2024) of $5M,
$7.5M, $10M and $15M, seeds 0..n_seeds-1 (default 8) on 2 processes, and reads AI gross MW
(converting + leased + empty halls: ``mw_converting + mw_ai + mw_ai_empty``) in November 2025 and at
the end (December 2032). Prints the means by capex and the arc elasticity from $5M to $10M,
ln(MW at $10M / MW at $5M) / ln 2. ``--set`` overrides a scenario field for every run (e.g.
``--set conversion_capex_dispersion=0.15``). The figures are in docs/calibration.md section 6.4. A
maintenance check run by hand (about a minute on 2 quiet cores), not a test.
"""

from __future__ import annotations

import argparse
import itertools
import math
import tomllib
import warnings
from concurrent.futures import ProcessPoolExecutor

import pandas as pd

from marketsim.runner import run

CAPEX_USD_PER_IT_MW = [5e6, 7.5e6, 10e6, 15e6]
DEMAND_AT_SATURATION_IT_MW = 4000.0
DATES = {"nov_2025": "2025-11-01", "end": None}
AI_GROSS_MW = ["mw_converting", "mw_ai", "mw_ai_empty"]


def ai_gross_mw(capex: float, seed: int, overrides: dict) -> dict:
    warnings.filterwarnings("ignore")  # inert-parameter warnings are not this script's business
    industry = run("baseline", seed=seed, progress=False, conversion_capex_usd_per_mw=capex,
                   ai_demand_max_mw=DEMAND_AT_SATURATION_IT_MW, **overrides).industry.set_index("date")
    total = industry[AI_GROSS_MW].sum(axis=1)
    return {"capex": capex, "seed": seed,
            **{name: float(total.loc[day] if day else total.iloc[-1]) for name, day in DATES.items()}}


def parse_overrides(pairs: list[str]) -> dict:
    """``field=value`` pairs, values read as TOML (numbers, booleans, quoted strings)."""
    out = {}
    for pair in pairs:
        field, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected field=value")
        out[field] = tomllib.loads(f"v = {value}")["v"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_seeds", nargs="?", type=int, default=8)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    if args.n_seeds < 1:
        raise SystemExit(f"n_seeds={args.n_seeds}: must be at least 1")
    overrides = parse_overrides(args.overrides)
    cases = list(itertools.product(CAPEX_USD_PER_IT_MW, range(args.n_seeds)))
    with ProcessPoolExecutor(2) as pool:
        rows = list(pool.map(ai_gross_mw, *zip(*cases), [overrides] * len(cases)))
    means = pd.DataFrame(rows).groupby("capex")[list(DATES)].mean()
    print(means.round(0).to_string())
    for name in DATES:
        elasticity = math.log(means.loc[10e6, name] / means.loc[5e6, name]) / math.log(2.0)
        print(f"{name}: elasticity of AI gross MW to capex, $5M -> $10M: {elasticity:.2f}")


if __name__ == "__main__":
    main()
