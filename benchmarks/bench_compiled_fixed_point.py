"""Would a compiled step pay? The step's fixed point, numpy against a numba kernel, on the model's own inputs.

    .venv/bin/pip install numba        # not a dependency of marketsim: this measurement needs it
    .venv/bin/python benchmarks/bench_compiled_fixed_point.py [--firms 200 1000] [--months 120] [--repeat 3]

Issue 14's targets (200 firms in 0.12 s, 1,000 in 0.3 s) are beyond what the numpy step reaches, and
numba is allowed if its compile time is cached. Before rewriting the step's economics as compiled
loops, this measures what compiling buys on the most self-contained hot part: the hashrate fixed point
of each step (``operations.consistent_hashprice``: a bracketing root search in log hashrate; at each
trial point, the share of hours mined of every live cohort, a log and an ndtr each). It is the one
phase that is pure arithmetic on arrays, so if compiling does not pay here it pays nowhere by itself.

How: a baseline run at each size calls the fixed point as the model does; at each call, on the same
inputs and at the same moment (the machine's speed drifts), the numpy function and the kernel below
each run three times and their best times are kept. numpy runs without the memo the model shares
between its two calls of a step, so both sides do the same work. The kernel is the same algorithm:
the cohorts sure to mine every hour taken out once, the narrow bracket around last step's hashrate
first, scipy's brentq loop, ndtr as scipy defines it from erf/erfc. The roots are compared (relative
difference: they differ in the last bits, libm's log and erfc against numpy's log and scipy's ndtr).
Also timed: ``import numba`` and the kernels' first call in a fresh process, compiled (no cache),
which a cached build would turn into a load.

Writes the table to ``benchmarks/results/compiled.md`` (not part of ``make bench``: numba is not
installed by the set-up). Exit 2 with a message when numba is missing.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from tables import markdown, plain, write_section

try:
    from numba import njit
except ImportError:  # the measurement needs numba; marketsim does not
    sys.exit("bench_compiled_fixed_point: numba is not installed; `.venv/bin/pip install numba` first")

PH_PER_EH = 1e3  # protocol.PH_PER_EH
SQRT1_2 = 1 / math.sqrt(2)
NDTR_ONE_FROM = 8.3  # fastnp.NDTR_ONE_FROM
NEAR_LOG, BRACKET_LOG, TOLERANCE_LOG = 0.25, 30.0, 1e-6  # operations.FIXED_POINT_*


@njit(cache=False)
def _ndtr(x):
    """scipy's ndtr: 0.5 + 0.5 erf(x / sqrt 2) near 0, 0.5 erfc(|x| / sqrt 2) (or 1 minus it) elsewhere."""
    z = x * SQRT1_2
    if abs(z) < SQRT1_2:
        return 0.5 + 0.5 * math.erf(z)
    y = 0.5 * math.erfc(abs(z))
    return 1.0 - y if z > 0 else y


@njit(cache=False)
def _excess(log_h, ths, rev, logmp, marginal, sure, reward, vol, free, opex):
    """log(supply at the hashprice of log H) - log H, as ``consistent_hashprice``'s ``excess``."""
    hashprice = reward / (math.exp(log_h) * PH_PER_EH)
    half_variance = vol * vol / 2
    mined = 0.0
    for i in range(ths.shape[0]):
        k = rev[i] * hashprice - opex
        if vol <= 0:
            share = 1.0 if k > marginal[i] else 0.0
        elif k > 0:
            d = (math.log(k) - logmp[i] + half_variance) / vol
            share = _ndtr(d) if d < NDTR_ONE_FROM else 1.0
        else:
            share = 0.0
        mined += share * ths[i]
    supply = (1.0 - free) * (mined + sure) + free * (ths.sum() + sure)
    return math.log(max(supply, 1e-300)) - log_h


