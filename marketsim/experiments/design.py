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

A range is ``Range(min, max, scale, integer, num)``: ``scale="log"`` samples uniformly in log space,
``integer=True`` rounds (to the nearest integer in the scaled space, so every integer in
``min..max`` stays reachable); ``num`` is a grid's count of evenly spaced values.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

if TYPE_CHECKING:
    from scipy.stats import qmc

Point = dict[str, Any]
GRID_MAX_VALUES = 10_000  # a grid range's num: beyond this a sampler is the tool


@dataclass(frozen=True)
class Range:
    """An interval of one parameter: samplers draw from it, a grid takes ``num`` evenly spaced
    values from it. The one range type, both of the samplers here and of a sweep file's
    ``[parameters]`` table (``{min, max, scale, integer, num}``, validated by pydantic, which
    runs ``__post_init__``: its messages name the table's keys).

    ``integer=None`` (a sweep file's default) means "as the scenario field": the sweep file
    resolves it before sampling; here it counts as False.
    """

    min: float
    max: float
    scale: Literal["linear", "log"] = "linear"
    integer: bool | None = None
    num: int | None = None  # grid only: this many evenly spaced values (2 .. GRID_MAX_VALUES)

    # a sweep file's range table takes these keys and no others (pydantic reads this)
    __pydantic_config__: ClassVar[dict[str, Any]] = {"extra": "forbid"}

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min) and math.isfinite(self.max)):
            raise ValueError(f"min={self.min}, max={self.max}: both must be finite numbers")
        if not self.min < self.max:
            raise ValueError(f"min={self.min} must be below max={self.max}")
        if self.scale == "log" and self.min <= 0:
            raise ValueError(f"scale='log' needs min > 0, got min={self.min}")
        if self.num is not None and not 2 <= self.num <= GRID_MAX_VALUES:
            raise ValueError(f"num={self.num}: a grid range takes 2 to {GRID_MAX_VALUES:,} values")

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Map points of [0, 1) onto the range."""
        u = np.asarray(u, dtype=float)
        if self.integer:
            # equal-width cells for min..max inclusive, so the end points are as likely as the rest
            lo, hi = self.min - 0.5, self.max + 0.5
        else:
            lo, hi = self.min, self.max
        if self.scale == "log":
            x = np.exp(np.log(max(lo, 1e-300)) + u * (np.log(hi) - np.log(max(lo, 1e-300))))
        else:
            x = lo + u * (hi - lo)
        if self.integer:
            x = np.clip(np.floor(x + 0.5), self.min, self.max)
        return x

    def evenly_spaced(self) -> list:
        """A grid's ``num`` values from ``min`` to ``max`` (both included; even in log space on
        a log scale; integers rounded, each once)."""
        lo, hi = self.min, self.max
        u = np.linspace(0.0, 1.0, self.num)
        values = (np.round(lo + u * (hi - lo)) if self.integer
                  else np.exp(np.log(lo) + u * np.log(hi / lo)) if self.scale == "log"
                  else lo + u * (hi - lo)).tolist()
        return [int(v) for v in dict.fromkeys(values)] if self.integer else values


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
