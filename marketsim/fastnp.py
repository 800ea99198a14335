"""Numpy's (and scipy's ``ndtr``) answers without their generic set-up, for the small arrays of one step.

Each function gives the same number as the numpy function it stands for (tested to the last bit
in ``tests/test_fastnp.py``); it exists because a model step calls these a few times on arrays of
a few hundred values, where numpy's axis and dtype handling costs more than the arithmetic.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr as _ndtr

try:  # the ufunc ``np.clip`` ends in: numpy 2 keeps it in its private ``_core`` (see ``clip`` below)
    from numpy._core.umath import clip as _clip_ufunc
except ImportError:  # a numpy that moved it: ``np.clip`` itself, the same numbers, slower
    _clip_ufunc = np.clip


def median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D float array (NaN when empty): the middle order statistic, or the two middle
    ones' sum halved; NaN if any value is NaN (NaN sorts last, so one partition finds it). About
    40 us a call less than ``np.median``."""
    n = len(values)
    if n == 0:  # ``np.median`` of nothing (without its warning)
        return float("nan")
    half = n // 2
    part = values.copy()  # ``np.partition``: a copy partitioned in place (the same introselect)
    part.partition([half - 1, half, n - 1] if n % 2 == 0 else [half, n - 1])
    if np.isnan(part[-1]):
        return float("nan")
    return float(part[half]) if n % 2 else float((part[half - 1] + part[half]) / 2)