@njit(cache=False)
def _brentq(xpre, fpre, xcur, fcur, ths, rev, logmp, marginal, sure, reward, vol, free, opex):
    """scipy's brentq loop (as ``fastnp.brentq``), the bracket's ends already evaluated."""
    xtol, rtol = TOLERANCE_LOG, 4 * 2.220446049250313e-16
    if fpre == 0:
        return xpre
    if fcur == 0:
        return xcur
    xblk = fblk = spre = scur = 0.0
    for _ in range(100):
        if fpre * fcur < 0:
            xblk, fblk = xpre, fpre
            spre = scur = xcur - xpre
        if abs(fblk) < abs(fcur):
            xpre, xcur, xblk = xcur, xblk, xcur
            fpre, fcur, fblk = fcur, fblk, fcur
        delta = (xtol + rtol * abs(xcur)) / 2
        sbis = (xblk - xcur) / 2
        if fcur == 0 or abs(sbis) < delta:
            return xcur
        if abs(spre) > delta and abs(fcur) < abs(fpre):
            if xpre == xblk:
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            limit = 3 * abs(sbis) - delta
            if 2 * abs(stry) < (abs(spre) if abs(spre) < limit else limit):
                spre, scur = scur, stry
            else:
                spre = scur = sbis
        else:
            spre = scur = sbis
        xpre, fpre = xcur, fcur
        xcur += scur if abs(scur) > delta else (delta if sbis > 0 else -delta)
        fcur = _excess(xcur, ths, rev, logmp, marginal, sure, reward, vol, free, opex)
    return xcur


@njit(cache=False)
def compiled_consistent_hashprice(ths_all, rev_all, logmp_all, marginal_all, reward, vol, free, opex, last):
    """``operations.consistent_hashprice`` on prepared cohort arrays, compiled."""
    capacity = ths_all.sum()
    if capacity <= 0 or reward <= 0:
        return np.nan
    high = math.log(capacity)
    lowest_hashprice = reward / (math.exp(high + 1e-3) * PH_PER_EH)
    keep = np.ones(ths_all.shape[0], np.bool_)
    sure = 0.0
    if vol > 0:
        for i in range(ths_all.shape[0]):
            k = rev_all[i] * lowest_hashprice - opex
            if k > 0 and (math.log(k) - logmp_all[i] + vol * vol / 2) / vol >= NDTR_ONE_FROM:
                keep[i] = False
                sure += ths_all[i]
    ths, rev, logmp, marginal = ths_all[keep], rev_all[keep], logmp_all[keep], marginal_all[keep]
    if last > 0:
        log_last = math.log(last)
        low, top = log_last - NEAR_LOG, min(high, log_last + NEAR_LOG)
        if low < high:
            f_low = _excess(low, ths, rev, logmp, marginal, sure, reward, vol, free, opex)
            f_top = _excess(top, ths, rev, logmp, marginal, sure, reward, vol, free, opex)
            if f_low > 0 > f_top:
                root = _brentq(low, f_low, top, f_top, ths, rev, logmp, marginal, sure, reward, vol, free, opex)
                return reward / (math.exp(root) * PH_PER_EH)
    f_high = _excess(high, ths, rev, logmp, marginal, sure, reward, vol, free, opex)
    if f_high >= 0:
        return reward / (capacity * PH_PER_EH)
    low = high - BRACKET_LOG
    f_low = _excess(low, ths, rev, logmp, marginal, sure, reward, vol, free, opex)
    if f_low <= 0:
        return reward / (math.exp(low) * PH_PER_EH)
    root = _brentq(low, f_low, high, f_high, ths, rev, logmp, marginal, sure, reward, vol, free, opex)
    return reward / (math.exp(root) * PH_PER_EH)


