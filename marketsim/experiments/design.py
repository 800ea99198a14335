"""Design: which parameter points a sweep runs. Pure functions of numbers, no model in sight.

Four samplers, each returning a list of points (``{parameter: value}`` dicts) in a fixed order:

``grid(values)``
    every combination of explicit value lists (the first parameter varies slowest), as
    NetLogo BehaviorSpace and ``mesa.batch_run`` do.
``latin_hypercube(ranges, n, seed)``
    ``n`` points; on every dimension each of the ``n`` equal strata holds exactly one point
    (``scipy.stats.qmc.LatinHypercube``).
``sobol(ranges, n, seed)``
    ``n`` points of a scrambled Sobol sequence (``scipy.stats.qmc.Sobol``): more even than
    random points in every projection; ``n`` a power of two keeps its balance properties.
``saltelli(ranges, n, seed)``
    Saltelli's cross-sampling on a Sobol sequence: ``n * (d + 2)`` points in blocks of
    ``A, AB_1 .. AB_d, B`` (the layout SALib's ``sobol.analyze`` reads with
    ``calc_second_order=False``), so the report can estimate first-order and total Sobol
    indices. Generated here with scipy so a sweep runs without SALib installed.

A range is ``Range(low, high, scale, integer)``: ``scale="log"`` samples uniformly in log space,
``integer=True`` rounds (to the nearest integer in the scaled space, so every integer in
``low..high`` stays reachable).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from scipy.stats import qmc

Point = dict[str, Any]


@dataclass(frozen=True)
class Range:
    """A continuous (or integer) interval a sampler draws from; ``low < high``."""

    low: float
    high: float
    scale: Literal["linear", "log"] = "linear"
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"range: low={self.low} must be below high={self.high}")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"range: a log scale needs low > 0, got low={self.low}")

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map points of [0, 1) onto the range."""
        u = np.asarray(u, dtype=float)
        if self.integer:
            # equal-width cells for low..high inclusive, so the end points are as likely as the rest
            lo, hi = self.low - 0.5, self.high + 0.5
        else:
            lo, hi = self.low, self.high
        if self.scale == "log":
            x = np.exp(np.log(max(lo, 1e-300)) + u * (np.log(hi) - np.log(max(lo, 1e-300))))
        else:
            x = lo + u * (hi - lo)
        if self.integer:
            x = np.clip(np.floor(x + 0.5), self.low, self.high)
        return x


def _python(value: Any) -> Any:
    """numpy scalars become plain Python numbers (TOML, JSON and pydantic like those best)."""
    return value.item() if isinstance(value, np.generic) else value


def _points(names: Sequence[str], columns: Sequence[np.ndarray], integer: Sequence[bool]) -> list[Point]:
    out = []
    for row in zip(*columns):
        out.append({n: (int(v) if is_int else float(v)) for n, v, is_int in zip(names, row, integer)})
    return out


def grid(values: Mapping[str, Sequence[Any]]) -> list[Point]:
    """Every combination of the listed values; the first parameter varies slowest."""
    names = list(values)
    if not names:
        return [{}]
    for name in names:
        if len(values[name]) == 0:
            raise ValueError(f"grid: parameter {name!r} has no values")
    return [{n: _python(v) for n, v in zip(names, combo)} for combo in itertools.product(*(values[n] for n in names))]


def _scaled(ranges: Mapping[str, Range], unit: np.ndarray) -> list[Point]:
    names = list(ranges)
    cols = [ranges[n].from_unit(unit[:, j]) for j, n in enumerate(names)]
    return _points(names, cols, [ranges[n].integer for n in names])


def latin_hypercube(ranges: Mapping[str, Range], n: int, seed: int) -> list[Point]:
    """``n`` points, one in each of the ``n`` strata of every dimension."""
    if n < 1:
        raise ValueError(f"latin_hypercube: n must be >= 1, got {n}")
    from scipy.stats import qmc  # SciPy's stats take ~1 s to import: only when sampling

    sampler = qmc.LatinHypercube(d=len(ranges), rng=np.random.default_rng(seed))
    return _scaled(ranges, sampler.random(n))


def sobol(ranges: Mapping[str, Range], n: int, seed: int) -> list[Point]:
    """``n`` points of a scrambled Sobol sequence (``n`` a power of two keeps it balanced)."""
    if n < 1:
        raise ValueError(f"sobol: n must be >= 1, got {n}")
    from scipy.stats import qmc

    sampler = qmc.Sobol(d=len(ranges), scramble=True, rng=np.random.default_rng(seed))
    return _scaled(ranges, _sobol_draw(sampler, n))


def _sobol_draw(sampler: qmc.Sobol, n: int) -> np.ndarray:
    m = math.log2(n)
    return sampler.random_base2(int(m)) if m.is_integer() else sampler.random(n)


def saltelli(ranges: Mapping[str, Range], n: int, seed: int) -> list[Point]:
    """``n * (d + 2)`` points in Saltelli's ``A, AB_1..AB_d, B`` blocks (first-order and total indices)."""
    if n < 1:
        raise ValueError(f"saltelli: n must be >= 1, got {n}")
    d = len(ranges)
    from scipy.stats import qmc

    base = _sobol_draw(qmc.Sobol(d=2 * d, scramble=True, rng=np.random.default_rng(seed)), n)
    a, b = base[:, :d], base[:, d:]
    blocks = []
    for i in range(n):
        blocks.append(a[i])
        for j in range(d):
            ab = a[i].copy()
            ab[j] = b[i, j]
            blocks.append(ab)
        blocks.append(b[i])
    return _scaled(ranges, np.array(blocks))