# ``np.clip(a, lo, hi)`` with both bounds given ends in this ufunc (``numpy/_core/_methods._clip``)
# after two Python layers of argument checks (~1.3 us of a 2 us call on a few hundred values, 2 of
# 2.6 us on a scalar); called directly it is the same computation, element for element. The
# step calls it ~15 times (financing, rules, vintages).
clip = _clip_ufunc


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` of a 1-D float array without NaN: the sorted
    distinct values and each value's index among them. One argsort, a cumulative count of the
    changes and a scatter, as numpy does it, without its ~20 us of generic set-up. Equal values
    are one value whatever their order, so the sort's stability does not matter."""
    order = values.argsort()
    ordered = values[order]
    change = np.empty(len(values), bool)
    change[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=change[1:])
    inverse = np.empty(len(values), np.intp)
    inverse[order] = change.cumsum() - 1
    return ordered[change], inverse


def full(shape, value, dtype=np.float64) -> np.ndarray:
    """``np.full(shape, value, dtype)``: an empty array filled in place (``np.full`` is the same
    two steps behind ~1 us of Python argument handling; the step makes ~40 such arrays)."""
    out = np.empty(shape, dtype)
    out.fill(value)
    return out


def as_1d(values) -> np.ndarray:
    """``np.atleast_1d(values)`` for one argument: a 1-D array is returned as it is (the common
    case, without the wrapper's set-up), anything else goes through numpy."""
    if type(values) is np.ndarray and values.ndim == 1:
        return values
    return np.atleast_1d(values)


# ``scipy.special.ndtr(x)`` is 1 - erfc(x / sqrt 2) / 2, and erfc(x / sqrt 2) / 2 falls below half an ulp
# of 1 (2^-54) from x = 8.29236... on: there the float is exactly 1.0 (``tests/test_fastnp.py`` checks
# a dense grid from here to 60, and beyond). The cut is a little above that point.
NDTR_ONE_FROM = 8.3
NDTR_MASK_FROM_SIZE = 256  # below this many values the mask costs more than the erfcs it saves


def ndtr(x: np.ndarray) -> np.ndarray:
    """``scipy.special.ndtr(x)`` of a float array, the same floats, computed only where ``x`` is
    below ``NDTR_ONE_FROM`` (or NaN): 1.0 elsewhere, without the erfc. Why: the shares of hours
    mined are Phi(d) and Phi(d - s) of every live cohort (``economics.hourly_mining_share``), and
    about 45% of the cohorts (cheap power, take-or-pay) have d above 8.3, where erfc costs as much
    as anywhere and the answer is 1. The masked ufunc call skips them (~20% of ndtr's instructions
    on the cohorts of 1,000 firms). Returns a new array (a scalar, a 0-d array or fewer than
    ``NDTR_MASK_FROM_SIZE`` values go to scipy as they are)."""
    if type(x) is not np.ndarray or x.size < NDTR_MASK_FROM_SIZE:
        return _ndtr(x)
    ones = x >= NDTR_ONE_FROM
    out = np.ones_like(x)
    _ndtr(x, out=out, where=~ones)
    return out


BRENTQ_RTOL = 4 * float(np.finfo(float).eps)  # ``scipy.optimize.brentq``'s default ``rtol``
BRENTQ_MAXITER = 100  # and its default ``maxiter``


def brentq(f, a: float, b: float, xtol: float = 2e-12, rtol: float = BRENTQ_RTOL, maxiter: int = BRENTQ_MAXITER) -> float:
    """``scipy.optimize.brentq(f, a, b, xtol=xtol)``: the same root, from the same evaluations of ``f``.

    Why: the fixed point of a step (``operations.consistent_hashprice``) is a handful of
    evaluations of a cheap function; scipy's wrapper, its C-to-Python callback and its NaN guard
    around every evaluation (a Python call and a numpy ``isnan``) cost about as much as the
    evaluations themselves at a few dozen firms. This is scipy's C loop (``Zeros/brentq.c``, Charles
    Harris) line for line in Python floats: + - * / and comparisons are the same IEEE operations in
    C doubles and Python floats, ``abs`` is ``fabs`` and the ``MIN`` macro is written out (it returns
    its second argument on a tie or a NaN), so the iterates, the evaluations and the root are the
    same to the last bit (``tests/test_speed5_operate.py`` compares them with scipy's). As scipy:
    ValueError if f(a) and f(b) have the same sign or ``f`` returns NaN, RuntimeError when
    ``maxiter`` iterations do not converge."""
    if not xtol > 0:
        raise ValueError(f"xtol too small ({xtol:g} <= 0)")
    xpre, xcur = float(a), float(b)
    fpre = float(f(xpre))
    _nan_check(fpre, xpre)
    fcur = float(f(xcur))
    _nan_check(fcur, xcur)
    if fpre * fcur > 0:
        raise ValueError("f(a) and f(b) must have different signs")
    if fpre == 0:
        return xpre
    if fcur == 0:
        return xcur
    xblk = fblk = spre = scur = 0.0
    for _ in range(maxiter):
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
            if xpre == xblk:  # interpolate
                stry = -fcur * (xcur - xpre) / (fcur - fpre)
            else:  # extrapolate
                dpre = (fpre - fcur) / (xpre - xcur)
                dblk = (fblk - fcur) / (xblk - xcur)
                stry = -fcur * (fblk * dblk - fpre * dpre) / (dblk * dpre * (fblk - fpre))
            limit = 3 * abs(sbis) - delta
            if 2 * abs(stry) < (abs(spre) if abs(spre) < limit else limit):  # a good short step
                spre, scur = scur, stry
            else:  # bisect
                spre = scur = sbis
        else:  # bisect
            spre = scur = sbis
        xpre, fpre = xcur, fcur
        if abs(scur) > delta:
            xcur += scur
        else:
            xcur += delta if sbis > 0 else -delta
        fcur = float(f(xcur))
        if fcur != fcur:
            _nan_check(fcur, xcur)
    raise RuntimeError(f"Failed to converge after {maxiter} iterations, value is {xcur}.")


def _nan_check(fx: float, x: float) -> None:
    """ValueError when ``f(x)`` is NaN (scipy's guard around every evaluation)."""
    if fx != fx:
        raise ValueError(f"The function value at x={x} is NaN; solver cannot continue.")