def paired_times(n_firms: int, months: int, tries: int = 3) -> list[tuple[float, float, float]]:
    """Every fixed point of a baseline run (seed 1): numpy's and the kernel's best time of ``tries``
    on the same inputs, one after the other, and the relative difference of their roots."""
    from marketsim.firms import economics as econ
    from marketsim.firms import mining_margin, operations
    from marketsim.model import IndustryModel
    from marketsim.scenario import load_scenario

    pairs = []
    original = operations.consistent_hashprice

    def best_of(fn, *args):
        times = []
        for _ in range(tries):
            start = time.perf_counter()
            value = fn(*args)
            times.append(time.perf_counter() - start)
        return value, min(times)

    def timed(model, power, online, last=0.0, memo=None, cells=None):
        s, sites = model.config, model.sites
        if cells is None:  # the search after a scrapping: the cohorts as they are now, as the function finds them
            live, rows = operations._live_cells(sites)
            at = mining_margin.cells(model, np.asarray(power).take(rows), sites.power_take_or_pay_share.take(rows))
            eff = sites.cohort_efficiency_j_per_th.ravel().take(live)
        else:  # the live cells, their sites, their ``mining_margin.Cells``, their J/TH
            live, _, at, eff = cells
        args = (sites.cohort_mw.ravel()[live] / eff * online, (econ.PH_PER_EH / eff) / econ.HOURS_PER_DAY,
                at.log_marginal, at.marginal, model.market.reward_usd_per_day(),
                s.power_hourly_volatility, s.power_negative_hours_share, s.mining_opex_usd_per_mwh, float(last))
        root, numpy_s = best_of(original, model, power, online, last, None, cells)
        compiled_root, numba_s = best_of(compiled_consistent_hashprice, *args)
        diff = abs(compiled_root / root - 1) if np.isfinite(root) else 0.0
        pairs.append((numpy_s, numba_s, diff))
        return original(model, power, online, last, memo, cells)

    operations.consistent_hashprice = timed
    try:
        IndustryModel(load_scenario("baseline", n_firms=n_firms, months=months), rng=1).run()
    finally:
        operations.consistent_hashprice = original
    return pairs


def start_up_seconds() -> tuple[float, float]:
    """``import numba`` and the kernels' first (compiling) call, in a fresh process."""
    code = ("import time, numpy as np; t = time.perf_counter(); import numba; i = time.perf_counter() - t; "
            "import bench_compiled_fixed_point as b; t = time.perf_counter(); "
            "b.compiled_consistent_hashprice(np.ones(4), np.ones(4), np.zeros(4), np.ones(4), 1e7, 0.5, 0.05, 2.0, 0.0); "
            "print(i, time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], cwd=str(Path(__file__).parent),
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--months", type=int, default=120)
    parser.add_argument("--repeat", type=int, default=3, help="tries of each side per fixed point (best kept)")
    args = parser.parse_args()
    if args.repeat < 1 or args.months < 1 or min(args.firms) < 1:
        parser.error("--repeat, --months and --firms must be at least 1")
    import_s, compile_s = start_up_seconds()
    compiled_consistent_hashprice(np.ones(4), np.ones(4), np.zeros(4), np.ones(4), 1e7, 0.5, 0.05, 2.0, 0.0)
    header = ["firms", "fixed points", "numpy us/call", "numba us/call", "numpy / numba", "max rel. diff"]
    print(plain(header, 16), flush=True)
    rows = []
    for n in args.firms:
        pairs = paired_times(n, args.months, args.repeat)
        numpy_s, numba_s = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        rows.append([f"{n:,}", str(len(pairs)), f"{numpy_s / len(pairs) * 1e6:.0f}",
                     f"{numba_s / len(pairs) * 1e6:.0f}", f"{numpy_s / numba_s:.2f}x", f"{max(p[2] for p in pairs):.1e}"])
        print(plain(rows[-1], 16), flush=True)
    print(f"import numba {import_s:.2f} s; first call of the kernels (compiling) {compile_s:.2f} s")
    notes = (f"`.venv/bin/python benchmarks/bench_compiled_fixed_point.py --firms {' '.join(map(str, args.firms))} "
             f"--months {args.months} --repeat {args.repeat}` (numba installed by hand). Each fixed point of a "
             "baseline run (seed 1): numpy (`operations.consistent_hashprice`, without the step's memo) and the same "
             "algorithm compiled with numba, each the best of `--repeat` tries on the same inputs, one after the other. "
             f"In a fresh process: `import numba` {import_s:.2f} s, the kernels' first call (compiling, no cache) "
             f"{compile_s:.2f} s.")
    write_section("compiled", markdown("A compiled fixed point (bench_compiled_fixed_point.py)", header, rows, notes))


if __name__ == "__main__":
    main()
