"""Step calendar: each step knows its dates; a run is a list of step boundaries.

Monthly steps follow calendar months (so a step's revenue is the month's revenue, and a replay
step equals the data summed over that month); weekly and daily steps are fixed lengths.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from marketsim.units import DAYS_PER_MONTH, DAYS_PER_WEEK, DAYS_PER_YEAR  # noqa: E402,F401 (DAYS_PER_YEAR re-exported)

STEPS_PER_MONTH = {"month": 1.0, "week": DAYS_PER_MONTH / DAYS_PER_WEEK, "day": DAYS_PER_MONTH}


@functools.lru_cache(maxsize=64)
def step_boundaries(start: dt.date, months: int, unit: str) -> pd.DatetimeIndex:
    """Start dates of every step plus the end of the last step (length n_steps + 1).

    Kept per (start, months, unit) in a process: a model and its market each ask, every run of a
    sweep asks again, and a ``DatetimeIndex`` is immutable (``append`` makes a new one), so the
    same object can be handed out (pandas generates a monthly range day by day: ~1 ms)."""
    import pandas as pd  # here, not at the top: the calendar constants stay importable without pandas

    start_ts = pd.Timestamp(start)
    if unit == "month":
        return pd.date_range(start_ts, periods=months + 1, freq="MS")
    end = start_ts + pd.DateOffset(months=months)
    freq = {"week": "7D", "day": "D"}[unit]
    bounds = pd.date_range(start_ts, end, freq=freq)
    if bounds[-1] < end:
        bounds = bounds.append(pd.DatetimeIndex([bounds[-1] + pd.Timedelta(freq)]))
    return bounds


def steps_for_months(months: float, unit: str) -> int:
    """Whole number of steps that spans ``months`` (at least one)."""
    return max(1, round(months * STEPS_PER_MONTH[unit]))
